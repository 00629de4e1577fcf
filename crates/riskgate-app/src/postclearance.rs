//! Post-clearance audit selection (M11, issue 12): which released
//! declarations, and which traders, are worth an audit after the goods
//! have gone, ranked by the duty an audit is expected to recover.
//!
//! At screening a declaration is judged with what is known before its
//! decision. After release more is known, and this is what selection uses:
//!
//! * **the payments abroad made since** — re-matched by invoice reference
//!   at any date up to now, and, without a reference, by trader and amount
//!   in a window around the declaration (`PAY_BEFORE_DAYS` before to
//!   `PAY_AFTER_DAYS` after); a payment well above the declared value is
//!   the under-declaration signal, and the undeclared value gives the duty
//!   an audit would recover (`gap_duty`);
//! * **what controls found since** on the same trader, declarant, goods,
//!   routes and overseas parties — the learned model scores the declaration
//!   again in the context as it stands now (`Engine::rescore`);
//! * **the VAT invoices issued since** — an invoice that contradicts the
//!   declared goods code or value (`moneyflow::invoice_checks`) sets a
//!   floor under the chance (`INVOICE_PROBABILITY`) and gives the duty it
//!   implies;
//! * **whether a control already looked** — a completed control without a
//!   finding lowers the chance (`CHECKED_PHYSICAL`, `CHECKED_DOCUMENT`);
//! * **the trader's risk level** (M3), as a reason.
//!
//! Each row carries the expected recoverable duty (`expected_duty`,
//! probability × duty a finding recovers) as its `score`, with reasons a
//! department can act on. Traders are ranked by the sum over their
//! released declarations (an enterprise audit).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use riskgate_core::{CaseKind, CaseQuery, Channel, Declaration, Direction};
use riskgate_engine::ForexMatch;
use riskgate_engine::context::AMOUNT_TOLERANCE;
use serde::Serialize;

use crate::app::App;

/// Payments without reference made this many days before a declaration…
pub const PAY_BEFORE_DAYS: i64 = 30;
/// …to this many days after it are matched to it after release.
pub const PAY_AFTER_DAYS: i64 = 90;
/// An over-payment is taken up to this multiple of the declared value.
pub const MAX_PAID_RATIO: f64 = 4.0;
/// Import VAT (增值税) on the undeclared value, on top of the duty.
pub use crate::moneyflow::IMPORT_VAT;
/// The chance that remains after a completed physical inspection (red)
/// found nothing, relative to the model's probability…
pub const CHECKED_PHYSICAL: f64 = 0.3;
/// …and after a document check (yellow) found nothing.
pub const CHECKED_DOCUMENT: f64 = 0.7;
/// The chance of a finding at least, when a later VAT invoice contradicts
/// the declaration. Measured on two generated worlds, 89–100% of the
/// contradicted imports were fraudulent (BENCHMARKS.md "VAT invoices
/// against the declared goods"); half of that is taken, as the invoice
/// carries no customs reference.
pub const INVOICE_PROBABILITY: f64 = 0.5;
/// The period when none is given, in days up to now, and the longest.
pub const DEFAULT_DAYS: i64 = 92;
pub const MAX_DAYS: i64 = 367;

/// How the rows are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rank {
    /// Expected recoverable duty (probability × duty a finding recovers).
    Duty,
    /// Probability of a finding alone.
    Probability,
    /// Probability × √(duty a finding recovers): between the two (measured
    /// on generated worlds: nearly the finding rate of `probability` with
    /// most of the duty of `duty`, BENCHMARKS.md "Post-clearance audit
    /// selection").
    Balanced,
}

