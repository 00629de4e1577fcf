//! Terminal rendering of use-case answers: tables and JSON for people at
//! a console. Nothing here decides anything.

use anyhow::Result;
use riskgate_app::App;
use riskgate_app::integrity::{Report, Subject};
use riskgate_app::kpi::Unit;
use riskgate_app::model::Evaluation;
use serde::Serialize;

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{:.2}%", x * 100.0))
}

pub fn print_table(units: &[Unit]) -> Result<()> {
    println!(
        "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14} {:>8} {:>8}",
        "unit",
        "decls",
        "screen",
        "target",
        "hit",
        "h.rule",
        "h.score",
        "h.rand",
        "h.man",
        "duty CNY",
        "sd.sea",
        "sd.oth"
    );
    for u in units {
        let f = |k: &str| figure(u, k);
        println!(
            "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14.0} {:>8} {:>8}",
            indented_code(u),
            u.declarations,
            pct(f("screened")),
            pct(f("targeting_rate")),
            pct(f("hit_rate")),
            pct(f("hit_rate_rule")),
            pct(f("hit_rate_score")),
            pct(f("hit_rate_random")),
            pct(f("hit_rate_manual")),
            u.additional_duty_cny,
            pct(f("same_day_release_sea")),
            pct(f("same_day_release_other")),
        );
    }
    if let Some(u) = units.first() {
        println!("\nFormulas ({} {}):", u.code, u.name);
        for f in &u.figures {
            let target = if f.target.is_empty() { "—" } else { f.target };
            if f.unit == "count" {
                println!("  {} {} = {} = {:.0}", f.name_zh, f.name, f.formula, f.value.unwrap_or(0.0));
            } else {
                println!(
                    "  {} {} = {} = {:.0}/{:.0} = {} (target {target})",
                    f.name_zh,
                    f.name,
                    f.formula,
                    f.numerator,
                    f.denominator,
                    pct(f.value)
                );
            }
        }
    }
    Ok(())
}

/// A figure of the unit by its key, when it has a value.
fn figure(u: &Unit, key: &str) -> Option<f64> {
    u.figures.iter().find(|x| x.key == key).and_then(|x| x.value)
}

/// The unit's code indented by its level (HQ, district, office).
fn indented_code(u: &Unit) -> String {
    let indent = match u.level.as_str() {
        "hq" => "",
        "district" => "  ",
        _ => "    ",
    };
    format!("{indent}{}", u.code)
}

/// A breakdown (`riskgate analysis`) as a table.
pub fn print_breakdown(b: &riskgate_app::analysis::Breakdown) {
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "…".to_string(), |d| d.to_string());
    println!(
        "{} {} by {} ({}){}, {} to {}{}",
        b.unit,
        b.unit_name,
        b.dim,
        b.dim_zh,
        b.key.as_deref().map(|k| format!(" {k}")).unwrap_or_default(),
        day(b.from),
        day(b.to),
        if b.widened { " (whole months)" } else { "" }
    );
    println!(
        "{:<22} {:>9} {:>8} {:>8} {:>8} {:>9} {:>14} {:>9} {:>9}",
        "key", "decl.", "controls", "findings", "hit rate", "prev.", "add. duty CNY", "random", "undetect."
    );
    let line = |r: &riskgate_app::analysis::Row, key: &str| {
        let name = r.label.as_deref().map_or_else(|| key.to_string(), |l| format!("{key} {l}"));
        let name: String = name.chars().take(22).collect();
        println!(
            "{:<22} {:>9} {:>8} {:>8} {:>8} {:>9} {:>14.0} {:>9} {:>9}",
            name,
            r.declarations,
            r.controls,
            r.findings,
            pct(r.hit_rate),
            format!("{}{}", pct(r.previous_hit_rate), if r.change_significant { "*" } else { "" }),
            r.additional_duty_cny,
            format!("{}/{}", r.random_findings, r.random_completed),
            r.estimated_undetected.map_or_else(|| "—".to_string(), |e| format!("{e:.1}")),
        );
    };
    for r in &b.rows {
        line(r, &r.key);
    }
    if b.more > 0 {
        println!("… {} more (--limit)", b.more);
    }
    line(&b.total, "(unit total)");
    println!("prev.: the hit rate of the period of the same length before; * a significant change (|z| ≥ 1.96)");
}

