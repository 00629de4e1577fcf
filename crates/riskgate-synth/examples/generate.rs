//! Writes a synthetic world to a directory and prints its summary, for demos
//! and for checking generation speed: `cargo run --release -p riskgate-synth
//! --example generate -- OUTDIR [SEED] [SCALE]`.

use riskgate_synth::{JsonlSink, WorldConfig, generate};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map(String::as_str).unwrap_or("world"));
    let seed = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let scale = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    std::fs::create_dir_all(&dir)?;
    let started = std::time::Instant::now();
    let mut sink = JsonlSink::new(|f| File::create(dir.join(f.file_name())).map(BufWriter::new))?;
    let summary = generate(&WorldConfig::new(seed, scale), &mut sink)?;
    sink.flush()?;
    println!("{summary}");
    println!("calibrated fraud scale {:.3}, legacy scale {:.4}", summary.fraud_scale, summary.legacy_scale);
    println!("generated in {:.2?}", started.elapsed());
    Ok(())
}