impl Rank {
    pub fn parse(s: &str) -> Result<Rank> {
        match s {
            "duty" => Ok(Rank::Duty),
            "probability" => Ok(Rank::Probability),
            "balanced" => Ok(Rank::Balanced),
            _ => Err(crate::AppError::invalid(
                "rank",
                format!("rank: expected duty, probability or balanced, got {s:?}"),
            )
            .into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Query {
    /// Declarations declared in `[from, to)` (seconds); default: the
    /// `DEFAULT_DAYS` up to now.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only declarations of these offices (the caller's subtree); `None`: all.
    pub offices: Option<Vec<String>>,
    pub limit: usize,
    pub rank: Rank,
    /// Name the rules that fire in the reasons (only for those who may
    /// read rule reasons: risk analysts and the operator).
    pub rule_reasons: bool,
}

/// One released declaration proposed for a post-clearance audit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub declaration_id: String,
    pub trader: String,
    pub office: String,
    /// RFC 3339.
    pub declared_at: String,
    /// What the rows are ranked by: the expected duty, or the probability
    /// (`rank`).
    pub score: f64,
    /// Probability that an audit finds something, as known now.
    pub probability: f64,
    /// Expected recoverable duty and import VAT, CNY: probability × the
    /// duty a finding recovers.
    pub expected_duty: f64,
    /// The duty a finding is expected to recover: the model's estimate,
    /// or the duty and VAT on the undeclared value when payments abroad
    /// exceed the declared value, whichever is larger.
    pub duty_if_found: f64,
    /// The risk value stored at screening, and the lane.
    pub risk_value_at_screening: Option<f64>,
    pub channel: Option<String>,
    pub declared_cny: f64,
    /// Payments abroad matched to it now, CNY, and how.
    pub paid_cny: Option<f64>,
    pub paid_ratio: Option<f64>,
    pub paid_by_reference: Option<bool>,
    /// A later VAT invoice of the trader contradicts its goods code or value.
    pub invoice: Option<crate::moneyflow::InvoiceFinding>,
    pub reasons: Vec<String>,
    /// The reasons from the money flow (payments abroad, VAT invoices),
    /// apart from `reasons`: an audit case keeps them apart too, so that
    /// roles that may not read money flow read the case without them.
    pub money_flow: Vec<String>,
}

/// One trader proposed for an enterprise audit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TraderCandidate {
    pub trader: String,
    pub name: Option<String>,
    /// Sum of the expected duty of its released declarations in the period.
    pub score: f64,
    pub expected_duty: f64,
    pub declarations: usize,
    /// Its declarations with payments abroad above the declared value.
    pub overpaid_declarations: usize,
    pub risk_level: Option<String>,
    /// Its highest-ranked declarations.
    pub top_declarations: Vec<String>,
    pub reasons: Vec<String>,
    /// The reasons from the money flow (as `Candidate::money_flow`).
    pub money_flow: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Selection {
    /// The period's first and last days (China time), and the time of selection.
    pub from: String,
    pub to: String,
    pub selected_at: String,
    pub rank: Rank,
    /// Released declarations of the period considered (not audited, no
    /// finding yet, no audit case open).
    pub considered: usize,
    /// Of those, with payments abroad above their declared value.
    pub overpaid: usize,
    /// The model that scored them (`None`: no model answered; rows are
    /// ranked on the payments alone).
    pub scorer: Option<String>,
    pub declarations: Vec<Candidate>,
    pub traders: Vec<TraderCandidate>,
}

/// Selects: every candidate scored, the first `limit` declarations and
/// traders returned.
pub fn select(app: &mut App, q: &Query) -> Result<Selection> {
    let (from, to) = period(q)?;
    let mut all = candidates_with(app, from, to, q.offices.as_deref(), q.rank, q.rule_reasons)?;
    let considered = all.rows.len();
    let overpaid = all.rows.iter().filter(|c| c.paid_ratio.is_some_and(|r| r > 1.0 + AMOUNT_TOLERANCE)).count();
    let traders = traders(app, &all.rows, q.limit, &all.levels)?;
    all.rows.truncate(q.limit);
    Ok(Selection {
        from: crate::app::china_date(from),
        to: crate::app::china_date(to - 1),
        selected_at: all.now.to_rfc3339(),
        rank: q.rank,
        considered,
        overpaid,
        scorer: all.scorer,
        declarations: all.rows,
        traders,
    })
}

fn period(q: &Query) -> Result<(i64, i64)> {
    period_bounds(q.from, q.to)
}

/// The period `[from, to)` of a selection (post-clearance or specialised):
/// default the [`DEFAULT_DAYS`] up to now, at most [`MAX_DAYS`].
pub(crate) fn period_bounds(from: Option<i64>, to: Option<i64>) -> Result<(i64, i64)> {
    let to = to.unwrap_or_else(|| crate::app::now().timestamp());
    let from = from.unwrap_or(to - DEFAULT_DAYS * 86_400);
    if to <= from {
        return Err(crate::AppError::invalid("to", "to: the period must end after it starts").into());
    }
    if to - from > MAX_DAYS * 86_400 {
        return Err(crate::AppError::invalid(
            "from",
            format!("from: select over at most {MAX_DAYS} days at a time (a year and a day)"),
        )
        .into());
    }
    Ok((from, to))
}

pub struct Scored {
    pub rows: Vec<Candidate>,
    pub scorer: Option<String>,
    pub now: chrono::DateTime<chrono::FixedOffset>,
    /// The latest risk level of each enterprise, read once for the rows
    /// and the traders.
    levels: HashMap<String, String>,
}

/// Every released declaration of `[from, to)` in scope that an audit could
/// still look at, scored as known now, best first.
pub fn candidates(app: &mut App, from: i64, to: i64, offices: Option<&[String]>, rank: Rank) -> Result<Scored> {
    candidates_with(app, from, to, offices, rank, true)
}

/// As [`candidates`]; `rule_reasons`: name the rules that fire in the reasons.
fn candidates_with(
    app: &mut App,
    from: i64,
    to: i64,
    offices: Option<&[String]>,
    rank: Rank,
    rule_reasons: bool,
) -> Result<Scored> {
    let now = crate::app::now();
    let audited = audit_cases(app)?;
    // The period's declarations, every one (a payment is matched among all
    // of them, whatever the scope), with whether a release leaves it to audit.
    let mut rows: Vec<(Declaration, Option<riskgate_core::Decision>, Option<Channel>, bool)> = Vec::new();
    app.store.history(Some(from), Some(to), &mut |r| {
        let found = r.outcomes.iter().any(|o| o.is_finding() || o.seizure);
        let audited_before = r.outcomes.iter().any(|o| o.control == riskgate_core::ControlKind::Audit);
        // Controlled and still open: not released yet (unless the lane was
        // overridden to green: released without the control).
        let controlled = r.decision.as_ref().is_some_and(|d| d.channel.is_control());
        let open = controlled && r.outcomes.is_empty() && r.released_at.is_none();
        let keep = !(found
            || audited_before
            || open
            || audited.contains(&r.declaration.id)
            || offices.is_some_and(|o| !o.contains(&r.declaration.office)));
        let checked = r
            .outcomes
            .iter()
            .map(|o| match o.control {
                riskgate_core::ControlKind::Physical => Channel::Red,
                _ => Channel::Yellow,
            })
            .max();
        rows.push((r.declaration, r.decision, checked, keep));
    })?;
    // Everything known now counts: the outcomes completed since the last
    // decision, which wait in the context for a later one, are folded in.
    // (Selection runs on an app of its own over HTTP and is the CLI's last
    // act, so no later decision of this engine is made at an earlier time.)
    app.engine.context.advance_to(now.timestamp());
    let all_matches = match_payments(app, rows.iter().map(|r| &r.0), now.timestamp());
    let (rows, matches): (Vec<_>, Vec<_>) = rows.into_iter().zip(all_matches).filter(|(r, _)| r.3).unzip();
    let levels = enterprise_levels(app)?;
    let invoices: HashMap<String, crate::moneyflow::InvoiceCheck> =
        crate::moneyflow::invoice_checks(app.store.as_ref(), from, to, offices, None)?
            .into_iter()
            .map(|c| (c.declaration_id.clone(), c))
            .collect();
    let scorer_name = app.engine.policy_id().split('+').next().map(str::to_string).filter(|s| s != "none");
    let mut out = Vec::with_capacity(rows.len());
    let mut any_score = false;
    for (i, (d, decision, checked, _)) in rows.iter().enumerate() {
        let declared = d.total_value_cny();
        let fx = matches[i];
        let mut reasons = Vec::new();
        let mut money_flow = Vec::new();
        let scored = app.engine.rescore(d, fx);
        let (mut p, model_duty) = match &scored {
            Some((s, rule_w, titles)) => {
                any_score = true;
                let p = 1.0 - (1.0 - s.probability) * (1.0 - rule_w);
                let duty = if s.probability > 0.0 { s.expected_revenue_cny / s.probability } else { 0.0 };
                let top: Vec<String> = s
                    .contributions
                    .iter()
                    .filter(|(_, v)| *v > 0.0)
                    .take(3)
                    .map(|(n, v)| format!("{n} +{v:.2}"))
                    .collect();
                reasons.push(format!(
                    "模型按现有信息估计发现概率 {:.1}% / model, as known now: probability of a finding {:.1}%{}",
                    100.0 * s.probability,
                    100.0 * s.probability,
                    if top.is_empty() { String::new() } else { format!(" ({})", top.join(", ")) }
                ));
                if rule_reasons {
                    for t in titles {
                        let id = t.split(' ').next().unwrap_or_default();
                        reasons.push(format!("命中规则 {id} / rule {id} fires"));
                    }
                }
                (p, duty)
            }
            None => (0.0, 0.0),
        };
        let rate = d.duty_rate();
        let mut gap_duty = 0.0;
        if let Some(m) = fx
            && m.ratio > 1.0 + AMOUNT_TOLERANCE
            && d.direction == Direction::Import
        {
            gap_duty = (m.paid_cny - declared) * (rate + IMPORT_VAT * (1.0 + rate));
            money_flow.push(format!(
                "境外付汇 {paid:.0} 元，为申报货值 {declared:.0} 元的 {ratio:.2} 倍（{zh}），差额应补税款约 {gap:.0} 元 / \
                 paid abroad {paid:.0} CNY = {ratio:.2}× the declared {declared:.0} CNY ({en}); duty and VAT on the gap \
                 about {gap:.0} CNY",
                paid = m.paid_cny,
                ratio = m.ratio,
                gap = gap_duty,
                zh = if m.by_reference { "按发票号匹配" } else { "无发票号，按企业和金额匹配" },
                en = if m.by_reference { "by invoice reference" } else { "matched by amount without reference" },
            ));
            if scored.is_none() {
                // Without a model, the payments alone: a large over-payment
                // is taken at face value.
                p = p.max(0.5);
            }
        }
        match checked {
            Some(Channel::Red) => {
                p *= CHECKED_PHYSICAL;
                reasons.push("已查验未发现 / physically inspected without finding".into());
            }
            Some(_) => {
                p *= CHECKED_DOCUMENT;
                reasons.push("单证审核未发现 / document check without finding".into());
            }
            None => {}
        }
        if let Some(l) = levels.get(&d.trader.id)
            && l != "low"
        {
            reasons.push(format!("企业风险等级{} / trader risk level {l}", level_zh(l)));
        }
        // A later invoice that contradicts it: newer than any control.
        // (Every mark names one import and a duty; a mark without one would
        // raise the chance on no evidence.)
        let invoice = invoices.get(&d.id).filter(|c| c.expected_duty_cny > 0.0);
        let invoice_duty = invoice.map_or(0.0, |c| c.expected_duty_cny);
        if let Some(c) = invoice {
            p = p.max(INVOICE_PROBABILITY);
            money_flow.extend(c.reasons.iter().cloned());
        }
        let duty_if_found = model_duty.max(gap_duty).max(invoice_duty);
        let expected = p * duty_if_found;
        out.push(Candidate {
            declaration_id: d.id.clone(),
            trader: d.trader.id.clone(),
            office: d.office.clone(),
            declared_at: d.declared_at.to_rfc3339(),
            score: match rank {
                Rank::Duty => round2(expected),
                Rank::Probability => round4(p),
                Rank::Balanced => round2(p * duty_if_found.max(0.0).sqrt()),
            },
            probability: round4(p),
            expected_duty: round2(expected),
            duty_if_found: round2(duty_if_found),
            risk_value_at_screening: decision.as_ref().map(|x| x.risk_value),
            channel: decision.as_ref().map(|x| x.channel.as_str().to_string()),
            declared_cny: round2(declared),
            paid_cny: fx.map(|m| round2(m.paid_cny)),
            paid_ratio: fx.map(|m| round4(m.ratio)),
            paid_by_reference: fx.map(|m| m.by_reference),
            invoice: invoice.map(|c| c.finding),
            reasons,
            money_flow,
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.expected_duty.total_cmp(&a.expected_duty))
            .then(a.declaration_id.cmp(&b.declaration_id))
    });
    Ok(Scored { rows: out, scorer: if any_score { scorer_name } else { None }, now, levels })
}

/// Declarations with a post-clearance audit case that still stands (a
/// rejected one leaves the declaration to a later plan).
fn audit_cases(app: &App) -> Result<HashSet<String>> {
    Ok(app
        .store
        .cases(&CaseQuery { kind: Some(CaseKind::PostClearanceAudit), ..Default::default() })?
        .into_iter()
        .filter(|c| c.status != riskgate_core::CaseStatus::Rejected)
        .filter_map(|c| c.declaration_id)
        .collect())
}

/// The payments abroad matched to each declaration now, with every payment
/// made up to `now`: by invoice reference (summed, as at screening), else,
/// for an import, by trader and amount among the payments without
/// reference made from `PAY_BEFORE_DAYS` before to `PAY_AFTER_DAYS` after
/// it. Each such payment pays at most one declaration: first the payments
/// within `AMOUNT_TOLERANCE` of a declared value (closest in time), then,
/// for the imports left unpaid, the nearest payment above the declared
/// value up to `MAX_PAID_RATIO` times it (the under-declaration signal).
fn match_payments<'a>(app: &App, decls: impl Iterator<Item = &'a Declaration>, now: i64) -> Vec<Option<ForexMatch>> {
    let fx = &app.engine.context.forex;
    let decls: Vec<&Declaration> = decls.collect();
    let mut out: Vec<Option<ForexMatch>> = vec![None; decls.len()];
    let mut by_trader: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in decls.iter().enumerate() {
        let declared = d.total_value_cny();
        if declared <= 0.0 {
            continue;
        }
        if let Some(paid) = fx.paid_by_reference(d, now) {
            out[i] = Some(ForexMatch { paid_cny: paid, ratio: paid / declared, by_reference: true });
        } else if d.direction == Direction::Import {
            by_trader.entry(d.trader.id.as_str()).or_default().push(i);
        }
    }
    const DAY: i64 = 86_400;
    for (trader, idx) in by_trader {
        let Some(ps) = fx.unreferenced.get(trader) else { continue };
        let mut used = vec![false; ps.len()];
        let window = |d: &Declaration| {
            let t = d.declared_at.timestamp();
            let lo = ps.partition_point(|p| p.paid_at < t - PAY_BEFORE_DAYS * DAY);
            let hi = ps.partition_point(|p| p.paid_at <= (t + PAY_AFTER_DAYS * DAY).min(now));
            (t, lo, hi.max(lo))
        };
        // First the payments that pay a declared value (ratio within the
        // tolerance), then, for the imports left unpaid, over-payments: in
        // each pass the nearest unused payment in the import's window.
        let pays = |r: f64| (r - 1.0).abs() <= AMOUNT_TOLERANCE;
        let overpays = |r: f64| r > 1.0 + AMOUNT_TOLERANCE && r <= MAX_PAID_RATIO;
        for accept in [&pays as &dyn Fn(f64) -> bool, &overpays] {
            for &i in &idx {
                if out[i].is_some() {
                    continue;
                }
                let d = decls[i];
                let declared = d.total_value_cny();
                let (t, lo, hi) = window(d);
                let best = (lo..hi)
                    .filter(|&j| !used[j] && accept(ps[j].amount_cny / declared))
                    .min_by_key(|&j| (ps[j].paid_at - t).abs());
                if let Some(j) = best {
                    used[j] = true;
                    let paid = ps[j].amount_cny;
                    out[i] = Some(ForexMatch { paid_cny: paid, ratio: paid / declared, by_reference: false });
                }
            }
        }
    }
    out
}

/// The latest risk level of each enterprise (M3).
fn enterprise_levels(app: &App) -> Result<HashMap<String, String>> {
    let mut latest: HashMap<String, (i64, String)> = HashMap::new();
    for r in app.store.risk_levels("enterprise", None)? {
        let e = latest.entry(r.key).or_insert((i64::MIN, String::new()));
        if r.computed_at >= e.0 {
            *e = (r.computed_at, r.level);
        }
    }
    Ok(latest.into_iter().map(|(k, (_, l))| (k, l)).collect())
}

/// Traders by the expected duty of their released declarations.
fn traders(
    app: &App,
    rows: &[Candidate],
    limit: usize,
    levels: &HashMap<String, String>,
) -> Result<Vec<TraderCandidate>> {
    let mut by: HashMap<&str, TraderCandidate> = HashMap::new();
    for c in rows {
        let t = by.entry(c.trader.as_str()).or_insert_with(|| TraderCandidate {
            trader: c.trader.clone(),
            name: None,
            score: 0.0,
            expected_duty: 0.0,
            declarations: 0,
            overpaid_declarations: 0,
            risk_level: None,
            top_declarations: Vec::new(),
            reasons: Vec::new(),
            money_flow: Vec::new(),
        });
        t.expected_duty += c.expected_duty;
        t.declarations += 1;
        if c.paid_ratio.is_some_and(|r| r > 1.0 + AMOUNT_TOLERANCE) {
            t.overpaid_declarations += 1;
        }
        if t.top_declarations.len() < 5 {
            t.top_declarations.push(c.declaration_id.clone());
        }
    }
    let mut out: Vec<TraderCandidate> = by.into_values().collect();
    for t in &mut out {
        t.expected_duty = round2(t.expected_duty);
        t.score = t.expected_duty;
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.trader.cmp(&b.trader)));
    out.truncate(limit);
    let names: HashMap<String, String> = if out.is_empty() {
        HashMap::new()
    } else {
        app.store.enterprises()?.into_iter().map(|e| (e.id, e.name)).collect()
    };
    for t in &mut out {
        t.name = names.get(&t.trader).cloned();
        t.risk_level = levels.get(&t.trader).cloned();
        t.reasons.push(format!(
            "{} 份放行报关单预计可追补 {:.0} 元 / {} released declarations, expected duty {:.0} CNY",
            t.declarations, t.expected_duty, t.declarations, t.expected_duty
        ));
        if t.overpaid_declarations > 0 {
            t.money_flow.push(format!(
                "{} 份付汇高于申报 / {} paid abroad above their declared value",
                t.overpaid_declarations, t.overpaid_declarations
            ));
        }
        if let Some(l) = &t.risk_level {
            t.reasons.push(format!("企业风险等级{} / risk level {l}", level_zh(l)));
        }
    }
    Ok(out)
}

/// An audit case's opening note: its reasons, one a line, whole lines up
/// to 4,000 characters (a line cut in two would no longer be recognised as
/// a money-flow line when the case is withheld from a role).
fn opening_note<'a>(lines: impl Iterator<Item = &'a String>) -> String {
    let mut note = String::new();
    for l in lines {
        let sep = usize::from(!note.is_empty());
        if note.chars().count() + sep + l.chars().count() > 4_000 {
            break;
        }
        if sep == 1 {
            note.push('\n');
        }
        note.push_str(l);
    }
    note
}