/// The model drift report (`riskgate model drift`).
pub fn print_drift(r: &riskgate_app::drift::DriftReport) {
    let t = &r.thresholds;
    println!(
        "model drift, decisions {} to {}; active model {}{}",
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M"),
        r.active_model.as_deref().unwrap_or("(none)"),
        r.active_trained_at.map(|t| format!(" trained {}", t.format("%Y-%m-%d %H:%M"))).unwrap_or_default()
    );
    let verdict = match (r.verdict.drift, r.verdict.since_training) {
        (false, _) => "no drift",
        (true, false) => "DRIFT (before the active model was trained)",
        (true, true) => "DRIFT since the active model was trained",
    };
    println!("verdict: {verdict}");
    for f in &r.verdict.flags {
        println!("  {}", f.describe());
    }
    let head = |first: &str| {
        println!(
            "{first:<22} {:>8} {:>8} {:>9} {:>6} {:>6} {:>4} {:>9} {:>9}",
            "controls", "findings", "expected", "O/E", "z", "flag", "screened", "new share"
        )
    };
    let line = |r: &riskgate_app::drift::Row| {
        let name = r.label.as_deref().map_or_else(|| r.key.clone(), |l| format!("{} {l}", r.key));
        let name: String = name.chars().take(22).collect();
        println!(
            "{:<22} {:>8} {:>8} {:>9.1} {:>6} {:>6} {:>4} {:>9} {:>9}",
            name,
            r.controls,
            r.findings,
            r.expected,
            r.ratio.map_or_else(|| "—".to_string(), |x| format!("{x:.2}")),
            r.z.map_or_else(|| "—".to_string(), |z| format!("{z:+.1}")),
            if r.flagged { "*" } else { "" },
            r.screened.map_or_else(|| "".to_string(), |n| n.to_string()),
            if r.screened.is_some() { pct(r.new_trader_share) } else { String::new() },
        );
    };
    for (title, rows) in
        [("week", &r.by_week), ("office", &r.by_office), ("model", &r.by_model), ("trader", &r.by_trader)]
    {
        println!();
        head(title);
        rows.iter().for_each(line);
    }
    if let Some(s) = &r.since_training {
        println!();
        head("since training");
        line(s);
    }
    println!();
    head("(total)");
    line(&r.total);
    println!(
        "{} completed controls without a learned model's score are left out. * |z| ≥ {} with at least {} findings \
         observed or expected; new traders: first declaration less than {} days before",
        r.unscored_controls, t.z, t.min_count, t.new_trader_days
    );
}

/// A key's figures month by month (`riskgate analysis --trend`).
pub fn print_key_trend(t: &riskgate_app::analysis::KeyTrend) {
    println!("{} {} {} by month", t.unit, t.dim, t.key);
    println!(
        "{:<8} {:>9} {:>8} {:>8} {:>9} {:>14}",
        "month", "decl.", "controls", "findings", "hit rate", "add. duty CNY"
    );
    for m in &t.months {
        let r = &m.figures;
        println!(
            "{:<8} {:>9} {:>8} {:>8} {:>9} {:>14.0}",
            m.month,
            r.declarations,
            r.controls,
            r.findings,
            pct(r.hit_rate),
            r.additional_duty_cny
        );
    }
}

