//! The screening step, once for every path: the file pipeline (`riskgate
//! screen`, live `import declarations`), the HTTP group commit and the bus
//! worker all hand a batch of parsed declarations to [`screen_batch`],
//! store it with [`commit_batch`] and publish [`batch_events`]. A
//! declaration already stored gets its stored decision back unchanged;
//! one seen earlier in the same run is screened once.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use riskgate_core::{Decision, Declaration};
use riskgate_engine::Screened;
use riskgate_store::NewDecision;
use serde_json::Value;

use crate::app::App;
use crate::events::{self, OutEvent};
pub use crate::imports::Summary;
use crate::imports::check_office;

/// Which clock stamps decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock (live operation).
    Wall,
    /// The declaration's own time (replaying recorded traffic).
    Declared,
}

/// One input record: its number (line, array index or stream sequence),
/// the validated declaration or the error, and the raw text (stored as
/// received, so the body need not be serialised again).
#[derive(Debug)]
pub struct ParsedLine {
    pub line: usize,
    pub result: Result<Declaration, String>,
    pub raw: Option<String>,
}

pub type Parsed = Vec<ParsedLine>;

/// Parses and validates one JSON text.
pub fn parse_line(line: usize, text: String) -> ParsedLine {
    let result = serde_json::from_str::<Value>(&text)
        .map_err(|e| format!("not valid JSON: {e}"))
        .and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string()));
    ParsedLine { line, result, raw: Some(text) }
}

/// What each input record resolves to, in input order.
#[derive(Debug)]
pub enum Slot {
    Error(String, Option<String>),
    /// Stored before this run.
    Known(Box<Decision>),
    KnownHistorical(String),
    /// Screened in this batch: the index into the batch's `screened`.
    New(usize),
    /// Screened earlier in this run (an earlier batch or earlier in this
    /// one); its decision is read back once stored.
    Again(String),
}

/// One screened batch on its way to the store and the output.
#[derive(Debug)]
pub struct Batch {
    pub parsed: Parsed,
    /// (index into `parsed`, engine result, decision JSON, serialised body if no raw line)
    pub screened: Vec<(usize, Screened, String, Option<String>)>,
    pub slots: Vec<Slot>,
    /// Cases opened by `commit_batch` for rules that refer (announced by `batch_events`).
    pub referred: Vec<riskgate_core::Case>,
}

/// The time a decision is stamped with.
pub fn decision_time(clock: Clock, d: &Declaration) -> DateTime<FixedOffset> {
    match clock {
        Clock::Wall => crate::app::now(),
        Clock::Declared => d.declared_at,
    }
}

/// Screens a batch: registry check, idempotency look-up, engine. `seen`
/// holds the ids screened earlier in this run (their batches may not be
/// committed yet). Nothing is stored: see [`commit_batch`].
pub fn screen_batch(
    app: &mut App,
    offices: &HashSet<String>,
    parsed: Parsed,
    clock: Clock,
    seen: &mut HashSet<String>,
    summary: &mut Summary,
) -> anyhow::Result<Batch> {
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
                    let s = app.engine.screen(d, decision_time(clock, d));
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
    Ok(Batch { parsed, screened, slots, referred: Vec::new() })
}

/// Stores the newly screened declarations of a batch and the referrals
/// their fired rules ask for in one transaction (the cases are kept in
/// `b.referred`; `batch_events` announces them).
pub fn commit_batch(store: &mut dyn riskgate_store::Store, b: &mut Batch) -> anyhow::Result<()> {
    if b.screened.is_empty() {
        return Ok(());
    }
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
    let referring: Vec<(&Declaration, &Screened)> = b
        .screened
        .iter()
        .filter(|(_, s, _, _)| !s.refer.is_empty())
        .map(|(i, s, _, _)| (b.parsed[*i].result.as_ref().expect("screened only valid ones"), s))
        .collect();
    let referrals = crate::referrals::rule_referrals(store, &referring)?;
    // One transaction: a crash cannot store a decision without its referral
    // (a declaration stored is never screened again, so none would follow).
    let ids = store.commit_screened(&records, &referrals)?;
    b.referred = referrals.into_iter().zip(ids).map(|((c, _), id)| riskgate_core::Case { id, ..c }).collect();
    Ok(())
}

/// The events of a committed batch: a decision event (and a control-task
/// event for yellow and red) for every declaration screened now, again for
/// one found stored (its first publisher may have died before publishing:
/// events are at-least-once, de-duplicated by id), and a `rejected` event
/// per refused record when `rejected` is set (the bus worker's input has
/// no one else to tell).
pub fn batch_events(prefix: &str, b: &Batch, rejected: bool) -> anyhow::Result<Vec<OutEvent>> {
    let mut out = Vec::new();
    for slot in &b.slots {
        match slot {
            Slot::New(j) => {
                let (_, s, json, _) = &b.screened[*j];
                let mut evs = events::decision_events(prefix, &s.decision, json)?;
                if let Ok(d) = &b.parsed[b.screened[*j].0].result {
                    let chapters = hs_chapters(d);
                    evs.iter_mut().for_each(|e| e.chapters = chapters.clone());
                }
                out.extend(evs);
            }
            Slot::Known(d) => out.extend(events::decision_events(prefix, d, &serde_json::to_string(d)?)?),
            Slot::Error(e, id) if rejected => out.push(OutEvent {
                id: format!("rejected:{}", id.as_deref().unwrap_or("-")),
                kind: "rejected",
                subject: format!("{prefix}.rejected"),
                payload: serde_json::json!({"declaration_id": id, "error": e}).to_string(),
                department: None,
                office: None,
                chapters: Vec::new(),
            }),
            Slot::Error(..) | Slot::KnownHistorical(_) | Slot::Again(_) => {}
        }
    }
    out.extend(b.referred.iter().map(|c| crate::referrals::case_event(prefix, c, "opened")));
    Ok(out)
}

/// The HS chapters (first two digits) of a declaration's items, sorted, once each.
pub fn hs_chapters(d: &Declaration) -> Vec<String> {
    let mut c: Vec<String> = d.items.iter().filter_map(|i| i.hs_code.get(..2)).map(str::to_string).collect();
    c.sort();
    c.dedup();
    c
}