/// A risk level in Chinese.
fn level_zh(l: &str) -> &'static str {
    match l {
        "high" => "高",
        "medium" => "中",
        "low" => "低",
        _ => "未定",
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// An audit plan: the audits each unit can do in the period ahead.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The declarations to choose from (as `Query`; its `limit` and `rank`
    /// are not used: every candidate is ranked by expected duty).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The caller's offices (`None`: all); every unit must be among them.
    pub offices: Option<Vec<String>>,
    /// Audits per unit (an office, or a district covering its offices);
    /// units may not overlap.
    pub capacity: Vec<(String, usize)>,
    /// Share of each unit's capacity drawn at random among the candidates
    /// not ranked in (0 to 0.5): the audits that see what the ranking
    /// cannot, and make the learning unbiased.
    pub explore: f64,
    /// Names the plan; the random draws are keyed on it (deterministic).
    pub name: Option<String>,
    /// Choose, but open no case.
    pub dry_run: bool,
}

/// Default share of the capacity drawn at random.
pub const DEFAULT_EXPLORE: f64 = 0.1;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedAudit {
    pub declaration_id: String,
    pub trader: String,
    pub office: String,
    pub unit: String,
    /// `ranked` or `random`.
    pub drawn: String,
    pub selection_probability: f64,
    pub expected_duty: f64,
    pub probability: f64,
    /// The case opened for it (none on a dry run).
    pub case_id: Option<i64>,
    pub reasons: Vec<String>,
    /// The reasons from the money flow (as `Candidate::money_flow`).
    pub money_flow: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitPlan {
    pub unit: String,
    pub capacity: usize,
    /// Candidates in the unit.
    pub candidates: usize,
    pub ranked: usize,
    pub random: usize,
    /// Expected duty of the audits chosen (CNY).
    pub expected_duty: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub name: String,
    pub from: String,
    pub to: String,
    pub explore: f64,
    pub dry_run: bool,
    pub units: Vec<UnitPlan>,
    pub audits: Vec<PlannedAudit>,
}

/// Most audits one plan may open.
pub const MAX_PLAN_AUDITS: usize = 10_000;

/// Chooses the audits of each unit — the best `capacity × (1 − explore)`
/// by expected duty, and the rest drawn uniformly among the unit's other
/// candidates, each with its selection probability — and opens a
/// post-clearance audit case (稽查) for each, owned by the audit
/// department, with the reasons and the probability (`Case::selection`).
/// Its result, when the department concludes it, comes back as an audit
/// outcome carrying that probability, finding or not.
pub fn plan(app: &mut App, actor: &crate::cases::Actor, req: &PlanRequest) -> Result<Plan> {
    let plan = choose(app, req)?;
    if req.dry_run { Ok(plan) } else { open_plan(app, actor, plan) }
}

/// The audits of a plan, chosen but not opened (see [`plan`]): the scoring
/// half, which reads only and may run on its own connection and engine.
pub fn choose(app: &mut App, req: &PlanRequest) -> Result<Plan> {
    use crate::AppError;
    if !(0.0..=0.5).contains(&req.explore) || !req.explore.is_finite() {
        return Err(AppError::invalid(
            "explore",
            format!("explore: expected a share from 0 to 0.5, got {}", req.explore),
        )
        .into());
    }
    if req.capacity.is_empty() {
        return Err(AppError::invalid("capacity", "capacity: name at least one unit and its audits (UNIT=N)").into());
    }
    let total = req.capacity.iter().try_fold(0usize, |a, c| a.checked_add(c.1)).unwrap_or(usize::MAX);
    if total == 0 || total > MAX_PLAN_AUDITS {
        return Err(AppError::invalid(
            "capacity",
            format!("capacity: expected 1 to {MAX_PLAN_AUDITS} audits in all, got {total}"),
        )
        .into());
    }
    let offices = app.store.offices()?;
    let mut unit_of: HashMap<String, String> = HashMap::new();
    for (unit, _) in &req.capacity {
        if !offices.iter().any(|o| o.code == *unit) {
            return Err(AppError::invalid("capacity", format!("capacity: no office or district {unit:?}")).into());
        }
        if req.offices.as_ref().is_some_and(|o| !o.contains(unit)) {
            return Err(
                AppError::invalid("capacity", format!("capacity: {unit} is not among the caller's offices")).into()
            );
        }
        for code in crate::accounts::subtree(&offices, unit) {
            if let Some(other) = unit_of.insert(code.clone(), unit.clone()) {
                return Err(AppError::invalid(
                    "capacity",
                    format!("capacity: units {other} and {unit} overlap (both cover {code}): name each office once"),
                )
                .into());
            }
        }
    }
    let name = match &req.name {
        Some(n) if !n.trim().is_empty() && n.trim().chars().count() <= 64 && !n.chars().any(char::is_control) => {
            n.trim().to_string()
        }
        Some(_) => {
            return Err(
                AppError::invalid("name", "name: expected 1 to 64 characters without control characters").into()
            );
        }
        None => format!("audit-plan-{}", crate::app::now().format("%Y%m%d-%H%M%S")),
    };
    let q = Query {
        from: req.from,
        to: req.to,
        offices: req.offices.clone(),
        limit: usize::MAX,
        rank: Rank::Duty,
        rule_reasons: false,
    };
    let (from, to) = period(&q)?;
    let scored = candidates_with(app, from, to, req.offices.as_deref(), Rank::Duty, false)?;
    let mut units = Vec::new();
    let mut audits = Vec::new();
    for (unit, cap) in &req.capacity {
        // The unit's candidates, best first (as ranked).
        let mine: Vec<&Candidate> =
            scored.rows.iter().filter(|c| unit_of.get(&c.office).is_some_and(|u| u == unit)).collect();
        let cap = (*cap).min(mine.len());
        let random = ((cap as f64) * req.explore).round() as usize;
        let ranked = cap - random;
        let rest = &mine[ranked..];
        // A keyed uniform draw without replacement: the `random` smallest keys.
        let mut keyed: Vec<(f64, &Candidate)> = rest
            .iter()
            .map(|c| (riskgate_core::rng::keyed_uniform(0, &format!("audit-plan/{name}/{}", c.declaration_id)), *c))
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.declaration_id.cmp(&b.1.declaration_id)));
        let p_random = if rest.is_empty() { 0.0 } else { random as f64 / rest.len() as f64 };
        let mut unit_duty = 0.0;
        let chosen = mine[..ranked]
            .iter()
            .map(|c| (*c, "ranked", 1.0))
            .chain(keyed.iter().take(random).map(|(_, c)| (*c, "random", p_random)));
        for (c, drawn, p) in chosen {
            unit_duty += c.expected_duty;
            audits.push(PlannedAudit {
                declaration_id: c.declaration_id.clone(),
                trader: c.trader.clone(),
                office: c.office.clone(),
                unit: unit.clone(),
                drawn: drawn.into(),
                // Exact: a national draw among 10⁵ candidates is ~1e-4.
                selection_probability: p.max(1e-12),
                expected_duty: c.expected_duty,
                probability: c.probability,
                case_id: None,
                reasons: c.reasons.clone(),
                money_flow: c.money_flow.clone(),
            });
        }
        units.push(UnitPlan {
            unit: unit.clone(),
            capacity: cap,
            candidates: mine.len(),
            ranked,
            random,
            expected_duty: round2(unit_duty),
        });
    }
    Ok(Plan {
        name,
        from: crate::app::china_date(from),
        to: crate::app::china_date(to - 1),
        explore: req.explore,
        dry_run: true,
        units,
        audits,
    })
}

