//! Drill-down and breakdowns (issue 14, M8): a unit's enforcement figures
//! split by the units below it or by one dimension of the traffic
//! (officer, trader, goods chapter → heading → subheading, origin,
//! transport and trade mode, finding kind, rule, source of selection), read
//! from the KPI aggregates (`riskgate_store::facts`), never by scanning
//! declarations. `riskgate analysis` and `GET /api/v1/analysis` answer the
//! same [`Breakdown`].
//!
//! Units below are computed for the exact period (daily rows); every other
//! dimension has monthly rows, so its period is widened to whole months
//! and the answer says which months it covers.

use std::collections::HashMap;

use chrono::NaiveDate;
use riskgate_core::Office;
use riskgate_store::{By, Facts, FactsQuery, Grain, Store, facts};
use serde::Serialize;

use crate::error::AppError;

/// The dimensions, with their Chinese and English names.
pub const DIMENSIONS: &[(&str, &str, &str)] = &[
    ("unit", "下级单位", "units below"),
    ("officer", "关员", "officer"),
    ("trader", "企业", "trader"),
    ("hs2", "商品章", "HS chapter"),
    ("hs4", "商品品目", "HS heading"),
    ("hs6", "商品子目", "HS subheading"),
    ("origin", "原产地", "country of origin"),
    ("transport", "运输方式", "transport mode"),
    ("trade_mode", "贸易方式", "trade mode"),
    ("direction", "进出口", "direction"),
    ("finding", "查获类型", "finding kind"),
    ("rule", "规则", "rule"),
    ("source", "布控来源", "source of selection"),
];

/// What to break down.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The unit (an office code; empty: the top of the tree).
    pub unit: Option<String>,
    pub dim: String,
    /// Only keys equal to this or, ending in `*`, starting with it (the
    /// headings of chapter 85: `dim = hs4`, `key = 85*`).
    pub key: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Rows kept (largest by findings, then declarations).
    pub limit: usize,
}

/// One row: the figures of one key.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Row {
    pub key: String,
    /// A name where the registry has one (units, officers, traders).
    pub label: Option<String>,
    pub declarations: u64,
    /// Declarations with a completed border control (any source).
    pub controls: u64,
    /// Declarations the engine sent to control.
    pub engine_controls: u64,
    pub completed: u64,
    pub findings: u64,
    /// findings ÷ completed.
    pub hit_rate: Option<f64>,
    /// controls ÷ declarations.
    pub targeting_rate: Option<f64>,
    pub additional_duty_cny: f64,
    pub declared_duty_cny: f64,
    pub value_cny: f64,
    pub seizures: u64,
    /// Mean hours from declaration to the first completed control.
    pub mean_control_hours: Option<f64>,
    /// Completed random controls and their findings: an unbiased sample of
    /// the traffic of this key…
    pub random_completed: u64,
    pub random_findings: u64,
    /// …whose finding rate × the declarations nobody controlled estimates
    /// the findings missed (`None` without completed random controls).
    pub estimated_undetected: Option<f64>,
    /// The hit rate of the period of the same length just before, and
    /// whether the change is significant (two-proportion z-test, |z| ≥ 1.96).
    pub previous_hit_rate: Option<f64>,
    pub change_z: Option<f64>,
    pub change_significant: bool,
    /// By officer: lane overrides the officer made in the period (from the
    /// action log), and how many of them sent a controlled declaration to
    /// green.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides_to_green: Option<u64>,
    /// Where a click on this row leads: the next dimension and key, or
    /// `None` for the declarations behind it.
    pub next: Option<Next>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Next {
    pub unit: String,
    pub dim: String,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    pub unit: String,
    pub unit_name: String,
    pub dim: String,
    pub dim_zh: String,
    pub key: Option<String>,
    /// The days the figures cover (`to` inclusive); `None`: open.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The period asked for was widened to whole months (monthly rows).
    pub widened: bool,
    pub rows: Vec<Row>,
    /// Rows left out by the limit.
    pub more: usize,
    /// The unit's own figures for the same period (a declaration with goods
    /// under several headings counts once here, once under each heading).
    pub total: Row,
}

