//! `riskgate screen` and live `import declarations`: validate, store and
//! screen each declaration in one step, in batches (one transaction per
//! batch). Three stages run on their own threads, connected by bounded
//! channels: parsing, screening (the engine is sequential by design), and
//! storing plus writing the output. A declaration already stored gets its
//! stored decision back unchanged.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Result;
use riskgate_app::App;
use riskgate_app::events::Emitter;
use riskgate_app::screening::{self, Batch, Clock, Parsed, ParsedLine, Slot, Summary, parse_line};
use riskgate_core::Declaration;
use serde_json::Value;

use crate::jsonl::{self, report};

/// Which clock stamps decisions (`--clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockArg {
    /// The wall clock (live operation).
    Wall,
    /// The declaration's own time (replaying recorded traffic).
    Declared,
}

impl From<ClockArg> for Clock {
    fn from(c: ClockArg) -> Clock {
        match c {
            ClockArg::Wall => Clock::Wall,
            ClockArg::Declared => Clock::Declared,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScreenOptions {
    pub out: Option<PathBuf>,
    pub clock: Clock,
    pub batch: usize,
    /// Print nothing per record (benchmarks).
    pub quiet: bool,
}

impl Default for ScreenOptions {
    fn default() -> Self {
        ScreenOptions { out: None, clock: Clock::Wall, batch: 1000, quiet: false }
    }
}

/// Screens the declarations of `file` (or the given pre-parsed values).
pub fn screen_values(
    app: &mut App,
    file: &Path,
    values: Option<Vec<(usize, Result<Value, String>)>>,
    opts: &ScreenOptions,
) -> Result<Summary> {
    let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
    let out = match &opts.out {
        Some(p) => Some(jsonl::Writer::create(p)?),
        None => None,
    };
    let mut summary = Summary::default();
    let bar = crate::progress::bar(0, "screening");
    let (tx, rx) = mpsc::sync_channel::<Parsed>(4);
    let batch = opts.batch.max(1);
    let reader = {
        let file = file.to_path_buf();
        std::thread::Builder::new().name("riskgate-parse".into()).spawn(move || -> Result<Option<f64>> {
            let cpu = CpuClock::start();
            let spent = || cpu.spent();
            match values {
                Some(vals) => {
                    let mut parsed: Parsed = Vec::with_capacity(batch);
                    for (line, v) in vals {
                        let result = v.and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string()));
                        parsed.push(ParsedLine { line, result, raw: None });
                        if parsed.len() >= batch && tx.send(std::mem::take(&mut parsed)).is_err() {
                            return Ok(spent());
                        }
                    }
                    if !parsed.is_empty() {
                        let _ = tx.send(parsed);
                    }
                    Ok(spent())
                }
                None => jsonl::for_chunks(&file, batch, |chunk| {
                    let parsed: Parsed = chunk
                        .into_iter()
                        .map(|(line, text)| match text {
                            Ok(t) => parse_line(line, t),
                            Err(e) => ParsedLine { line, result: Err(e), raw: None },
                        })
                        .collect();
                    tx.send(parsed).map_err(|_| anyhow::anyhow!("screening stopped"))
                })
                .map(|()| spent()),
            }
        })?
    };
    let (wtx, wrx) = mpsc::sync_channel::<Batch>(4);
    let writer = {
        let store = app.store.reopen()?;
        let events = app.events.clone();
        std::thread::Builder::new()
            .name("riskgate-commit".into())
            .spawn(move || write_batches(store, wrx, out, events))?
    };
    // Ids screened in this run: their batches may not be committed yet.
    let mut seen: HashSet<String> = HashSet::new();
    let mut result = Ok(());
    let cpu = CpuClock::start();
    let mut waited = std::time::Instant::now();
    for parsed in rx {
        summary.stage_secs[4] += waited.elapsed().as_secs_f64();
        match screening::screen_batch(app, &offices, parsed, opts.clock, &mut seen, &mut summary) {
            Ok(b) => {
                if !opts.quiet {
                    for (p, slot) in b.parsed.iter().zip(&b.slots) {
                        if let Slot::Error(e, _) = slot {
                            report(file, p.line, e);
                        }
                    }
                }
                if wtx.send(b).is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        bar.set_position((summary.accepted + summary.rejected + summary.duplicates) as u64);
        waited = std::time::Instant::now();
    }
    summary.cpu_secs[1] = cpu.spent();
    drop(wtx);
    bar.finish_and_clear();
    let written = writer.join().map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
    let read = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
    result?;
    let ([commit, output], writer_cpu) = written?;
    summary.cpu_secs[0] = read?;
    summary.cpu_secs[2] = writer_cpu;
    summary.stage_secs[2] = commit;
    summary.stage_secs[3] = output;
    // Only after every batch is committed does the checkpoint move on.
    let t = std::time::Instant::now();
    app.checkpoint()?;
    summary.stage_secs[5] = t.elapsed().as_secs_f64();
    Ok(summary)
}

/// The writer thread: commits each batch in one transaction, then writes
/// its lines to the output. Returns seconds spent committing and writing,
/// and the thread's CPU seconds.
fn write_batches(
    mut store: Box<dyn riskgate_store::Store>,
    rx: mpsc::Receiver<Batch>,
    mut out: Option<jsonl::Writer>,
    events: Emitter,
) -> Result<([f64; 2], Option<f64>)> {
    let cpu = CpuClock::start();
    let mut secs = [0.0; 2];
    let mut hooked = riskgate_app::events::HookedKinds::default();
    for mut b in rx {
        let t0 = std::time::Instant::now();
        screening::commit_batch(store.as_mut(), &mut b)?;
        // The same events as the HTTP server and the bus worker publish.
        events.emit_batch(store.as_mut(), &mut hooked, |prefix| screening::batch_events(prefix, &b, false))?;
        let t1 = std::time::Instant::now();
        if let Some(w) = &mut out {
            for slot in &b.slots {
                match slot {
                    Slot::Error(e, id) => w.write(&serde_json::json!({
                        "declaration_id": id, "error": {"code": "invalid_field", "message": e}
                    }))?,
                    Slot::Known(d) => w.write(d)?,
                    Slot::KnownHistorical(id) => w.write(&serde_json::json!({
                        "declaration_id": id,
                        "error": {"code": "historical", "message": "stored as history without screening"}
                    }))?,
                    Slot::New(j) => w.write_raw(&b.screened[*j].2)?,
                    Slot::Again(id) => match store.known(&[id.as_str()])?.remove(id.as_str()).flatten() {
                        Some(d) => w.write(&d)?,
                        None => anyhow::bail!("declaration {id} screened in this run was not stored"),
                    },
                }
            }
        }
        secs[0] += (t1 - t0).as_secs_f64();
        secs[1] += t1.elapsed().as_secs_f64();
    }
    if let Some(w) = out {
        w.finish()?;
    }
    Ok((secs, cpu.spent()))
}

/// The CPU time of the thread that started it (Linux schedstat; `None`
/// where the system does not report it): steadier than wall time on a
/// shared machine (`bench screen`).
struct CpuClock(Option<f64>);

impl CpuClock {
    fn start() -> CpuClock {
        CpuClock(Self::now())
    }

    /// Seconds this thread has run on a CPU since `start`.
    fn spent(&self) -> Option<f64> {
        Some(Self::now()? - self.0?)
    }

    fn now() -> Option<f64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        Some(s.split_whitespace().next()?.parse::<u64>().ok()? as f64 * 1e-9)
    }
}
