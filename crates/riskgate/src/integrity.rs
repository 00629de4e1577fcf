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

/// The officer's indicators month by month (calendar months, China time)
/// over the data of `[from, to)`.
pub fn history(
    store: &dyn Store,
    officer: &str,
    from: Option<i64>,
    to: Option<i64>,
    cfg: &Config,
) -> Result<Vec<riskgate_integrity::HistoryPoint>> {
    use chrono::{Datelike, TimeZone};
    let input = load_input(store, from, to, None)?;
    let times = input.controls.iter().map(|c| c.completed_at).chain(input.overrides.iter().map(|o| o.at));
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else { return Ok(vec![]) };
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let month_start = |t: i64| {
        let d = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().with_timezone(&cst).date_naive();
        cst.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0).single().map_or(t, |m| m.timestamp())
    };
    let mut windows = Vec::new();
    let mut start = month_start(first);
    while start <= last {
        let next = month_start(start + 32 * 86_400);
        windows.push((start, next));
        start = next;
    }
    Ok(riskgate_integrity::officer_history(&input, cfg, officer, &windows))
}

/// One officer's profile: indicators against peers, reasons and evidence,
/// and the month-by-month history.
pub fn print_profile(app: &App, s: &Subject, hist: &[riskgate_integrity::HistoryPoint], json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(s)?;
        v["history"] = serde_json::to_value(hist)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
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
    if !hist.is_empty() {
        println!("\nhistory by month (each month against the peers of that month):");
        println!(
            "  {:<8} {:>6} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "month", "score", "level", "ovr z", "find z", "conc z", "dur z", "rel z", "off z"
        );
        for h in hist {
            let month = chrono::DateTime::from_timestamp(h.from + 8 * 3600, 0).map(|t| t.format("%Y-%m").to_string());
            let Some(x) = &h.subject else {
                println!("  {:<8} {:>6}", month.unwrap_or_default(), "—");
                continue;
            };
            let z = |k: &str| x.indicator(k).and_then(|i| i.z).map_or("—".to_string(), |z| format!("{z:.1}"));
            println!(
                "  {:<8} {:>6.2} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                month.unwrap_or_default(),
                x.score,
                x.level.as_str(),
                z("overrides_down"),
                z("finding_shortfall"),
                z("concentration"),
                z("control_duration"),
                z("release_speed"),
                z("off_hours")
            );
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
    anyhow::ensure!(
        known_officer(app, officer)?,
        "officer: expected an officer id known to the registry, got {officer:?}"
    );
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

/// Whether `id` is in the officer registry (any id when none is loaded).
fn known_officer(app: &App, id: &str) -> Result<bool> {
    let officers = app.store.officers()?;
    Ok(officers.is_empty() || officers.iter().any(|o| o.id == id))
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
            Ok(o) if !known_officer(app, &o.officer)? => {
                let msg = format!("officer: expected an officer id known to the registry, got {:?}", o.officer);
                crate::import::report(file, line.number, &msg);
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

/// `bench integrity`: a store with `declarations` declarations (stored as
/// history), `controls` completed controls by `officers` officers in 20
/// offices, 1% of them overridden, then the indicators of every officer,
/// post and unit computed from it; loading and computing are timed apart.
pub fn bench(officers: usize, declarations: usize, controls: usize, seed: u64, dir: &Path) -> Result<()> {
    use riskgate_core::rng::Rng;
    use std::time::Instant;
    anyhow::ensure!(officers >= 20 && controls <= declarations, "need ≥ 20 officers and controls ≤ declarations");
    let _ = std::fs::remove_dir_all(dir);
    let mut app = App::open(dir, "bench")?;
    let mut r = Rng::new(seed);
    let mut offices = vec![
        serde_json::json!({"code": "0000", "name": "HQ", "level": "hq"}),
        serde_json::json!({"code": "2200", "name": "D", "parent": "0000", "level": "district"}),
    ];
    let codes: Vec<String> = (0..20).map(|i| format!("22{:02}", i + 1)).collect();
    for c in &codes {
        offices.push(serde_json::json!({"code": c, "name": c, "parent": "2200", "level": "office"}));
    }
    let offices: Vec<riskgate_core::Office> = offices
        .iter()
        .map(riskgate_core::Office::from_json)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.store.upsert_offices(&offices)?;
    let mut staff: Vec<Vec<String>> = vec![Vec::new(); codes.len()];
    let mut regs = Vec::new();
    for k in 0..officers {
        let office = k % codes.len();
        let id = format!("E{:05}", 10_000 + k);
        let post = if (k / codes.len()).is_multiple_of(2) { "inspection" } else { "document_review" };
        let since = format!("20{:02}-03-01", 16 + r.below(10));
        regs.push(
            riskgate_core::Officer::from_json(&serde_json::json!({"id": id, "name": id, "office": codes[office],
                "post": post, "post_since": since}))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        staff[office].push(id);
    }
    app.store.upsert_officers(&regs)?;
    let t = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    let day0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
    let mut controlled = Vec::with_capacity(controls);
    let every = declarations / controls.max(1);
    for i in 0..declarations {
        let office = r.below(codes.len() as u64) as usize;
        let trader = (r.uniform().powi(3) * 30_000.0) as u64;
        let at = day0 + chrono::Duration::days((i * 250 / declarations) as i64);
        let id = format!("{}2026{:010}", codes[office], i);
        let v = serde_json::json!({"id": id, "declared_at": format!("{at}T{:02}:{:02}:00+08:00", 8 + r.below(10), r.below(60)),
            "direction": "import", "office": codes[office], "transport_mode": "sea", "trade_mode": "0110",
            "trader": {"id": format!("T{trader:06}")}, "declarant": {"id": format!("B{:04}", trader % 2000)},
            "country_of_departure": "VN", "currency": "USD",
            "items": [{"line": 1, "hs_code": "8471300000", "origin": "VN", "quantity": 10, "net_weight_kg": 5.0,
                       "value": 1000.0, "duty_rate": 0.1}]});
        batch.push(riskgate_core::Declaration::from_json(&v).map_err(|e| anyhow::anyhow!("{e}"))?);
        if every > 0 && i % every == 0 && controlled.len() < controls {
            controlled.push((id, office, at));
        }
        if batch.len() == 10_000 {
            app.store.commit_historical(&batch)?;
            batch.clear();
        }
    }
    app.store.commit_historical(&batch)?;
    let mut outcomes = Vec::with_capacity(controlled.len());
    for (id, office, at) in &controlled {
        let officer = &staff[*office][r.below(staff[*office].len() as u64) as usize];
        let kind = if r.chance(0.5) { "document" } else { "physical" };
        let finding = r.chance(0.2);
        let done = format!("{at}T{:02}:{:02}:00+08:00", 12 + r.below(6), r.below(60));
        outcomes.push(
            riskgate_core::Outcome::from_json(&serde_json::json!({"declaration_id": id, "officer": officer,
                "control": kind, "completed_at": done, "result": if finding { "finding" } else { "no_finding" },
                "findings": if finding { vec!["undervaluation"] } else { vec![] }, "additional_duty": 0.0,
                "seizure": false, "released_at": format!("{at}T19:00:00+08:00")}))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    for chunk in outcomes.chunks(5_000) {
        app.store.commit_outcomes(chunk)?;
    }
    for (k, (id, office, at)) in controlled.iter().enumerate().filter(|(k, _)| k % 100 == 0) {
        let mut a = app.action("override", id);
        a.actor = staff[*office][k % staff[*office].len()].clone();
        a.office = Some(codes[*office].clone());
        a.at = at.and_hms_opt(10, 0, 0).expect("time").and_utc().fixed_offset();
        a.before = Some(serde_json::json!({"channel": "red"}));
        a.after = Some(serde_json::json!({"channel": "green"}));
        a.reason = Some("bench".into());
        app.store.append_action(&a)?;
    }
    println!(
        "store built in {:.1} s: {declarations} declarations, {} controls, {officers} officers",
        t.elapsed().as_secs_f64(),
        outcomes.len()
    );
    let t = Instant::now();
    let input = load_input(app.store.as_ref(), None, None, None)?;
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = compute(&input, &Config::default());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "integrity: {} officers, {} posts, {} units from {} controls and {} overrides: load {load:.2} s, compute {secs:.2} s",
        report.officers.len(),
        report.posts.len(),
        report.units.len(),
        input.controls.len(),
        input.overrides.len()
    );
    Ok(())
}