fn rate(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

fn row(key: &str, f: &Facts) -> Row {
    Row {
        key: key.to_string(),
        label: None,
        declarations: f.declarations as u64,
        controls: f.carried_out as u64,
        engine_controls: f.engine_controls as u64,
        completed: f.completed() as u64,
        findings: f.findings() as u64,
        hit_rate: rate(f.findings(), f.completed()),
        targeting_rate: rate(f.carried_out, f.declarations),
        additional_duty_cny: f.additional_duty_cny,
        declared_duty_cny: f.declared_duty_cny,
        value_cny: f.value_cny,
        seizures: f.seizures as u64,
        mean_control_hours: rate(f.control_seconds / 3600.0, f.carried_out),
        random_completed: f.completed_random as u64,
        random_findings: f.findings_random as u64,
        estimated_undetected: rate(f.findings_random, f.completed_random).map(|r| r * f.uncontrolled),
        ..Default::default()
    }
}

/// Two-proportion z statistic of `a1/n1` against `a0/n0`.
pub fn z_two_proportions(a1: f64, n1: f64, a0: f64, n0: f64) -> Option<f64> {
    if n1 <= 0.0 || n0 <= 0.0 {
        return None;
    }
    let p = (a1 + a0) / (n1 + n0);
    let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n0)).sqrt();
    (se > 0.0).then(|| (a1 / n1 - a0 / n0) / se)
}

/// The offices of `unit`'s subtree (all offices when `None`), and its code
/// and name.
fn unit_of(offices: &[Office], unit: Option<&str>) -> anyhow::Result<(String, String, Vec<String>)> {
    let code = match unit.filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => offices
            .iter()
            .find(|o| o.parent.is_none())
            .map(|o| o.code.clone())
            .ok_or_else(|| AppError::invalid("unit", "no offices are registered (import offices first)"))?,
    };
    let o = offices
        .iter()
        .find(|o| o.code == code)
        .ok_or_else(|| AppError::invalid("unit", format!("unit: no office {code:?}")))?;
    let subtree: Vec<String> = crate::accounts::subtree(offices, &code).into_iter().collect();
    Ok((code, o.name.clone(), subtree))
}

/// The day a time falls on (China time), for echoing periods.
fn date_of(ts: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(ts + 8 * 3600, 0).map(|t| t.date_naive()).unwrap_or_default()
}

