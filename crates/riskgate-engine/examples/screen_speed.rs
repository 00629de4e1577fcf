//! Times `Engine::screen` alone (no parsing, no store): a seeded synthetic
//! world's history warms the context, then N live declarations are screened
//! with the statistical scorer, with a small learned model, with the
//! statistical scorer plus the model in the shadow, and with the model both
//! deciding and in the shadow. Prints declarations per second (best and
//! median of the runs) by wall clock and, where Linux reports it, by the
//! screening thread's own CPU time (steadier on a busy machine); nothing is
//! asserted.
//!
//! `cargo run --release -p riskgate-engine --example screen_speed -- [N] [SEED] [RUNS]`

#[path = "../tests/support/world.rs"]
mod world;

use std::time::Instant;

use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Checkpoint, Engine};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    // Live traffic is 40% of a world: scale so that there are n live declarations.
    let scale = (n as f64 / 40_000.0 * 1.05).max(0.05);
    let t = Instant::now();
    let w = world::generate(seed, scale);
    let live = &w.live[..n.min(w.live.len())];
    println!(
        "world seed {seed} scale {scale:.3}: {} history declarations, {} outcomes, {} live screened; generated in {:.1} s",
        w.history.len(),
        w.outcomes.len(),
        live.len(),
        t.elapsed().as_secs_f64()
    );
    let mut warm = world::engine(&w, world::rules());
    world::replay_history(&w, &mut warm, &mut |_, _| {});
    let bytes = world::train_model(&w, &mut world::engine(&w, world::rules())).to_bytes();
    let model = || Box::new(ModelScorer::from_bytes("speed-model".into(), &bytes).expect("round-trips"));
    let cp = warm.checkpoint();
    println!(
        "machine: {} cores; {} active rules; {} runs per variant",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        warm.rules().len(),
        runs
    );

    type Setup = fn(&mut Engine, &dyn Fn() -> Box<ModelScorer>);
    let variants: [(&str, Setup); 4] = [
        ("statistical scorer", |_, _| {}),
        ("learned model", |e, m| e.set_scorer(Some(m()))),
        ("statistical + model shadow", |e, m| e.set_shadow(Some(m()))),
        ("learned model + model shadow", |e, m| {
            e.set_scorer(Some(m()));
            e.set_shadow(Some(m()));
        }),
    ];
    for (name, setup) in variants {
        let (mut wall, mut cpu) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        let mut controls = 0usize;
        for _ in 0..runs {
            let mut engine = fresh(&w, &cp);
            setup(&mut engine, &model);
            controls = 0;
            let c = thread_cpu_ns();
            let t = Instant::now();
            for d in live {
                let s = engine.screen(d, d.declared_at);
                controls += usize::from(s.decision.channel.is_control());
            }
            wall.push(live.len() as f64 / t.elapsed().as_secs_f64());
            if let (Some(a), Some(b)) = (c, thread_cpu_ns()) {
                cpu.push(live.len() as f64 / ((b - a) as f64 * 1e-9));
            }
        }
        println!("{name} ({controls} controls):");
        for (clock, rates) in [("wall clock", &mut wall), ("thread CPU time", &mut cpu)] {
            if rates.is_empty() {
                continue;
            }
            rates.sort_by(f64::total_cmp);
            println!(
                "    {clock:<16} best {:>8.0} /s   median {:>8.0} /s   ({:.2} µs per declaration at best)",
                rates[rates.len() - 1],
                rates[rates.len() / 2],
                1e6 / rates[rates.len() - 1]
            );
        }
    }
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat), if known.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn fresh(w: &world::World, cp: &Checkpoint) -> Engine {
    let mut e = world::engine(w, world::rules());
    e.restore(cp.clone());
    e
}