/// Opens the cases of a chosen plan ([`choose`]) and logs the plan: one
/// post-clearance audit case per audit, owned by the audit department,
/// with its reasons and selection probability, and the plan's entry naming
/// them: all in one transaction, or nothing. A declaration that got an
/// audit case since it was chosen is skipped.
pub fn open_plan(app: &mut App, actor: &crate::cases::Actor, mut plan: Plan) -> Result<Plan> {
    let audited = audit_cases(app)?;
    plan.audits.retain(|a| !audited.contains(&a.declaration_id));
    let name = plan.name.clone();
    let chosen: Vec<_> = plan
        .audits
        .iter()
        .map(|a| {
            let title = format!(
                "稽查 / post-clearance audit {} — 预计可追补 / expected duty {:.0} CNY ({})",
                a.declaration_id, a.expected_duty, a.drawn
            );
            let new = crate::cases::NewCase {
                kind: CaseKind::PostClearanceAudit.as_str().into(),
                declaration_id: Some(a.declaration_id.clone()),
                enterprise: Some(a.trader.clone()),
                officer: None,
                office: None,
                title,
                note: Some(opening_note(a.reasons.iter().chain(&a.money_flow))),
            };
            let selection = riskgate_core::AuditSelection {
                plan: name.clone(),
                unit: a.unit.clone(),
                drawn: a.drawn.clone(),
                selection_probability: a.selection_probability,
                expected_duty: a.expected_duty,
                probability: a.probability,
                reasons: a.reasons.clone(),
                money_flow: a.money_flow.clone(),
            };
            (new, selection)
        })
        .collect();
    // The plan's entry, logged with its cases once their ids are known.
    let entry = app.action("audit_plan", &name);
    let after = serde_json::json!({
        "from": plan.from, "to": plan.to,
        "explore": plan.explore, "units": plan.units.iter().map(|u| serde_json::json!({
            "unit": u.unit, "capacity": u.capacity, "ranked": u.ranked, "random": u.random})).collect::<Vec<_>>(),
    });
    let logged = move |ids: &[i64]| {
        let mut a = entry.clone();
        let mut after = after.clone();
        after["cases"] = serde_json::json!(ids);
        a.after = Some(after);
        a
    };
    let cases = crate::cases::open_selected(app, actor, chosen, &logged)?;
    for (a, c) in plan.audits.iter_mut().zip(cases) {
        a.case_id = Some(c.id);
    }
    plan.dry_run = false;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{Actor, StepBody};
    use riskgate_core::{CaseResult, CaseStep, ForexPayment, Office, OfficeLevel, Outcome};
    use riskgate_store::{SqliteStore, Store};

    fn decl(id: &str, trader: &str, office: &str, day: u32, invoice: &str) -> Declaration {
        Declaration::from_json(&serde_json::json!({
            "id": id, "declared_at": format!("2026-03-{day:02}T09:00:00+08:00"), "direction": "import",
            "office": office, "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": trader},
            "declarant": {"id": "D1"}, "country_of_departure": "VN", "currency": "CNY",
            "documents": [{"kind": "invoice", "id": invoice}],
            "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10, "net_weight_kg": 5.0,
                       "value": 10_000.0, "duty_rate": 0.1}]}))
        .unwrap()
    }

    /// March 2026 (China time), and the selection query over it: duty rank, 10 rows, rule reasons.
    fn march_query() -> (i64, i64, Query) {
        let march = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp();
        let (from, to) = (march("2026-03-01T00:00:00+08:00"), march("2026-04-01T00:00:00+08:00"));
        (
            from,
            to,
            Query { from: Some(from), to: Some(to), offices: None, limit: 10, rank: Rank::Duty, rule_reasons: true },
        )
    }

    fn pay(trader: &str, month: u32, day: u32, cny: f64, reference: Option<&str>) -> ForexPayment {
        let mut v = serde_json::json!({"trader": trader,
            "paid_at": format!("2026-{month:02}-{day:02}T10:00:00+08:00"), "amount": cny, "currency": "CNY"});
        if let Some(r) = reference {
            v["reference"] = r.into();
        }
        ForexPayment::from_json(&v).unwrap()
    }

    fn outcome(id: &str, finding: bool) -> Outcome {
        let mut v = serde_json::json!({"declaration_id": id, "officer": "E1", "control": "physical",
            "completed_at": "2026-03-20T12:00:00+08:00", "result": if finding { "finding" } else { "no_finding" }});
        if finding {
            v["findings"] = serde_json::json!(["undervaluation"]);
        }
        Outcome::from_json(&v).unwrap()
    }

    /// Selection uses what came after release: a payment by invoice
    /// reference and one without reference matched by amount above the
    /// declared value rank first with their reasons; a payment of the
    /// declared value does not; a finding takes a declaration out, a
    /// control without one lowers it. A plan takes the best of each unit
    /// and draws the rest at random with its probability, opens cases, and
    /// the audit's result — a finding or not — comes back as an outcome
    /// that training weighs by the inverse of that probability.
    #[test]
    fn released_declarations_are_selected_planned_audited_and_learned_from() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store
            .upsert_offices(&[
                Office::new("0000", None, OfficeLevel::Hq),
                Office::new("2200", Some("0000"), OfficeLevel::District),
                Office::new("2201", Some("2200"), OfficeLevel::Office),
                Office::new("2202", Some("2200"), OfficeLevel::Office),
                Office::new("5300", Some("0000"), OfficeLevel::District),
                Office::new("5301", Some("5300"), OfficeLevel::Office),
            ])
            .unwrap();
        store
            .commit_historical(&[
                decl("REF", "T1", "2201", 2, "INV-1"),     // paid 2.5× later, by reference
                decl("UNREF", "T2", "2201", 3, "INV-2"),   // paid 1.8× later, no reference
                decl("EXACT", "T3", "2202", 4, "INV-3"),   // paid its value, no reference
                decl("FOUND", "T1", "2201", 5, "INV-4"),   // a control found something
                decl("CHECKED", "T4", "2202", 6, "INV-5"), // inspected, nothing found
                decl("FAR", "T5", "5301", 7, "INV-6"),     // another district, paid 3×
                decl("LATE", "T2", "2201", 8, "INV-7"),    // T2's other payment is 200 days on
            ])
            .unwrap();
        store.commit_outcomes(&[outcome("FOUND", true), outcome("CHECKED", false)]).unwrap();
        store
            .insert_forex(&[
                pay("T1", 3, 22, 25_000.0, Some("INV-1")),
                pay("T2", 4, 2, 18_000.0, None),
                pay("T3", 3, 14, 10_100.0, None),
                pay("T5", 4, 1, 30_000.0, Some("INV-6")),
                pay("T2", 10, 1, 30_000.0, None),
            ])
            .unwrap();
        let mut app = App::with_store(Box::new(store), "analyst").unwrap();
        let (from, to, q) = march_query();
        let s = select(&mut app, &q).unwrap();
        let row = |id: &str| s.declarations.iter().find(|c| c.declaration_id == id);
        assert!(row("FOUND").is_none(), "a declaration with a finding is not an audit candidate");
        assert_eq!(s.considered, 6);
        assert_eq!(s.overpaid, 3);
        let (r, u, e, c) = (row("REF").unwrap(), row("UNREF").unwrap(), row("EXACT").unwrap(), row("CHECKED").unwrap());
        assert_eq!((r.paid_ratio, r.paid_by_reference), (Some(2.5), Some(true)));
        assert_eq!((u.paid_ratio, u.paid_by_reference), (Some(1.8), Some(false)));
        assert_eq!((e.paid_ratio, e.paid_by_reference), (Some(1.01), Some(false)));
        assert_eq!(row("LATE").unwrap().paid_ratio, None, "a payment 200 days later pays nothing of it");
        // Duty and VAT on the undeclared value: 15,000 × (0.1 + 0.13 × 1.1).
        assert!((r.duty_if_found - 15_000.0 * 0.243).abs() < 1.0, "{}", r.duty_if_found);
        assert!(r.money_flow.iter().any(|x| x.contains("by invoice reference")), "{:?}", r.money_flow);
        assert!(u.money_flow.iter().any(|x| x.contains("without reference")), "{:?}", u.money_flow);
        assert!(c.reasons.iter().any(|x| x.contains("physically inspected")), "{:?}", c.reasons);
        assert!(c.probability < e.probability, "an inspection without finding lowers the chance");
        let top3: HashSet<&str> = s.declarations[..3].iter().map(|c| c.declaration_id.as_str()).collect();
        assert_eq!(top3, HashSet::from(["FAR", "REF", "UNREF"]), "{:?}", s.declarations);
        assert_eq!(s.traders[0].overpaid_declarations, 1);
        // Scoped to a district: its declarations only.
        let scoped = Query { offices: Some(vec!["5300".into(), "5301".into()]), ..q.clone() };
        let s2 = select(&mut app, &scoped).unwrap();
        assert_eq!(s2.declarations.iter().map(|c| c.declaration_id.as_str()).collect::<Vec<_>>(), ["FAR"]);

        // A plan: district 2200 audits two, half drawn at random.
        let req = PlanRequest {
            from: Some(from),
            to: Some(to),
            offices: None,
            capacity: vec![("2200".into(), 2)],
            explore: 0.5,
            name: Some("p1".into()),
            dry_run: false,
        };
        let p = plan(&mut app, &Actor::operator(), &req).unwrap();
        assert_eq!((p.units[0].candidates, p.units[0].ranked, p.units[0].random), (5, 1, 1));
        let ranked = &p.audits[0];
        let random = &p.audits[1];
        assert_eq!((ranked.drawn.as_str(), ranked.selection_probability), ("ranked", 1.0));
        assert!(["REF", "UNREF"].contains(&ranked.declaration_id.as_str()));
        assert_eq!((random.drawn.as_str(), random.selection_probability), ("random", 0.25));
        let case = app.store.case(random.case_id.unwrap()).unwrap().unwrap();
        assert_eq!(
            (case.kind, case.department.as_str(), case.origin.as_str()),
            (CaseKind::PostClearanceAudit, "audit", "audit_plan")
        );
        assert_eq!(case.selection.as_ref().unwrap().selection_probability, 0.25);
        // The ranked audit's reasons name a payment abroad: an analyst reads
        // it; a field officer of the office reads the case without it.
        let ranked_case = ranked.case_id.unwrap();
        let as_role = |role: crate::accounts::Role| Actor { role: Some(role), department: None, scope: None };
        let analyst =
            crate::cases::get(app.store.as_ref(), &as_role(crate::accounts::Role::RiskAnalyst), ranked_case).unwrap();
        let officer =
            crate::cases::get(app.store.as_ref(), &as_role(crate::accounts::Role::FieldOfficer), ranked_case).unwrap();
        let paid = |c: &riskgate_core::Case| {
            let s = c.selection.as_ref().unwrap();
            let sel = s.reasons.iter().chain(&s.money_flow).any(|r| r.contains("境外付汇"));
            let note = c.history[0].note.as_deref().unwrap_or_default().contains("境外付汇");
            (sel, note)
        };
        assert_eq!(paid(&analyst), (true, true), "{analyst:?}");
        // The payment line is a money-flow line, not a reason among the others.
        let sel = analyst.selection.as_ref().unwrap();
        assert!(
            sel.money_flow.iter().any(|r| r.contains("境外付汇"))
                && !sel.reasons.iter().any(|r| r.contains("境外付汇"))
        );
        assert_eq!(officer.selection.as_ref().unwrap().money_flow, [crate::cases::MONEY_FLOW_WITHHELD]);
        assert_eq!(paid(&officer), (false, false), "{officer:?}");
        assert!(officer.history[0].note.as_deref().unwrap().contains(crate::cases::MONEY_FLOW_WITHHELD));
        let listed = crate::cases::list(
            app.store.as_ref(),
            &as_role(crate::accounts::Role::FieldOfficer),
            &CaseQuery::default(),
            false,
            10,
        )
        .unwrap();
        assert!(listed.iter().all(|c| paid(c) == (false, false)), "the list withholds it too");
        let stored = app.store.case(ranked_case).unwrap().unwrap();
        assert_eq!(paid(&stored), (true, true), "the stored case keeps it");
        // A case opened before money-flow lines were kept apart (they are
        // among its reasons): recognised by their words.
        let mut legacy = stored.clone();
        let sel = legacy.selection.as_mut().unwrap();
        let lines = std::mem::take(&mut sel.money_flow);
        sel.reasons.extend(lines);
        let action = crate::app::new_action("operator", Some(legacy.office.clone()), "case_open", "case:");
        let legacy_id = app.store.insert_case(&legacy, &action).unwrap();
        let old =
            crate::cases::get(app.store.as_ref(), &as_role(crate::accounts::Role::FieldOfficer), legacy_id).unwrap();
        assert_eq!(paid(&old), (false, false), "{old:?}");
        assert!(old.selection.as_ref().unwrap().money_flow.is_empty());
        // Planned declarations are not candidates again.
        let again = select(&mut app, &q).unwrap();
        assert_eq!(again.considered, 4);
        // Overlapping units and a large random share are refused.
        let overlap = PlanRequest { capacity: vec![("2200".into(), 1), ("2201".into(), 1)], ..req.clone() };
        assert!(format!("{:#}", plan(&mut app, &Actor::operator(), &overlap).unwrap_err()).contains("overlap"));
        let greedy = PlanRequest { explore: 0.9, ..req.clone() };
        assert!(format!("{:#}", plan(&mut app, &Actor::operator(), &greedy).unwrap_err()).contains("explore"));

        // The audit department concludes the random draw: nothing found.
        let op = Actor::operator();
        for step in [CaseStep::Accept, CaseStep::Start] {
            crate::cases::step(&mut app, &op, case.id, step, StepBody::default()).unwrap();
        }
        let result = CaseResult { summary: "稽查未发现问题".into(), ..Default::default() };
        let body = StepBody { result: Some(result), ..Default::default() };
        crate::cases::step(&mut app, &op, case.id, CaseStep::Conclude, body).unwrap();
        let audited = app.store.outcomes_by_time().unwrap();
        let o = audited.iter().find(|(o, _)| o.declaration_id == random.declaration_id).expect("an outcome").0.clone();
        assert_eq!((o.control, o.is_finding()), (riskgate_core::ControlKind::Audit, false));
        assert_eq!(o.attributes[crate::cases::SELECTION_PROBABILITY], serde_json::json!(0.25));
        // Training weighs it by 1 / 0.25 (among the labelled examples).
        let ex = crate::model::examples(app.store.as_ref(), 1e9, &[]).unwrap();
        assert!(
            ex.iter().any(|e| !e.finding && (e.weight - 4.0).abs() < 1e-9),
            "{:?}",
            ex.iter().map(|e| e.weight).collect::<Vec<_>>()
        );
    }

    /// A later VAT invoice that contradicts a released declaration (here
    /// 3× its declared value, its goods declared once) makes it a
    /// candidate with the invoice's reason, a chance of at least
    /// `INVOICE_PROBABILITY` and the duty the invoice implies; a
    /// declaration the invoices do not contradict stays as it was.
    #[test]
    fn a_contradicting_vat_invoice_makes_a_released_declaration_a_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store
            .commit_historical(&[decl("RESOLD", "T1", "2201", 2, "INV-1"), decl("QUIET", "T2", "2201", 3, "INV-2")])
            .unwrap();
        let invoice = |trader: &str, cny: f64| {
            riskgate_core::TaxInvoice::from_json(&serde_json::json!({"trader": trader,
                "issued_at": "2026-04-10T10:00:00+08:00", "amount_cny": cny, "hs_code": "8517130000"}))
            .unwrap()
        };
        store.insert_invoices(&[invoice("T1", 30_000.0), invoice("T2", 12_000.0)]).unwrap();
        let mut app = App::with_store(Box::new(store), "analyst").unwrap();
        let (_, _, q) = march_query();
        let s = select(&mut app, &q).unwrap();
        let row = |id: &str| s.declarations.iter().find(|c| c.declaration_id == id).unwrap();
        let (r, quiet) = (row("RESOLD"), row("QUIET"));
        assert_eq!(r.invoice, Some(crate::moneyflow::InvoiceFinding::Value));
        assert_eq!(r.probability, INVOICE_PROBABILITY);
        // (30,000 / 1.3 − 10,000) × (0.1 + 0.13 × 1.1) = 3,177.69.
        assert!((r.duty_if_found - 3_177.69).abs() < 0.01, "{}", r.duty_if_found);
        assert!(r.money_flow.iter().any(|x| x.contains("VAT invoice")), "{:?}", r.money_flow);
        assert_eq!(quiet.invoice, None, "1.2× its value: the invoice fits");
        assert!(quiet.probability < r.probability, "{} {}", quiet.probability, r.probability);
        assert_eq!(s.declarations[0].declaration_id, "RESOLD");
    }
}