/// The breakdown `r` asks for.
pub fn breakdown(store: &dyn Store, r: &Request) -> anyhow::Result<Breakdown> {
    let Some(&(dim, dim_zh, _)) = DIMENSIONS.iter().find(|d| d.0 == r.dim) else {
        let names: Vec<&str> = DIMENSIONS.iter().map(|d| d.0).collect();
        return Err(
            AppError::invalid("dim", format!("dim: expected one of {}, got {:?}", names.join(", "), r.dim)).into()
        );
    };
    if let Some(k) = &r.key
        && (k.is_empty() || k.len() > 64)
    {
        return Err(AppError::invalid("key", "key: expected 1 to 64 characters").into());
    }
    let offices = store.offices()?;
    let (code, name, subtree) = unit_of(&offices, r.unit.as_deref())?;
    let limit = if r.limit == 0 { 50 } else { r.limit };
    if dim == "unit" {
        return units_below(store, &offices, code, name, &subtree, r, limit);
    }
    // Monthly rows: the period widened to whole months.
    let from_m = r.from.map_or(i64::MIN, facts::month_of);
    let to_m = r.to.map_or(i64::MAX, |t| facts::month_of(t - 1) + 1);
    let widened =
        r.from.is_some_and(|f| facts::month_start(from_m) != f) || r.to.is_some_and(|t| facts::month_start(to_m) != t);
    let rows_of = rows_of(&offices, &code);
    let q = |dim: &str, key: Option<String>, from: i64, to: i64| {
        FactsQuery { offices: Some(rows_of.clone()), key, ..FactsQuery::new(Grain::Month, from, to, dim, By::Key) }
            .with_coarse()
    };
    // The top rows are ranked and cut by the store; the period before is
    // read for those keys only.
    let got = store.facts(&FactsQuery { top: Some(limit), ..q(dim, r.key.clone(), from_m, to_m) })?;
    let previous: HashMap<String, Facts> = if r.from.is_some() && r.to.is_some() && !got.rows.is_empty() {
        let len = to_m - from_m;
        let keys = got.rows.iter().map(|(k, _)| k.clone()).collect();
        store
            .facts(&FactsQuery { keys: Some(keys), ..q(dim, r.key.clone(), from_m - len, from_m) })?
            .rows
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let total = store.facts(&q("", None, from_m, to_m))?.rows.into_iter().map(|(_, f)| f).next().unwrap_or_default();
    let labels = labels(store, dim)?;
    // Officers' overrides in the period, from the action log.
    let overrides: HashMap<String, (u64, u64)> = if dim == "officer" {
        let bound = |m: i64| (m != i64::MIN && m != i64::MAX).then(|| facts::month_start(m));
        let mut by: HashMap<String, (u64, u64)> = HashMap::new();
        for l in store.actions_in(bound(from_m), bound(to_m))? {
            if l.action.action != "override" || !l.action.office.as_ref().is_none_or(|o| subtree.contains(o)) {
                continue;
            }
            let o = crate::overrides::LoggedOverride::of(&l);
            let e = by.entry(l.action.actor.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(o.to == Some("green") && o.from.is_some_and(|f| f != "green"));
        }
        by
    } else {
        HashMap::new()
    };
    let mut rows: Vec<Row> = got
        .rows
        .iter()
        .map(|(k, f)| {
            let mut row = row(k, f);
            row.label = labels.get(k).cloned();
            if dim == "officer" {
                let (n, green) = overrides.get(k).copied().unwrap_or_default();
                (row.overrides, row.overrides_to_green) = (Some(n), Some(green));
            }
            if let Some(p) = previous.get(k) {
                row.previous_hit_rate = rate(p.findings(), p.completed());
                row.change_z = z_two_proportions(f.findings(), f.completed(), p.findings(), p.completed());
                row.change_significant = row.change_z.is_some_and(|z| z.abs() >= 1.96);
            }
            row.next = match dim {
                "hs2" => Some(Next { unit: code.clone(), dim: "hs4".into(), key: Some(format!("{k}*")) }),
                "hs4" => Some(Next { unit: code.clone(), dim: "hs6".into(), key: Some(format!("{k}*")) }),
                _ => None,
            };
            row
        })
        .collect();
    // Officers who changed lanes in the period but completed no control in
    // it have no aggregate rows; they are listed with their overrides.
    let mut extra = 0;
    if dim == "officer" {
        let listed: std::collections::HashSet<String> = rows.iter().map(|r| r.key.clone()).collect();
        let mut only: Vec<(&String, &(u64, u64))> = overrides
            .iter()
            .filter(|(k, _)| !listed.contains(*k) && r.key.as_ref().is_none_or(|want| want == *k))
            .collect();
        only.sort();
        extra = only.len();
        for (k, (n, green)) in only {
            let mut row = row(k, &Facts::default());
            row.label = labels.get(k).cloned();
            (row.overrides, row.overrides_to_green) = (Some(*n), Some(*green));
            rows.push(row);
        }
    }
    sort(&mut rows);
    let more = (got.groups + extra).saturating_sub(rows.len().min(limit));
    rows.truncate(limit);
    Ok(Breakdown {
        unit: code,
        unit_name: name,
        dim: dim.into(),
        dim_zh: dim_zh.into(),
        key: r.key.clone(),
        from: (from_m != i64::MIN).then(|| date_of(facts::month_start(from_m))),
        to: (to_m != i64::MAX).then(|| date_of(facts::month_start(to_m) - 1)),
        widened,
        rows,
        more,
        total: row("", &total),
    })
}

/// The office code the facts of `code`'s subtree are kept under: a unit
/// with units below it has rollup rows of its own.
fn rows_of(offices: &[Office], code: &str) -> Vec<String> {
    if offices.iter().any(|o| o.parent.as_deref() == Some(code)) {
        vec![format!("{}{code}", facts::SUBTREE)]
    } else {
        vec![code.to_string()]
    }
}

/// One month of a key's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    /// YYYY-MM (China time).
    pub month: String,
    pub figures: Row,
}

/// A key's figures month by month: how a rule, the model (`source` =
/// `score`), a goods heading or a trader performs over time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyTrend {
    pub unit: String,
    pub dim: String,
    pub key: String,
    pub months: Vec<TrendPoint>,
}

