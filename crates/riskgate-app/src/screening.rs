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

/// Parses and validates one JSON text (stored as received if good).
pub fn parse_line(line: usize, text: String) -> ParsedLine {
    ParsedLine { line, result: parse_declaration(&text), raw: Some(text) }
}

/// Parses and validates one declaration's JSON text: the one way a
/// declaration's text enters (files, the bus, history imports). A key
/// repeated in any object is refused, naming it, as the declaration would
/// otherwise be validated on the last value and stored with both.
pub fn parse_declaration(text: &str) -> Result<Declaration, String> {
    let v = riskgate_core::json::parse(text).map_err(|e| e.to_string())?;
    Declaration::from_json(&v).map_err(|e| e.to_string())
}

/// One input record as bytes: [`parse_line`] if it is UTF-8 text, else
/// refused naming the first bad byte (`not UTF-8 text: …`).
pub fn parse_bytes(line: usize, bytes: Vec<u8>) -> ParsedLine {
    match String::from_utf8(bytes) {
        Ok(text) => parse_line(line, text),
        Err(e) => ParsedLine {
            line,
            result: Err(riskgate_core::json::not_utf8(e.as_bytes(), &e.utf8_error(), None)),
            raw: None,
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = r#"{"id":"A1","declared_at":"2026-03-01T09:00:00+08:00","direction":"import","office":"2201","transport_mode":"sea","trade_mode":"0110","trader":{"id":"T1"},"declarant":{"id":"D1"},"currency":"USD","items":[{"line":1,"hs_code":"8517130000","origin":"VN","quantity":100,"net_weight_kg":50.0,"value":1000.0,"duty_rate":0.1}]}"#;

    /// One way in for every transport's text: a key given twice is refused
    /// naming its path, however deep, instead of validating the last value
    /// and storing both.
    #[test]
    fn a_declaration_with_a_repeated_key_is_refused_naming_it() {
        assert_eq!(parse_line(1, D.to_string()).result.unwrap().id, "A1");
        let refused = |text: String| parse_line(7, text).result.unwrap_err();
        expect_test::expect![[r#"
            [
                "id: expected each key at most once per object, got it repeated at line 1 column 15",
                "items[0].value: expected each key at most once per object, got it repeated at line 1 column 309",
                "trader.id: expected each key at most once per object, got it repeated at line 1 column 162",
            ]
        "#]]
        .assert_debug_eq(&[
            refused(D.replacen(r#""id":"A1""#, r#""id":"A1","id":"B2""#, 1)),
            refused(D.replacen(r#""value":1000.0"#, r#""value":1000.0,"value":1.0"#, 1)),
            refused(D.replacen(r#"{"id":"T1"}"#, r#"{"id":"T1","\u0069d":"T2"}"#, 1)),
        ]);
    }

    /// A record that is not UTF-8 (a bus message) is refused naming the
    /// first bad byte, not read with replacement characters and stored so.
    #[test]
    fn a_record_that_is_not_utf8_is_refused_naming_the_byte() {
        let mut bytes = D.as_bytes().to_vec();
        bytes[7] = 0xff;
        let p = parse_bytes(3, bytes);
        assert_eq!((p.line, p.raw.is_none()), (3, true));
        assert_eq!(p.result.unwrap_err(), "not UTF-8 text: byte 0xFF at offset 7");
        assert!(parse_bytes(3, D.as_bytes().to_vec()).result.is_ok());
    }
}