/// The workforce KPIs of each unit as a second table.
pub fn print_workforce(units: &[Unit]) {
    println!("\n{:<18} {:>10} {:>10} {:>10} {:>12}", "unit", "lit.win", "IA pass", "lead.pass", "misconduct/y");
    for u in units {
        let f = |k: &str| figure(u, k);
        println!(
            "{:<18} {:>10} {:>10} {:>10} {:>12}",
            indented_code(u),
            pct(f("litigation_win_rate")),
            pct(f("internal_affairs_pass_rate")),
            pct(f("leadership_assessment_pass_rate")),
            pct(f("misconduct_case_rate")),
        );
    }
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
            (None, Some(p)) => format!("         p {p:.2e}"),
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

pub fn print_evaluation(id: &str, e: &Evaluation) {
    println!("model {id}");
    println!(
        "  trained on {} controlled declarations ({} findings), {} … {}; {:.1} s; {} bytes",
        e.train_rows, e.train_findings, e.train_window.0, e.train_window.1, e.train_seconds, e.model_bytes
    );
    println!(
        "  evaluated on {} later ones ({} findings), {} … {}; AUC {:.3}",
        e.eval_rows, e.eval_findings, e.eval_window.0, e.eval_window.1, e.auc
    );
    println!(
        "  in service: trained on {} controlled declarations ({} findings){}{}",
        e.deployed_rows,
        e.deployed_findings,
        if e.deployed_rows > e.train_rows { ", the evaluation window included" } else { "" },
        e.half_life_days.map(|h| format!("; recent outcomes weigh more (half-life {h} days)")).unwrap_or_default()
    );
    println!("  control rate   precision   recall   revenue share   (inverse-propensity weighted)");
    for r in &e.at {
        println!(
            "  {:>11.0}%   {:>8.1}%   {:>5.1}%   {:>12.1}%",
            r.rate * 100.0,
            r.precision * 100.0,
            r.recall * 100.0,
            r.revenue_share * 100.0
        );
    }
}

/// ", first N by expected duty" when a list shows N of its `total`.
fn first_by_duty(shown: usize, total: usize) -> String {
    if shown < total { format!(", first {shown} by expected duty") } else { String::new() }
}

/// `riskgate money-flow` as a table: flagged traders first.
pub fn print_money_flow(r: &riskgate_app::moneyflow::Reconciliation) {
    println!(
        "资金流核对 / money flow: {} traders, {} marked (paid above declared: {:.0} CNY)",
        r.traders, r.flagged, r.flagged_gap_cny
    );
    println!(
        "{:<20} {:>6} {:>14} {:>6} {:>14} {:>7} {:>14} {:>6}  flag",
        "trader", "decl.", "declared CNY", "paym.", "paid CNY", "ratio", "invoiced CNY", "inv/d"
    );
    let ratio = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |x| format!("{x:.2}"));
    for t in &r.rows {
        println!(
            "{:<20} {:>6} {:>14.0} {:>6} {:>14.0} {:>7} {:>14.0} {:>6}  {}",
            t.trader,
            t.declarations,
            t.declared_cny,
            t.payments,
            t.paid_cny,
            ratio(t.paid_ratio),
            t.invoiced_cny,
            ratio(t.invoiced_ratio),
            if t.flagged { "高于申报 / above declared" } else { "" }
        );
        for reason in &t.reasons {
            println!("{:<20} {reason}", "");
        }
    }
    println!(
        "\n付汇高于申报的报关单（按单证号复核，后续稽查候选）/ declarations paid above their declared value by \
         invoice number (post-clearance audit candidates): {}{}",
        r.overpaid_total,
        first_by_duty(r.overpaid.len(), r.overpaid_total)
    );
    if !r.overpaid.is_empty() {
        println!(
            "{:<20} {:<20} {:>6} {:>14} {:>14} {:>6} {:>14}  at decision",
            "declaration", "trader", "office", "declared CNY", "paid CNY", "ratio", "exp. duty CNY"
        );
    }
    for d in &r.overpaid {
        println!(
            "{:<20} {:<20} {:>6} {:>14.0} {:>14.0} {:>6.2} {:>14.0}  {}",
            d.declaration_id,
            d.trader,
            d.office,
            d.declared_cny,
            d.paid_cny,
            d.ratio,
            d.expected_duty_cny,
            if d.seen_at_decision { "seen / 已见" } else { "later / 放行后到账" }
        );
    }
    println!(
        "\n增值税发票与申报不符的报关单（后续稽查线索）/ declarations a later VAT invoice contradicts \
         (post-clearance audit leads): {}{}",
        r.invoice_checks_total,
        first_by_duty(r.invoice_checks.len(), r.invoice_checks_total)
    );
    if !r.invoice_checks.is_empty() {
        println!(
            "{:<20} {:<20} {:>6} {:<11} {:>12} {:>12} {:>14} {:>6} {:>14} {:>5}",
            "declaration",
            "trader",
            "office",
            "finding",
            "declared HS",
            "invoice HS",
            "invoice CNY",
            "ratio",
            "exp. duty CNY",
            "cand."
        );
    }
    for c in &r.invoice_checks {
        println!(
            "{:<20} {:<20} {:>6} {:<11} {:>12} {:>12} {:>14.0} {:>6.2} {:>14.0} {:>5}",
            c.declaration_id,
            c.trader,
            c.office,
            match c.finding {
                riskgate_app::moneyflow::InvoiceFinding::Code => "code/编码",
                riskgate_app::moneyflow::InvoiceFinding::Value => "value/货值",
            },
            c.declared_hs_code,
            c.invoice_hs_code,
            c.invoice_cny,
            c.ratio,
            c.expected_duty_cny,
            c.candidates
        );
    }
}
