//! `riskgate bench analysis`: the KPI and breakdown views at national scale
//! (issue 14: ≤ 200 ms at 10M declarations). Builds a store of N screened
//! declarations over a year (40 offices in 5 districts, a skewed mix of
//! traders, goods and origins, 4% controls with outcomes), folds them into
//! the aggregates (timed: the one-off catch-up), then times each view as
//! the console asks for it, with the aggregates caught up and with 20,000
//! events not yet folded (a read adds them on the fly).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use riskgate_app::App;
use riskgate_app::analysis::{Request, breakdown};
use riskgate_core::rng::Rng;
use riskgate_core::{Channel, Declaration, Screened};
use riskgate_store::NewDecision;

const DAY0: &str = "2026-01-01";

/// A named view and how to read it (answers the rows it gave).
type View<'a> = (&'static str, Box<dyn Fn() -> Result<usize> + 'a>);

/// One synthetic declaration (number `i` of `n`, spread over 365 days) and
/// what the engine decided for it.
fn declaration(r: &mut Rng, i: usize, n: usize, offices: &[String]) -> Result<(Declaration, Screened)> {
    let day = chrono::NaiveDate::parse_from_str(DAY0, "%Y-%m-%d")? + chrono::Duration::days((i * 365 / n) as i64);
    // Skewed: a few offices, traders and goods carry most traffic.
    let office = &offices[(r.uniform().powi(2) * offices.len() as f64) as usize];
    let trader = (r.uniform().powi(3) * 50_000.0) as u64;
    let chapter = 1 + (r.uniform().powi(2) * 97.0) as u64;
    let heading = chapter * 100 + r.below(30);
    let hs = format!("{heading:04}{:02}0000", r.below(20));
    let origins = ["CN", "VN", "US", "DE", "JP", "KR", "TH", "MY", "ID", "IN", "BR", "AU", "GB", "FR", "IT"];
    let origin = origins[(r.uniform().powi(2) * origins.len() as f64) as usize];
    let mode = ["sea", "sea", "sea", "air", "road", "rail"][r.below(6) as usize];
    let value = 500.0 + r.uniform() * 50_000.0;
    let trade_mode = ["0110", "0110", "0615", "1039"][r.below(4) as usize];
    let direction = if r.chance(0.8) { "import" } else { "export" };
    let v = serde_json::json!({"id": format!("{office}2026{i:010}"),
        "declared_at": format!("{day}T{:02}:{:02}:00+08:00", 8 + r.below(10), r.below(60)),
        "direction": direction, "office": office, "transport_mode": mode, "trade_mode": trade_mode,
        "trader": {"id": format!("T{trader:06}")}, "declarant": {"id": format!("B{:04}", trader % 2000)},
        "currency": "CNY",
        "items": [{"line": 1, "hs_code": hs, "origin": origin, "quantity": 10, "net_weight_kg": 5.0,
                   "value": value, "duty_rate": 0.08}]});
    let d = Declaration::from_json(&v).map_err(|e| anyhow::anyhow!("{e}"))?;
    let control = r.chance(0.04);
    let (channel, source, random) = if !control {
        (Channel::Green, riskgate_core::Source::None, false)
    } else if r.chance(0.1) {
        (Channel::Red, riskgate_core::Source::Random, true)
    } else if r.chance(0.3) {
        (Channel::Red, riskgate_core::Source::Rule, false)
    } else {
        (Channel::Yellow, riskgate_core::Source::Score, false)
    };
    let decision = riskgate_core::Decision {
        declaration_id: d.id.clone(),
        decided_at: d.declared_at,
        channel,
        risk_value: if control { 0.7 } else { 0.1 },
        risk_level: if control { riskgate_core::RiskLevel::High } else { riskgate_core::RiskLevel::Low },
        reasons: Vec::new(),
        random,
        instructions: String::new(),
        selection_probability: if random {
            0.01
        } else if control {
            1.0
        } else {
            0.0
        },
        source,
        disposal: Some(if control { riskgate_core::Disposal::Control } else { riskgate_core::Disposal::Accept }),
        office: d.office.clone(),
        engine: "bench".into(),
    };
    let task = control.then(|| riskgate_core::TaskSpec {
        office: d.office.clone(),
        channel,
        disposal: riskgate_core::Disposal::Control,
        instructions: "check".into(),
    });
    Ok((d, Screened { decision, ranking: 0.5, task, shadow: None, refer: Vec::new() }))
}

