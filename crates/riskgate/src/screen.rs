//! `riskgate screen` and live `import declarations`: validate, store and
//! screen each declaration in one step, in batches (one transaction per
//! batch), with parsing on a second thread. A declaration already stored
//! gets its stored decision back unchanged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use riskgate_core::{Decision, Declaration};
use riskgate_engine::Screened;
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

type Parsed = Vec<(usize, Result<Declaration, String>)>;

fn parse_line(text: &str) -> Result<Declaration, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    Declaration::from_json(&v).map_err(|e| e.to_string())
}

/// Screens the declarations of `file` (or the given pre-parsed values).
pub fn screen_values(
    app: &mut App,
    file: &Path,
    values: Option<Vec<(usize, Result<Value, String>)>>,
    opts: &ScreenOptions,
) -> Result<Summary> {
    let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
    let mut out = match &opts.out {
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
                        parsed.push((line, v.and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string()))));
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
                    let parsed: Parsed = chunk.into_iter().map(|(l, t)| (l, parse_line(&t))).collect();
                    tx.send(parsed).map_err(|_| anyhow::anyhow!("screening stopped"))
                }),
            }
        })
    };
    let mut result = Ok(());
    for parsed in rx {
        if let Err(e) = screen_batch(app, file, &offices, parsed, opts, &mut out, &mut summary) {
            result = Err(e);
            break;
        }
        bar.set_position((summary.accepted + summary.rejected + summary.duplicates) as u64);
    }
    bar.finish_and_clear();
    let read = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
    result?;
    read?;
    if let Some(w) = out {
        w.finish()?;
    }
    app.checkpoint()?;
    Ok(summary)
}

fn screen_batch(
    app: &mut App,
    file: &Path,
    offices: &HashSet<String>,
    parsed: Parsed,
    opts: &ScreenOptions,
    out: &mut Option<jsonl::Writer>,
    summary: &mut Summary,
) -> Result<()> {
    let ids: Vec<&str> = parsed.iter().filter_map(|(_, r)| r.as_ref().ok().map(|d| d.id.as_str())).collect();
    let t0 = std::time::Instant::now();
    let known = app.store.known(&ids)?;
    let t1 = std::time::Instant::now();
    let mut fresh: HashMap<&str, usize> = HashMap::new();
    let mut screened: Vec<(usize, Screened)> = Vec::new();
    // What each input line resolves to, in input order.
    enum Slot {
        Error(String, Option<String>),
        Known(Decision),
        KnownHistorical(String),
        New(usize),
    }
    let mut slots = Vec::with_capacity(parsed.len());
    for (i, (line, r)) in parsed.iter().enumerate() {
        let r = r.clone().and_then(|d| check_office(offices, &d).map(|_| d));
        match r {
            Err(e) => {
                if !opts.quiet {
                    report(file, *line, &e);
                }
                summary.rejected += 1;
                let id = parsed[i].1.as_ref().ok().map(|d| d.id.clone());
                slots.push(Slot::Error(e, id));
            }
            Ok(d) => {
                if let Some(k) = known.get(d.id.as_str()) {
                    summary.duplicates += 1;
                    slots.push(match k {
                        Some(dec) => Slot::Known(dec.clone()),
                        None => Slot::KnownHistorical(d.id.clone()),
                    });
                } else if let Some(&j) = fresh.get(d.id.as_str()) {
                    summary.duplicates += 1;
                    slots.push(Slot::New(j));
                } else {
                    let at: DateTime<FixedOffset> = match opts.clock {
                        Clock::Wall => now(),
                        Clock::Declared => d.declared_at,
                    };
                    let s = app.engine.screen(&d, at);
                    fresh.insert(parsed[i].1.as_ref().map(|d| d.id.as_str()).unwrap_or(""), screened.len());
                    screened.push((i, s));
                    summary.accepted += 1;
                    slots.push(Slot::New(screened.len() - 1));
                }
            }
        }
    }
    let pairs: Vec<(&Declaration, &Screened)> =
        screened.iter().map(|(i, s)| (parsed[*i].1.as_ref().expect("screened only valid ones"), s)).collect();
    let t2 = std::time::Instant::now();
    app.store.commit_screened(&pairs)?;
    let t3 = std::time::Instant::now();
    if let Some(w) = out {
        for slot in slots {
            match slot {
                Slot::Error(e, id) => w.write(&serde_json::json!({
                    "declaration_id": id, "error": {"code": "invalid_field", "message": e}
                }))?,
                Slot::Known(d) => w.write(&d)?,
                Slot::KnownHistorical(id) => w.write(&serde_json::json!({
                    "declaration_id": id,
                    "error": {"code": "historical", "message": "stored as history without screening"}
                }))?,
                Slot::New(j) => w.write(&screened[j].1.decision)?,
            }
        }
    }
    let t4 = std::time::Instant::now();
    for (acc, (a, b)) in summary.stage_secs.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
        *acc += (b - a).as_secs_f64();
    }
    Ok(())
}
