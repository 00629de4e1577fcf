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
struct ParsedLine {
    line: usize,
    result: Result<Declaration, String>,
    raw: Option<String>,
}

type Parsed = Vec<ParsedLine>;

fn parse_line(line: usize, text: String) -> ParsedLine {
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
    let mut result = Ok(());
    let mut waited = std::time::Instant::now();
    for parsed in rx {
        summary.stage_secs[4] += waited.elapsed().as_secs_f64();
        if let Err(e) = screen_batch(app, file, &offices, parsed, opts, &mut out, &mut summary) {
            result = Err(e);
            break;
        }
        bar.set_position((summary.accepted + summary.rejected + summary.duplicates) as u64);
        waited = std::time::Instant::now();
    }
    bar.finish_and_clear();
    let read = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
    result?;
    read?;
    if let Some(w) = out {
        w.finish()?;
    }
    let t = std::time::Instant::now();
    app.checkpoint()?;
    summary.stage_secs[5] = t.elapsed().as_secs_f64();
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
    let ids: Vec<&str> = parsed.iter().filter_map(|p| p.result.as_ref().ok().map(|d| d.id.as_str())).collect();
    let t0 = std::time::Instant::now();
    let known = app.store.known(&ids)?;
    let t1 = std::time::Instant::now();
    // Index into `parsed` and the screening result, per new declaration.
    let mut fresh: HashMap<&str, usize> = HashMap::new();
    let mut screened: Vec<(usize, Screened, String)> = Vec::new();
    // What each input line resolves to, in input order.
    enum Slot<'a> {
        Error(String, Option<&'a str>),
        Known(&'a Decision),
        KnownHistorical(&'a str),
        New(usize),
    }
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
                slots.push(Slot::Error(e, p.result.as_ref().ok().map(|d| d.id.as_str())));
            }
            Ok(d) => {
                if let Some(k) = known.get(d.id.as_str()) {
                    summary.duplicates += 1;
                    slots.push(match k {
                        Some(dec) => Slot::Known(dec),
                        None => Slot::KnownHistorical(&d.id),
                    });
                } else if let Some(&j) = fresh.get(d.id.as_str()) {
                    summary.duplicates += 1;
                    slots.push(Slot::New(j));
                } else {
                    let at: DateTime<FixedOffset> = match opts.clock {
                        Clock::Wall => now(),
                        Clock::Declared => d.declared_at,
                    };
                    let s = app.engine.screen(d, at);
                    // Serialised once: stored and written out from the same bytes.
                    let json = serde_json::to_string(&s.decision)?;
                    fresh.insert(&d.id, screened.len());
                    slots.push(Slot::New(screened.len()));
                    screened.push((i, s, json));
                    summary.accepted += 1;
                }
            }
        }
    }
    let owned_bodies: Vec<Option<String>> = screened
        .iter()
        .map(|(i, _, _)| match &parsed[*i].raw {
            Some(_) => Ok(None),
            None => serde_json::to_string(parsed[*i].result.as_ref().expect("screened only valid ones")).map(Some),
        })
        .collect::<Result<_, _>>()?;
    let records: Vec<NewDecision<'_>> = screened
        .iter()
        .zip(&owned_bodies)
        .map(|((i, s, json), owned)| NewDecision {
            declaration: parsed[*i].result.as_ref().expect("screened only valid ones"),
            body: owned.as_deref().or(parsed[*i].raw.as_deref()).expect("raw or serialised body"),
            screened: s,
            decision_json: json,
        })
        .collect();
    let t2 = std::time::Instant::now();
    app.store.commit_screened(&records)?;
    let t3 = std::time::Instant::now();
    if let Some(w) = out {
        for slot in slots {
            match slot {
                Slot::Error(e, id) => w.write(&serde_json::json!({
                    "declaration_id": id, "error": {"code": "invalid_field", "message": e}
                }))?,
                Slot::Known(d) => w.write(d)?,
                Slot::KnownHistorical(id) => w.write(&serde_json::json!({
                    "declaration_id": id,
                    "error": {"code": "historical", "message": "stored as history without screening"}
                }))?,
                Slot::New(j) => w.write_raw(&screened[j].2)?,
            }
        }
    }
    let t4 = std::time::Instant::now();
    for (acc, (a, b)) in summary.stage_secs.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
        *acc += (b - a).as_secs_f64();
    }
    Ok(())
}
