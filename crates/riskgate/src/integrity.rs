//! `riskgate integrity …` and `riskgate tasks override`: the integrity
//! indicators (riskgate-integrity) fed from the store, and the officer's
//! override of a lane. Every read of integrity data is written to the
//! action log, like every change.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use riskgate_core::{Channel, WorkforceRecord};
use riskgate_integrity::{
    Config, Control, DisciplinaryCase, Input, OfficerInfo, OverrideEvent, Report, Subject, compute,
};
use riskgate_store::{Override, OverrideDone, Store};
use serde::Serialize;

use crate::app::App;

/// Reads a thresholds file (TOML, every field optional; see `Config`).
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else { return Ok(Config::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg: Config =
        toml::from_str(&text).with_context(|| format!("{}: not a valid integrity config", path.display()))?;
    cfg.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(cfg)
}

/// The indicators' input over `[from, to)` from the store.
pub fn load_input(store: &dyn Store, from: Option<i64>, to: Option<i64>, as_of: Option<NaiveDate>) -> Result<Input> {
    let officers = store
        .officers()?
        .into_iter()
        .map(|o| OfficerInfo { id: o.id, office: o.office, post: o.post, post_since: o.post_since })
        .collect();
    let controls: Vec<Control> = store
        .control_records(from, to)?
        .into_iter()
        .map(|c| Control {
            started_at: c.decided_at.unwrap_or(c.declared_at),
            declaration_id: c.declaration_id,
            office: c.office,
            trader: c.trader,
            declarant: c.declarant,
            officer: c.officer,
            control: c.control,
            completed_at: c.completed_at,
            released_at: c.released_at,
            utc_offset: c.tz,
            finding: c.finding,
            risk_value: c.risk_value,
        })
        .collect();
    let overrides: Vec<OverrideEvent> = store
        .actions_in(from, to)?
        .into_iter()
        .filter(|l| l.action.action == "override")
        .map(|l| {
            let channel = |v: &Option<serde_json::Value>| {
                v.as_ref().and_then(|v| v["channel"].as_str()).unwrap_or("unknown").to_string()
            };
            OverrideEvent {
                log_seq: l.seq,
                officer: l.action.actor.clone(),
                office: l.action.office.clone().unwrap_or_default(),
                declaration_id: l.action.target.clone(),
                at: l.action.at.timestamp(),
                utc_offset: l.action.at.offset().local_minus_utc(),
                before: channel(&l.action.before),
                after: channel(&l.action.after),
                reason: l.action.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    let disciplinary = store
        .workforce()?
        .into_iter()
        .filter_map(|w| match w {
            WorkforceRecord::Disciplinary { officer, opened_at, case_kind, status } => {
                Some(DisciplinaryCase { officer, opened_at: opened_at.timestamp(), kind: case_kind, status })
            }
            _ => None,
        })
        .collect();
    // Tenure is measured at the end of the data (reproducible on a stored
    // world) unless a day is given.
    let last = controls.iter().map(|c| c.completed_at).chain(overrides.iter().map(|o| o.at)).max();
    let as_of = as_of
        .or_else(|| to.and_then(|t| chrono::DateTime::from_timestamp(t - 1, 0)).map(|t| t.date_naive()))
        .or_else(|| last.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.date_naive()))
        .or_else(|| Some(crate::app::now().date_naive()));
    Ok(Input { officers, controls, overrides, disciplinary, as_of })
}

/// The office and every office under it.
pub fn subtree(store: &dyn Store, code: &str) -> Result<HashSet<String>> {
    let offices = store.offices()?;
    let mut keep = HashSet::from([code.to_string()]);
    loop {
        let before = keep.len();
        for o in &offices {
            if o.parent.as_ref().is_some_and(|p| keep.contains(p)) {
                keep.insert(o.code.clone());
            }
        }
        if keep.len() == before {
            return Ok(keep);
        }
    }
}

/// Computes the report and logs the read (who read what, how many rows).
pub fn report(app: &mut App, what: &str, from: Option<i64>, to: Option<i64>, cfg: &Config) -> Result<Report> {
    let input = load_input(app.store.as_ref(), from, to, None)?;
    let r = compute(&input, cfg);
    let mut a = app.action("integrity_read", what);
    a.after = Some(serde_json::json!({"from": from, "to": to, "officers": r.officers.len()}));
    app.store.append_action(&a)?;
    Ok(r)
}

#[derive(Serialize)]
struct Row<'a> {
    rank: usize,
    #[serde(flatten)]
    subject: &'a Subject,
}

fn ind(s: &Subject, key: &str, f: impl Fn(&riskgate_integrity::Indicator) -> String) -> String {
    s.indicator(key).map_or_else(|| "—".to_string(), f)
}

/// Prints a ranked list (highest score first); `kind` is officers, posts or units.
pub fn print_list(rows: &[&Subject], kind: &str, json: bool) -> Result<()> {
    if json {
        let rows: Vec<Row<'_>> = rows.iter().enumerate().map(|(i, s)| Row { rank: i + 1, subject: s }).collect();
        let mut v = serde_json::to_value(&rows)?;
        // Lists carry indicator values; the evidence is in the officer profile.
        if let Some(a) = v.as_array_mut() {
            for r in a {
                if let Some(o) = r.as_object_mut() {
                    o.remove("evidence");
                    if kind == "officers" {
                        let id = o.remove("id").unwrap_or_default();
                        o.insert("officer".into(), id);
                    }
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ kind: v }))?);
        return Ok(());
    }
    let head = match kind {
        "officers" => "officer",
        "posts" => "post",
        _ => "unit",
    };
    println!(
        "{:>4} {:<26} {:<6} {:>6} {:<8} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5}",
        "rank",
        head,
        "office",
        "score",
        "level",
        "ovr↓%",
        "find/exp",
        "conc z",
        "dur z",
        "rel z",
        "off%",
        "tenure",
        "disc"
    );
    for (i, s) in rows.iter().enumerate() {
        println!(
            "{:>4} {:<26} {:<6} {:>6.2} {:<8} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5}",
            i + 1,
            s.id,
            s.office,
            s.score,
            s.level.as_str(),
            ind(s, "overrides_down", |i| format!("{:.1}", i.value * 100.0)),
            ind(s, "finding_shortfall", |i| format!(
                "{:.0}/{:.0}",
                i.value * i.n as f64,
                i.baseline.unwrap_or(0.0) * i.n as f64
            )),
            ind(s, "concentration", |i| format!("{:.1}", i.z.unwrap_or(0.0))),
            ind(s, "control_duration", |i| format!("{:.1}", i.z.unwrap_or(0.0))),
            ind(s, "release_speed", |i| format!("{:.1}", i.z.unwrap_or(0.0))),
            ind(s, "off_hours", |i| format!("{:.1}", i.value * 100.0)),
            ind(s, "tenure", |i| format!("{:.1}", i.value)),
            ind(s, "disciplinary", |i| format!("{:.0}", i.value)),
        );
    }
    Ok(())
}

/// Prints subjects at warning with their reasons.
pub fn print_warnings(r: &Report, json: bool) -> Result<()> {
    let w: Vec<&Subject> = r.warnings();
    if json {
        let v: Vec<serde_json::Value> = w
            .iter()
            .map(|s| {
                serde_json::json!({"kind": s.kind, "id": s.id, "office": s.office, "score": s.score,
                    "level": s.level, "p_value": s.p_value, "reasons": s.reasons})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "warnings": v }))?);
        return Ok(());
    }
    if w.is_empty() {
        println!("no warnings");
    }
    for s in w {
        println!("{} {} (office {}) score {:.2}, warning", s.kind, s.id, s.office, s.score);
        for reason in &s.reasons {
            println!("  - {reason}");
        }
    }
    Ok(())
}