/// The monthly figures of one key (`r.key`, exact) of dimension `r.dim`
/// in `r.unit`'s subtree, from the first month with traffic to the last
/// (or the period asked for, widened to whole months).
pub fn trend(store: &dyn Store, r: &Request) -> anyhow::Result<KeyTrend> {
    if r.dim == "unit" || !DIMENSIONS.iter().any(|d| d.0 == r.dim) {
        return Err(
            AppError::invalid("dim", format!("dim: expected a dimension other than unit, got {:?}", r.dim)).into()
        );
    }
    let Some(key) = r.key.clone().filter(|k| !k.is_empty() && !k.ends_with('*') && k.len() <= 64) else {
        return Err(AppError::invalid("key", "key: expected one key (no prefix pattern)").into());
    };
    let offices = store.offices()?;
    let (code, _, _) = unit_of(&offices, r.unit.as_deref())?;
    let from_m = r.from.map_or(i64::MIN, facts::month_of);
    let to_m = r.to.map_or(i64::MAX, |t| facts::month_of(t - 1) + 1);
    let got = store.facts(&FactsQuery {
        offices: Some(rows_of(&offices, &code)),
        keys: Some(vec![key.clone()]),
        ..FactsQuery::new(Grain::Month, from_m, to_m, &r.dim, By::Period)
    })?;
    let mut months: Vec<(i64, Facts)> =
        got.rows.into_iter().filter_map(|(p, f)| p.parse::<i64>().ok().map(|p| (p, f))).collect();
    months.sort_by_key(|m| m.0);
    // Months without traffic between the first and the last are zero rows.
    let mut out = Vec::new();
    if let (Some(first), Some(last)) = (months.first().map(|m| m.0), months.last().map(|m| m.0)) {
        let by: HashMap<i64, Facts> = months.into_iter().collect();
        for m in first..=last {
            let f = by.get(&m).copied().unwrap_or_default();
            out.push(TrendPoint {
                month: format!("{}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1),
                figures: row(&key, &f),
            });
        }
    }
    Ok(KeyTrend { unit: code, dim: r.dim.clone(), key, months: out })
}

/// Largest by findings, then by declarations, then by key.
fn sort(rows: &mut [Row]) {
    rows.sort_by(|a, b| b.findings.cmp(&a.findings).then(b.declarations.cmp(&a.declarations)).then(a.key.cmp(&b.key)));
}

/// Names of the keys of `dim` where the registry has them.
fn labels(store: &dyn Store, dim: &str) -> anyhow::Result<HashMap<String, String>> {
    Ok(match dim {
        "officer" => store.officers()?.into_iter().map(|o| (o.id, o.name)).collect(),
        "trader" => store.enterprises()?.into_iter().map(|e| (e.id, e.name)).collect(),
        _ => HashMap::new(),
    })
}

/// The units directly below `code`, each with its subtree's figures for
/// the exact period.
fn units_below(
    store: &dyn Store,
    offices: &[Office],
    code: String,
    name: String,
    subtree: &[String],
    r: &Request,
    limit: usize,
) -> anyhow::Result<Breakdown> {
    let children: Vec<&Office> = offices.iter().filter(|o| o.parent.as_deref() == Some(code.as_str())).collect();
    if children.is_empty() {
        return Err(AppError::invalid(
            "dim",
            format!(
                "dim: unit {code} has no units below it; break it down by officer, goods, trader or another dimension"
            ),
        )
        .into());
    }
    let counts = crate::kpi::counts(store, r.from, r.to)?;
    let parent: HashMap<&str, Option<&str>> = offices.iter().map(|o| (o.code.as_str(), o.parent.as_deref())).collect();
    let mut by_child: HashMap<String, Facts> = HashMap::new();
    let mut total = Facts::default();
    for c in counts.iter().filter(|c| subtree.contains(&c.office)) {
        total.add(&c.facts, 1.0);
        // Walk up to the child of `code` this office is under.
        let mut at = c.office.as_str();
        for _ in 0..16 {
            match parent.get(at).copied().flatten() {
                Some(p) if p == code => {
                    by_child.entry(at.to_string()).or_default().add(&c.facts, 1.0);
                    break;
                }
                Some(p) => at = p,
                None => break,
            }
        }
    }
    let mut rows: Vec<Row> = children
        .iter()
        .map(|o| {
            let mut row = row(&o.code, &by_child.get(&o.code).copied().unwrap_or_default());
            row.label = Some(o.name.clone());
            let below = offices.iter().any(|x| x.parent.as_deref() == Some(o.code.as_str()));
            row.next =
                Some(Next { unit: o.code.clone(), dim: if below { "unit".into() } else { "hs2".into() }, key: None });
            row
        })
        .collect();
    sort(&mut rows);
    let more = rows.len().saturating_sub(limit);
    rows.truncate(limit);
    Ok(Breakdown {
        unit: code,
        unit_name: name,
        dim: "unit".into(),
        dim_zh: "下级单位".into(),
        key: None,
        from: r.from.map(date_of),
        to: r.to.map(|t| date_of(t - 1)),
        widened: false,
        rows,
        more,
        total: row("", &total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_significant_only_with_enough_cases() {
        // 30% of 400 against 20% of 400: z ≈ 3.2.
        let z = z_two_proportions(120.0, 400.0, 80.0, 400.0).unwrap();
        assert!((z - 3.27).abs() < 0.05, "{z}");
        // The same rates on 20 cases each: not significant.
        let z = z_two_proportions(6.0, 20.0, 4.0, 20.0).unwrap();
        assert!(z.abs() < 1.96, "{z}");
        assert_eq!(z_two_proportions(1.0, 0.0, 1.0, 10.0), None);
    }
}
