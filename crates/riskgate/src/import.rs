//! `riskgate import`: every DATA.md record kind from JSON Lines, and
//! declarations from CSV through a column-mapping file. Bad records are
//! reported by line and field; good ones are kept; the summary says what
//! happened and the exit code says whether anything was rejected.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use riskgate_app::App;
use riskgate_app::imports::{self, Kind, RecordError};
pub use riskgate_app::screening::Summary;
use riskgate_core::{Declaration, ValidationError};
use serde_json::Value;

use crate::csv_map::{Mapping, csv_declarations};
use crate::jsonl;
use crate::screen::{ScreenOptions, screen_values};

pub use crate::jsonl::report;

/// Parses every line with `parse`; reports bad ones; returns the good ones.
fn parse_all<T>(
    file: &Path,
    parse: impl Fn(&Value) -> Result<T, ValidationError>,
    summary: &mut Summary,
) -> Result<Vec<(usize, T)>> {
    let mut out = Vec::new();
    for l in jsonl::read(file)? {
        match l.value {
            Err(e) => {
                report(file, l.number, &e);
                summary.rejected += 1;
            }
            Ok(v) => match parse(&v) {
                Ok(t) => out.push((l.number, t)),
                Err(e) => {
                    report(file, l.number, &e);
                    summary.rejected += 1;
                }
            },
        }
    }
    Ok(out)
}

/// Reports the records a check refused.
fn report_errors(file: &Path, errors: &[RecordError], summary: &mut Summary) {
    for e in errors {
        report(file, e.index, &e.error);
    }
    summary.rejected += errors.len();
}

fn source(file: &Path) -> String {
    file.display().to_string()
}

/// Adds what a commit did to what parsing found.
fn merge(mut s: Summary, done: Summary) -> Summary {
    s.accepted += done.accepted;
    s.duplicates += done.duplicates;
    s
}

/// Records of one kind: bad lines and records refused by the kind's check
/// are reported by line, the rest committed.
pub fn records<T>(app: &mut App, file: &Path, kind: Kind<T>) -> Result<Summary> {
    let mut s = Summary::default();
    let rows = parse_all(file, kind.parse, &mut s)?;
    let errors = (kind.check)(app.store.as_ref(), &rows)?;
    report_errors(file, &errors, &mut s);
    let done = (kind.commit)(app, &imports::good(rows, &errors), &source(file))?;
    Ok(merge(s, done))
}

/// Past declarations: stored without screening, folded into the context.
pub fn import_historical(app: &mut App, file: &Path) -> Result<Summary> {
    let mut s = Summary::default();
    let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
    let bar = crate::progress::bar(0, "history");
    jsonl::for_chunks(file, 5_000, |chunk| {
        let mut good = Vec::with_capacity(chunk.len());
        for (line, text) in chunk {
            let parsed = text
                .and_then(|t| riskgate_app::screening::parse_declaration(&t))
                .and_then(|d| imports::check_office(&offices, &d).map(|_| d));
            match parsed {
                Ok(d) => good.push(d),
                Err(e) => {
                    report(file, line, &e);
                    s.rejected += 1;
                }
            }
        }
        let done = imports::commit_historical(app, &good)?;
        s.accepted += done.accepted;
        s.duplicates += done.duplicates;
        bar.inc(good.len() as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    app.checkpoint()?;
    Ok(s)
}

/// Live declarations: screened on import, decisions stored.
pub fn import_declarations(app: &mut App, file: &Path, opts: &ScreenOptions) -> Result<Summary> {
    screen_values(app, file, None, opts)
}

/// `import overrides FILE`: overrides as officers made them, one JSON
/// object a line: {"declaration_id", "officer", "at", "to", "reason"}
/// ("from" is informative; the store knows the lane before). Each is its
/// own transaction with its action-log entry; bad lines are reported by
/// line and field and the others applied.
pub fn import_overrides(app: &mut App, file: &Path) -> Result<Summary> {
    let mut s = Summary::default();
    for line in jsonl::read(file)? {
        let parsed = line.value.map_err(|e| e.to_string()).and_then(|v| {
            let text = |k: &str| -> std::result::Result<String, String> {
                v.get(k).and_then(serde_json::Value::as_str).map(str::to_string).ok_or_else(|| {
                    format!("{k}: expected a string, got {}", v.get(k).map_or("nothing".into(), |x| x.to_string()))
                })
            };
            let to = text("to")?;
            let channel = riskgate_core::Channel::parse(&to)
                .ok_or_else(|| format!("to: expected green, yellow or red, got {to:?}"))?;
            let at = text("at")?;
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|_| format!("at: expected an RFC 3339 time, got {at:?}"))?;
            Ok(riskgate_store::Override {
                declaration_id: text("declaration_id")?,
                channel,
                officer: text("officer")?,
                reason: text("reason")?,
                at,
                entered_by: Some(app.user.clone()),
            })
        });
        match parsed {
            Err(e) => {
                report(file, line.number, &e);
                s.rejected += 1;
            }
            Ok(o) => match riskgate_app::overrides::apply(app, &o) {
                Ok(_) => s.accepted += 1,
                Err(e) => match riskgate_app::classify(&e) {
                    Some(refusal) => {
                        report(file, line.number, &refusal);
                        s.rejected += 1;
                    }
                    None => return Err(e),
                },
            },
        }
    }
    Ok(s)
}

/// Declarations from CSV through a column mapping ([`crate::csv_map`]).
pub fn import_csv(app: &mut App, mapping_file: &Path, file: &Path, opts: &ScreenOptions) -> Result<Summary> {
    let mapping = Mapping::load(mapping_file)?;
    let (values, historical) = csv_declarations(&mapping, file)?;
    if historical {
        let mut s = Summary::default();
        let offices: HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
        let mut good = Vec::new();
        for (line, v) in values {
            match v.and_then(|v| Declaration::from_json(&v).map_err(|e| e.to_string())).and_then(|d| {
                imports::check_office(&offices, &d)?;
                Ok(d)
            }) {
                Ok(d) => good.push(d),
                Err(e) => {
                    report(file, line, &e);
                    s.rejected += 1;
                }
            }
        }
        for chunk in good.chunks(5_000) {
            s = merge(s, imports::commit_historical(app, chunk)?);
        }
        app.checkpoint()?;
        Ok(s)
    } else {
        screen_values(app, file, Some(values), opts)
    }
}