/// One officer's profile: indicators against peers, reasons and evidence.
pub fn print_profile(app: &App, s: &Subject, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "officer {} — office {}, post {}; score {:.2}, {} (combined p {:.2e}); {} controls; {} officers in the peer group",
        s.id,
        s.office,
        s.post.as_deref().unwrap_or("—"),
        s.score,
        s.level.as_str(),
        s.p_value,
        s.controls,
        s.peers
    );
    println!("\nindicators (value vs peers):");
    for i in &s.indicators {
        let stat = match (i.z, i.p) {
            (Some(z), Some(p)) => format!("z {z:>5.2}  p {p:.2e}"),
            _ => format!("+{} points", i.points),
        };
        println!("  {:<18} {stat:<24} {}", i.key, i.detail);
    }
    if !s.reasons.is_empty() {
        println!("\nreasons:");
        for r in &s.reasons {
            println!("  - {r}");
        }
    }
    if !s.evidence.is_empty() {
        println!("\nevidence:");
        let logged = app.store.actions_in(None, None)?;
        for e in &s.evidence {
            println!("  {}:", e.indicator);
            if !e.declarations.is_empty() {
                println!("    declarations: {}", e.declarations.join(", "));
            }
            for seq in &e.log_entries {
                if let Some(l) = logged.iter().find(|l| l.seq == *seq) {
                    println!(
                        "    log #{seq} {} {} {} {} → {} \"{}\"",
                        l.action.at.format("%Y-%m-%d %H:%M"),
                        l.action.actor,
                        l.action.target,
                        l.action.before.as_ref().map_or("—".into(), |v| v["channel"].to_string()),
                        l.action.after.as_ref().map_or("—".into(), |v| v["channel"].to_string()),
                        l.action.reason.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

/// `tasks override`: an officer changes the lane of a declaration.
pub fn override_lane(
    app: &mut App,
    declaration_id: &str,
    lane: Channel,
    officer: &str,
    reason: &str,
) -> Result<OverrideDone> {
    let o = Override {
        declaration_id: declaration_id.to_string(),
        channel: lane,
        officer: officer.to_string(),
        reason: reason.to_string(),
        at: crate::app::now(),
        entered_by: (app.user != officer).then(|| app.user.clone()),
    };
    Ok(app.store.override_channel(&o)?)
}

/// `import overrides FILE`: overrides as officers made them, one JSON
/// object a line: {"declaration_id", "officer", "at", "to", "reason"}
/// ("from" is informative; the store knows the lane before). Each is its
/// own transaction with its action-log entry; bad lines are reported by
/// line and field and the others applied.
pub fn import_overrides(app: &mut App, file: &Path) -> Result<crate::import::Summary> {
    let mut s = crate::import::Summary::default();
    for line in crate::jsonl::read(file)? {
        let parsed = line.value.map_err(|e| e.to_string()).and_then(|v| {
            let text = |k: &str| -> std::result::Result<String, String> {
                v.get(k).and_then(serde_json::Value::as_str).map(str::to_string).ok_or_else(|| {
                    format!("{k}: expected a string, got {}", v.get(k).map_or("nothing".into(), |x| x.to_string()))
                })
            };
            let to = text("to")?;
            let channel =
                Channel::parse(&to).ok_or_else(|| format!("to: expected green, yellow or red, got {to:?}"))?;
            let at = text("at")?;
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|_| format!("at: expected an RFC 3339 time, got {at:?}"))?;
            Ok(Override {
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
                crate::import::report(file, line.number, &e);
                s.rejected += 1;
            }
            Ok(o) => match app.store.override_channel(&o) {
                Ok(_) => s.accepted += 1,
                Err(riskgate_store::StoreError::User(e)) => {
                    crate::import::report(file, line.number, &e);
                    s.rejected += 1;
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    Ok(s)
}