/// Stores declarations `from..to` of `n` (with outcomes for the controls).
fn store_range(app: &mut App, r: &mut Rng, from: usize, to: usize, n: usize, offices: &[String]) -> Result<()> {
    let mut i = from;
    while i < to {
        let end = (i + 5_000).min(to);
        let mut rows = Vec::with_capacity(end - i);
        for k in i..end {
            rows.push(declaration(r, k, n, offices)?);
        }
        let bodies: Vec<String> = rows.iter().map(|(d, _)| serde_json::to_string(d)).collect::<Result<_, _>>()?;
        let jsons: Vec<String> =
            rows.iter().map(|(_, s)| serde_json::to_string(&s.decision)).collect::<Result<_, _>>()?;
        let batch: Vec<NewDecision<'_>> = rows
            .iter()
            .zip(bodies.iter().zip(&jsons))
            .map(|((d, s), (b, j))| NewDecision {
                declaration: d,
                body: b,
                screened: s,
                decision_json: j,
                shadow: None,
            })
            .collect();
        app.store.commit_screened(&batch, &[])?;
        let mut outcomes = Vec::new();
        for (d, s) in rows.iter().filter(|(_, s)| s.task.is_some()) {
            let finding = r.chance(if s.decision.random { 0.03 } else { 0.25 });
            let at = d.declared_at + chrono::Duration::hours(1 + r.below(20) as i64);
            outcomes.push(
                riskgate_core::Outcome::from_json(&serde_json::json!({"declaration_id": d.id,
                    "officer": format!("E{}{:02}", d.office, r.below(30)),
                    "control": if s.decision.channel == Channel::Red { "physical" } else { "document" },
                    "completed_at": at.to_rfc3339(), "result": if finding { "finding" } else { "no_finding" },
                    "findings": if finding { vec!["undervaluation"] } else { vec![] },
                    "additional_duty": if finding { 1000.0 + r.uniform() * 20_000.0 } else { 0.0 },
                    "seizure": false, "released_at": (at + chrono::Duration::hours(2)).to_rfc3339()}))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        app.store.commit_outcomes(&outcomes)?;
        i = end;
    }
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(n: usize, seed: u64, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let mut app = App::open(dir, "bench")?;
    let mut r = Rng::new(seed);
    use riskgate_core::{Office, OfficeLevel};
    let mut offices = vec![Office { name: "海关总署".into(), ..Office::new("0000", None, OfficeLevel::Hq) }];
    let mut codes = Vec::new();
    for d in 0..5 {
        let district = format!("{}00", 22 + d);
        offices.push(Office::new(&district, Some("0000"), OfficeLevel::District));
        for o in 1..=8 {
            let code = format!("{}{o:02}", 22 + d);
            offices.push(Office::new(&code, Some(&district), OfficeLevel::Office));
            codes.push(code);
        }
    }
    app.store.upsert_offices(&offices)?;
    let t = Instant::now();
    let bulk = n.saturating_sub(20_000);
    store_range(&mut app, &mut r, 0, bulk, n, &codes)?;
    println!("stored {bulk} declarations with outcomes in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let folded = riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "folded {folded} events into the aggregates in {secs:.1} s ({:.1} µs per event)",
        secs * 1e6 / folded.max(1) as f64
    );
    let store = app.store.as_ref();
    let day = |s: &str| riskgate_app::day_start(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date"));
    let q2 = (Some(day("2026-04-01")), Some(day("2026-07-01")));
    let views: Vec<View<'_>> = vec![
        ("KPIs, every unit, all time", Box::new(|| Ok(riskgate_app::kpi::report(store, None, None)?.len()))),
        ("KPIs, every unit, 2026-Q2", Box::new(move || Ok(riskgate_app::kpi::report(store, q2.0, q2.1)?.len()))),
        ("HQ by district, 2026-Q2", Box::new(move || view(store, None, "unit", None, q2))),
        ("district 2200 by office, 2026-Q2", Box::new(move || view(store, Some("2200"), "unit", None, q2))),
        ("HQ by HS chapter, 2026-Q2", Box::new(move || view(store, None, "hs2", None, q2))),
        ("HQ by HS heading under 85, 2026-Q2", Box::new(move || view(store, None, "hs4", Some("85*"), q2))),
        ("HQ by HS subheading, all time", Box::new(|| view(store, None, "hs6", None, (None, None)))),
        ("HQ by trader, 2026-Q2", Box::new(move || view(store, None, "trader", None, q2))),
        ("office 2201 by trader, all time", Box::new(|| view(store, Some("2201"), "trader", None, (None, None)))),
        ("district 2200 by origin, 2026-Q2", Box::new(move || view(store, Some("2200"), "origin", None, q2))),
        ("HQ by officer, 2026-Q2", Box::new(move || view(store, None, "officer", None, q2))),
    ];
    let time_all = |label: &str| -> Result<()> {
        println!("views ({label}): median and max of 5 reads");
        for (name, f) in &views {
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..5 {
                let t = Instant::now();
                rows = f()?;
                times.push(ms(t));
            }
            times.sort_by(f64::total_cmp);
            println!("    {name:<40} {:>8.1} ms  max {:>8.1} ms  ({rows} rows)", times[2], times[4]);
        }
        Ok(())
    };
    time_all("aggregates caught up")?;
    drop(views);
    store_range(&mut app, &mut r, bulk, n, n, &codes)?;
    let pending = app.store.last_seq()?;
    let store = app.store.as_ref();
    let views: Vec<View<'_>> = vec![
        ("KPIs, every unit, all time", Box::new(|| Ok(riskgate_app::kpi::report(store, None, None)?.len()))),
        ("HQ by HS chapter, 2026-Q2", Box::new(move || view(store, None, "hs2", None, q2))),
        ("HQ by trader, 2026-Q2", Box::new(move || view(store, None, "trader", None, q2))),
    ];
    println!("{} events stored since the last fold (last event {pending})", n - bulk);
    for (name, f) in &views {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            f()?;
            times.push(ms(t));
        }
        times.sort_by(f64::total_cmp);
        println!("    {name:<40} {:>8.1} ms  max {:>8.1} ms  (with the unfolded events)", times[2], times[4]);
    }
    drop(views);
    let t = Instant::now();
    let folded = riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
    println!("    folding those {folded} events: {:.0} ms", ms(t));
    Ok(())
}

fn view(
    store: &dyn riskgate_store::Store,
    unit: Option<&str>,
    dim: &str,
    key: Option<&str>,
    p: (Option<i64>, Option<i64>),
) -> Result<usize> {
    let b = breakdown(
        store,
        &Request {
            unit: unit.map(str::to_string),
            dim: dim.into(),
            key: key.map(str::to_string),
            from: p.0,
            to: p.1,
            limit: 100,
        },
    )?;
    Ok(b.rows.len() + b.more)
}
