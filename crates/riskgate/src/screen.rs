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
use chrono::{DateTime, FixedOffset};
use riskgate_core::{Decision, Declaration};
use riskgate_engine::Screened;
use riskgate_store::NewDecision;
use serde_json::Value;

use crate::app::{App, now};
use crate::import::{Summary, check_office, report};
use crate::jsonl;

/// Which clock stamps decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Clock {
    /// The wall clock (live operation).
    Wall,
    /// The declaration's own time (replaying recorded traffic).
    Declared,
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

/// One input line: its number, the validated declaration or the error, and
/// the raw text (stored as received, so the body need not be serialised again).
pub(crate) struct ParsedLine {
    pub line: usize,
    pub result: Result<Declaration, String>,
    pub raw: Option<String>,
}

pub(crate) type Parsed = Vec<ParsedLine>;

pub(crate) fn parse_line(line: usize, text: String) -> ParsedLine {
    let result = serde_json::from_str::<Value>(&text)
        .map_err(|e| format!("not valid JSON: {e}"))
        .and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string()));
    ParsedLine { line, result, raw: Some(text) }
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
        std::thread::spawn(move || -> Result<()> {
            match values {
                Some(vals) => {
                    let mut parsed: Parsed = Vec::with_capacity(batch);
                    for (line, v) in vals {
                        let result = v.and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string()));
                        parsed.push(ParsedLine { line, result, raw: None });
                        if parsed.len() >= batch && tx.send(std::mem::take(&mut parsed)).is_err() {
                            return Ok(());
                        }
                    }
                    if !parsed.is_empty() {
                        let _ = tx.send(parsed);
                    }
                    Ok(())
                }
                None => jsonl::for_chunks(&file, batch, |chunk| {
                    let parsed: Parsed = chunk.into_iter().map(|(l, t)| parse_line(l, t)).collect();
                    tx.send(parsed).map_err(|_| anyhow::anyhow!("screening stopped"))
                }),
            }
        })
    };
    let (wtx, wrx) = mpsc::sync_channel::<Batch>(4);
    let writer = {
        let store = app.store.reopen()?;
        std::thread::spawn(move || write_batches(store, wrx, out))
    };
    // Ids screened in this run: their batches may not be committed yet.
    let mut seen: HashSet<String> = HashSet::new();
    let mut result = Ok(());
    let mut waited = std::time::Instant::now();
    for parsed in rx {
        summary.stage_secs[4] += waited.elapsed().as_secs_f64();
        match screen_batch(app, file, &offices, parsed, opts, &mut seen, &mut summary) {
            Ok(b) => {
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
    drop(wtx);
    bar.finish_and_clear();
    let written = writer.join().map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
    let read = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
    result?;
    let [commit, output] = written?;
    read?;
    summary.stage_secs[2] = commit;
    summary.stage_secs[3] = output;
    // Only after every batch is committed does the checkpoint move on.
    let t = std::time::Instant::now();
    app.checkpoint()?;
    summary.stage_secs[5] = t.elapsed().as_secs_f64();
    Ok(summary)
}

/// What each input line resolves to, in input order.
pub(crate) enum Slot {
    Error(String, Option<String>),
    /// Stored before this run.
    Known(Box<Decision>),
    KnownHistorical(String),
    /// Screened in this run: the index into the batch's records.
    New(usize),
    /// Screened earlier in this run; its decision is read back once stored.
    Again(String),
}

/// One screened batch on its way to the store and the output.
pub(crate) struct Batch {
    pub parsed: Parsed,
    /// (index into `parsed`, engine result, decision JSON, serialised body if no raw line)
    pub screened: Vec<(usize, Screened, String, Option<String>)>,
    pub slots: Vec<Slot>,
}

pub(crate) fn screen_batch(
    app: &mut App,
    file: &Path,
    offices: &HashSet<String>,
    parsed: Parsed,
    opts: &ScreenOptions,
    seen: &mut HashSet<String>,
    summary: &mut Summary,
) -> Result<Batch> {
    let ids: Vec<&str> = parsed.iter().filter_map(|p| p.result.as_ref().ok().map(|d| d.id.as_str())).collect();
    let t0 = std::time::Instant::now();
    let mut known = app.store.known(&ids)?;
    let t1 = std::time::Instant::now();
    let mut screened = Vec::new();
    let mut slots = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.iter().enumerate() {
        let checked = match &p.result {
            Ok(d) => check_office(offices, d).map(|_| d),
            Err(e) => Err(e.clone()),
        };
        match checked {
            Err(e) => {
                if !opts.quiet {
                    report(file, p.line, &e);
                }
                summary.rejected += 1;
                slots.push(Slot::Error(e, p.result.as_ref().ok().map(|d| d.id.clone())));
            }
            Ok(d) => {
                if let Some(k) = known.remove(d.id.as_str()) {
                    summary.duplicates += 1;
                    slots.push(match k {
                        Some(dec) => Slot::Known(Box::new(dec)),
                        None => Slot::KnownHistorical(d.id.clone()),
                    });
                } else if seen.contains(&d.id) {
                    summary.duplicates += 1;
                    slots.push(Slot::Again(d.id.clone()));
                } else {
                    let at: DateTime<FixedOffset> = match opts.clock {
                        Clock::Wall => now(),
                        Clock::Declared => d.declared_at,
                    };
                    let s = app.engine.screen(d, at);
                    // Serialised once: stored and written out from the same bytes.
                    let json = serde_json::to_string(&s.decision)?;
                    let body = match p.raw {
                        Some(_) => None,
                        None => Some(serde_json::to_string(d)?),
                    };
                    seen.insert(d.id.clone());
                    slots.push(Slot::New(screened.len()));
                    screened.push((i, s, json, body));
                    summary.accepted += 1;
                }
            }
        }
    }
    summary.stage_secs[0] += (t1 - t0).as_secs_f64();
    summary.stage_secs[1] += t1.elapsed().as_secs_f64();
    Ok(Batch { parsed, screened, slots })
}

/// The writer thread: commits each batch in one transaction, then writes
/// its lines to the output. Returns seconds spent committing and writing.
fn write_batches(
    mut store: Box<dyn riskgate_store::Store>,
    rx: mpsc::Receiver<Batch>,
    mut out: Option<jsonl::Writer>,
) -> Result<[f64; 2]> {
    let mut secs = [0.0; 2];
    for b in rx {
        let t0 = std::time::Instant::now();
        commit_batch(store.as_mut(), &b)?;
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
    Ok(secs)
}

/// Stores the newly screened declarations of a batch in one transaction.
pub(crate) fn commit_batch(store: &mut dyn riskgate_store::Store, b: &Batch) -> Result<()> {
    let records: Vec<NewDecision<'_>> = b
        .screened
        .iter()
        .map(|(i, s, json, body)| {
            let p = &b.parsed[*i];
            NewDecision {
                declaration: p.result.as_ref().expect("screened only valid ones"),
                body: body.as_deref().or(p.raw.as_deref()).expect("raw or serialised body"),
                screened: s,
                decision_json: json,
                shadow: s.shadow.as_ref().map(|(m, x)| (m.as_str(), *x)),
            }
        })
        .collect();
    store.commit_screened(&records)?;
    Ok(())
}
