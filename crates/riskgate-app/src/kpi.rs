//! `riskgate kpi`: the M9 figures with their formulas (DESIGN.md "KPIs"),
//! computed per office from recorded data and rolled up office → district
//! → HQ by summing numerators and denominators (never by averaging rates).

use std::collections::{BTreeMap, HashMap};

use riskgate_core::Office;
use riskgate_store::{Facts, OfficeCounts, SOURCES};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Figure {
    pub key: &'static str,
    pub name_zh: &'static str,
    pub name: &'static str,
    pub formula: &'static str,
    pub numerator: f64,
    pub denominator: f64,
    /// numerator ÷ denominator; `None` when there is nothing to divide.
    pub value: Option<f64>,
    pub target: &'static str,
    /// `rate` (shown as a percentage) or `count`.
    pub unit: &'static str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
    pub figures: Vec<Figure>,
    pub additional_duty_cny: f64,
    pub declarations: u64,
    pub controls_by_source: BTreeMap<&'static str, u64>,
}

fn fig(
    key: &'static str,
    name_zh: &'static str,
    name: &'static str,
    formula: &'static str,
    target: &'static str,
    n: f64,
    d: f64,
) -> Figure {
    Figure {
        key,
        name_zh,
        name,
        formula,
        numerator: n,
        denominator: d,
        value: (d > 0.0).then(|| n / d),
        target,
        unit: "rate",
    }
}

/// Adds `b`'s counts to `a` (rolling offices up to districts and HQ, or
/// summing periods): every figure is a count or a sum, so units add up.
pub fn add(a: &mut OfficeCounts, b: &OfficeCounts) {
    a.facts.add(&b.facts, 1.0);
}

/// The sum of several offices' (or periods') counts.
pub fn sum<'a>(counts: impl IntoIterator<Item = &'a OfficeCounts>) -> OfficeCounts {
    let mut total = OfficeCounts::default();
    for c in counts {
        add(&mut total, c);
    }
    total
}

/// Duty and taxes evaded and still uncollected in the declarations the
/// engine let go: the evasion there, estimated from the completed random
/// controls (their additional duty per declared CNY, each weighted by 1 /
/// its selection probability) times the declared value of the uncontrolled
/// declarations, less what post-clearance audits have since recovered from
/// them (at least 0); `None` without completed random controls.
pub fn estimated_uncollected(c: &Facts) -> Option<f64> {
    (c.random_value_cny > 0.0).then(|| {
        (c.random_revenue_cny / c.random_value_cny * c.uncontrolled_value_cny - c.audit_duty_uncontrolled_cny).max(0.0)
    })
}

pub fn figures(c: &Facts) -> Vec<Figure> {
    let received = c.declarations + c.historical;
    let mut v = vec![
        fig(
            "screened",
            "自动甄别报关单证比例",
            "declarations screened automatically",
            "declarations screened by the engine ÷ declarations received since live screening began (history imports dated on or after its first day count as received unscreened)",
            "100%",
            c.screened,
            received,
        ),
        fig(
            "targeting_rate",
            "布控率",
            "targeting rate",
            "declarations with a completed border control (engine, officer override or manual) ÷ declarations",
            "≈4%",
            c.carried_out,
            c.declarations,
        ),
        fig(
            "engine_targeting_rate",
            "系统布控率",
            "engine targeting rate",
            "declarations the engine sent to control ÷ declarations",
            "≈4%",
            c.engine_controls,
            c.declarations,
        ),
        fig(
            "hit_rate",
            "布控有效率",
            "targeting hit rate",
            "controls with a finding ÷ controls completed",
            "≥25%",
            c.findings(),
            c.completed(),
        ),
    ];
    const SRC_KEYS: [&str; 4] = ["hit_rate_rule", "hit_rate_score", "hit_rate_random", "hit_rate_manual"];
    const SRC_ZH: [&str; 4] =
        ["布控有效率（规则）", "布控有效率（模型评分）", "布控有效率（随机）", "布控有效率（人工）"];
    const SRC_EN: [&str; 4] = ["hit rate, rule", "hit rate, score", "hit rate, random", "hit rate, manual"];
    let (completed, findings) = (c.completed_by_source(), c.findings_by_source());
    for i in 0..4 {
        v.push(fig(
            SRC_KEYS[i],
            SRC_ZH[i],
            SRC_EN[i],
            "controls of this source with a finding ÷ controls of this source completed",
            "",
            findings[i],
            completed[i],
        ));
    }
    // The random controls are a uniform sample of traffic: their finding
    // rate estimates the rate among the declarations nobody controlled.
    v.push(fig(
        "estimated_finding_rate_uncontrolled",
        "未布控报关单估计违规率",
        "estimated finding rate among uncontrolled declarations",
        "findings of random controls ÷ random controls completed",
        "",
        c.findings_random,
        c.completed_random,
    ));
    v.push(Figure {
        unit: "count",
        ..fig(
            "estimated_undetected_findings",
            "估计漏查违规报关单数",
            "estimated undetected findings",
            "estimated finding rate among uncontrolled × uncontrolled declarations",
            "",
            if c.completed_random > 0.0 { c.findings_random / c.completed_random * c.uncontrolled } else { 0.0 },
            if c.completed_random > 0.0 { 1.0 } else { 0.0 },
        )
    });
    let collected = c.declared_duty_cny + c.additional_duty_cny;
    let formula = "duty and taxes collected (declared + additional from controls and audits) ÷ (collected + estimated uncollected); uncollected = completed random controls' additional duty per declared CNY × value of uncontrolled declarations − additional duty audits recovered from uncontrolled declarations";
    match estimated_uncollected(c) {
        Some(est) => v.push(fig(
            "revenue_collection_rate",
            "“应收尽收”率",
            "revenue collection rate",
            formula,
            "≥95%",
            collected,
            collected + est,
        )),
        None => v.push(Figure {
            value: None,
            ..fig("revenue_collection_rate", "“应收尽收”率", "revenue collection rate", formula, "≥95%", collected, 0.0)
        }),
    }
    v.push(fig(
        "smuggling_deterrence_rate",
        "遏制走私有效率",
        "smuggling deterrence rate",
        "smuggling found at the border ÷ (that + smuggling found later by audit for released goods)",
        "≥98%",
        c.smuggling_border,
        c.smuggling_border + c.smuggling_later,
    ));
    v.push(fig(
        "same_day_release_sea",
        "进口货物当日放行率（海运）",
        "same-day release of imports, sea",
        "sea imports released on the day declared ÷ sea imports",
        "≥80%",
        c.same_day_sea,
        c.imports_sea,
    ));
    v.push(fig(
        "same_day_release_other",
        "进口货物当日放行率（其他）",
        "same-day release of imports, other modes",
        "other-mode imports released on the day declared ÷ other-mode imports",
        "≥90%",
        c.same_day_other,
        c.imports_other,
    ));
    v
}

/// Per-office counts rolled up the office tree; HQ first, then districts
/// and their offices in code order.
pub fn rollup(offices: &[Office], counts: &[OfficeCounts]) -> Vec<Unit> {
    let by_code: HashMap<&str, &Office> = offices.iter().map(|o| (o.code.as_str(), o)).collect();
    let mut totals: BTreeMap<String, OfficeCounts> = BTreeMap::new();
    for c in counts {
        // Add to the office and every ancestor.
        let mut code = Some(c.office.clone());
        let mut guard = 0;
        while let Some(k) = code {
            add(totals.entry(k.clone()).or_insert_with(|| OfficeCounts { office: k.clone(), ..Default::default() }), c);
            code = by_code.get(k.as_str()).and_then(|o| o.parent.clone());
            guard += 1;
            if guard > 16 {
                break;
            }
        }
    }
    let mut units: Vec<Unit> = totals
        .into_iter()
        .map(|(code, c)| {
            let o = by_code.get(code.as_str());
            Unit {
                name: o.map_or_else(|| "(unregistered office)".into(), |o| o.name.clone()),
                level: o.map_or("office", |o| o.level.as_str()).to_string(),
                parent: o.and_then(|o| o.parent.clone()),
                figures: figures(&c.facts),
                additional_duty_cny: c.facts.additional_duty_cny,
                declarations: c.facts.declarations as u64,
                controls_by_source: SOURCES
                    .iter()
                    .copied()
                    .zip(c.facts.controls_by_source().map(|n| n as u64))
                    .collect(),
                code,
            }
        })
        .collect();
    let rank = |l: &str| match l {
        "hq" => 0,
        "district" => 1,
        _ => 2,
    };
    // Tree order: HQ, then each district followed by its offices.
    let district_of = |u: &Unit| -> String {
        match u.level.as_str() {
            "hq" => String::new(),
            "district" => u.code.clone(),
            _ => u.parent.clone().unwrap_or_default(),
        }
    };
    units.sort_by(|a, b| {
        (district_of(a), rank(&a.level), a.code.clone()).cmp(&(district_of(b), rank(&b.level), b.code.clone()))
    });
    units
}

/// Workforce counts of one unit (DATA.md workforce records, M9).
#[derive(Debug, Clone, Default)]
struct WorkforceCounts {
    won_or_withdrawn: f64,
    decided: f64,
    inspections_passed: f64,
    inspections: f64,
    assessments_passed: f64,
    assessments: f64,
    cases: f64,
    headcount: f64,
}

/// Adds the workforce KPIs (litigation win rate with withdrawn cases
/// counted as won, internal-affairs inspection pass rate, leadership
/// assessment pass rate, misconduct case rate per officer-year) to each
/// unit, rolled up office → district → HQ like the others (sums of
/// numerators and denominators). Records dated outside `[from, to)` are
/// left out; without a period, the misconduct rate is per year of the
/// records' span.
pub fn add_workforce(
    units: &mut [Unit],
    offices: &[Office],
    officers: &[riskgate_core::Officer],
    records: &[riskgate_core::WorkforceRecord],
    from: Option<i64>,
    to: Option<i64>,
) {
    use riskgate_core::{LitigationOutcome, WorkforceRecord};
    let parent: HashMap<&str, Option<&str>> = offices.iter().map(|o| (o.code.as_str(), o.parent.as_deref())).collect();
    let officer_office: HashMap<&str, &str> = officers.iter().map(|o| (o.id.as_str(), o.office.as_str())).collect();
    let mut totals: HashMap<String, WorkforceCounts> = HashMap::new();
    let mut add = |code: &str, f: &dyn Fn(&mut WorkforceCounts)| {
        let mut c = Some(code);
        let mut guard = 0;
        while let Some(k) = c {
            f(totals.entry(k.to_string()).or_default());
            c = parent.get(k).copied().flatten();
            guard += 1;
            if guard > 16 {
                break;
            }
        }
    };
    let inside = |t: i64| from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e);
    let year_inside = |y: i32| {
        let start = chrono::NaiveDate::from_ymd_opt(y, 1, 1).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default());
        let start = start.map_or(0, |d| d.and_utc().timestamp());
        let end = start + 365 * 86_400;
        from.is_none_or(|f| end > f) && to.is_none_or(|e| start < e)
    };
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for o in officers {
        add(&o.office, &|c| c.headcount += 1.0);
    }
    for r in records {
        match r {
            WorkforceRecord::Litigation { office, filed_at, outcome, .. } if inside(filed_at.timestamp()) => {
                let won = matches!(outcome, LitigationOutcome::Won | LitigationOutcome::Withdrawn);
                let decided = *outcome != LitigationOutcome::Pending;
                add(office, &|c| {
                    c.won_or_withdrawn += f64::from(u8::from(won));
                    c.decided += f64::from(u8::from(decided));
                });
            }
            WorkforceRecord::Inspection { unit, inspected_at, passed } if inside(inspected_at.timestamp()) => {
                add(unit, &|c| {
                    c.inspections += 1.0;
                    c.inspections_passed += f64::from(u8::from(*passed));
                });
            }
            WorkforceRecord::Assessment { unit, year, passed } if year_inside(*year) => {
                add(unit, &|c| {
                    c.assessments += 1.0;
                    c.assessments_passed += f64::from(u8::from(*passed));
                });
            }
            WorkforceRecord::Disciplinary { officer, opened_at, status, .. } if inside(opened_at.timestamp()) => {
                first = first.min(opened_at.timestamp());
                last = last.max(opened_at.timestamp());
                if substantiated(status)
                    && let Some(office) = officer_office.get(officer.as_str())
                {
                    add(office, &|c| c.cases += 1.0);
                }
            }
            _ => {}
        }
    }
    for r in records {
        let t = match r {
            WorkforceRecord::Litigation { filed_at: t, .. } | WorkforceRecord::Inspection { inspected_at: t, .. } => {
                Some(t.timestamp())
            }
            _ => None,
        };
        if let Some(t) = t.filter(|t| inside(*t)) {
            first = first.min(t);
            last = last.max(t);
        }
    }
    let years = match (from, to) {
        (Some(f), Some(e)) => (e - f) as f64 / (365.25 * 86_400.0),
        _ if first <= last => ((last - first) as f64 / (365.25 * 86_400.0)).max(1.0),
        _ => 1.0,
    };
    for u in units {
        let c = totals.get(&u.code).cloned().unwrap_or_default();
        u.figures.push(fig(
            "litigation_win_rate",
            "行政诉讼胜诉率",
            "administrative litigation win rate (incl. withdrawn)",
            "(cases won + cases withdrawn) ÷ decided cases (won, withdrawn, lost; pending left out)",
            "≥95%",
            c.won_or_withdrawn,
            c.decided,
        ));
        u.figures.push(fig(
            "internal_affairs_pass_rate",
            "内务规范检查合格率",
            "internal-affairs inspection pass rate",
            "inspections passed ÷ inspections of the unit and the units under it",
            "≥99%",
            c.inspections_passed,
            c.inspections,
        ));
        u.figures.push(fig(
            "leadership_assessment_pass_rate",
            "党风廉政建设责任制考核合格率",
            "leadership integrity-responsibility assessment pass rate",
            "assessments passed ÷ assessments of the unit and the units under it",
            "≥98%",
            c.assessments_passed,
            c.assessments,
        ));
        u.figures.push(fig(
            "misconduct_case_rate",
            "违纪违法涉案率",
            "staff misconduct case rate (per year)",
            "substantiated disciplinary cases ÷ (officers × years covered); open, dismissed and cleared cases are not counted",
            "≤0.4%",
            c.cases,
            c.headcount * years,
        ));
    }
}

/// Folds events into the KPI aggregates (`Store::fold_facts`) until they
/// are caught up or `budget` has passed; returns how many were folded.
/// Reads are exact either way; folding keeps them fast.
pub fn fold(store: &mut dyn riskgate_store::Store, budget: std::time::Duration) -> anyhow::Result<i64> {
    fold_rounds(store, budget, riskgate_store::facts::FOLD_CHUNK)
}

/// [`fold`] in rounds of `chunk` events at first: `serve` folds in small
/// rounds ([`riskgate_store::facts::FOLD_CHUNK_LIVE`]), so no transaction of
/// the fold holds the store's write lock for long while declarations are
/// being screened; each full round doubles the next (up to
/// [`riskgate_store::facts::FOLD_CHUNK`]).
pub fn fold_rounds(
    store: &mut dyn riskgate_store::Store,
    budget: std::time::Duration,
    chunk: i64,
) -> anyhow::Result<i64> {
    let t = std::time::Instant::now();
    let mut total = 0;
    let mut chunk = chunk.max(1);
    loop {
        let n = store.fold_facts(chunk)?;
        total += n;
        // A full round means a backlog: larger rounds cost less per event
        // (each unit's transaction has a fixed cost), so a fold that has
        // fallen behind catches up, holding the lock longer meanwhile.
        if n >= chunk {
            chunk = chunk.saturating_mul(2).min(riskgate_store::facts::FOLD_CHUNK.max(chunk));
        }
        if n == 0 || t.elapsed() >= budget {
            return Ok(total);
        }
    }
}

/// Whether a disciplinary case's status says the misconduct was
/// established (open, dismissed, cleared and unfounded cases are not).
pub fn substantiated(status: &str) -> bool {
    matches!(status.trim().to_ascii_lowercase().as_str(), "substantiated" | "confirmed" | "sanctioned" | "upheld")
}

/// The office counts of `[from, to)` as the KPIs read them: history
/// imports count as received unscreened only when dated on or after the
/// first day of live screening (before it they are the history the system
/// started from).
pub fn counts(
    store: &dyn riskgate_store::Store,
    from: Option<i64>,
    to: Option<i64>,
) -> anyhow::Result<Vec<OfficeCounts>> {
    use riskgate_store::{By, FactsQuery, Grain, facts};
    let mut counts = store.office_counts(from, to)?;
    if counts.iter().all(|c| c.facts.historical == 0.0) {
        return Ok(counts);
    }
    let days = store.facts(&FactsQuery::new(Grain::Day, i64::MIN, i64::MAX, "", By::Period))?.rows;
    let first_live = days.iter().filter(|(_, f)| f.declarations > 0.0).filter_map(|(d, _)| d.parse::<i64>().ok()).min();
    let era: HashMap<String, f64> = match first_live {
        Some(day) => {
            let start = facts::day_start(day).max(from.unwrap_or(i64::MIN));
            if to.is_some_and(|t| t <= start) {
                HashMap::new()
            } else {
                store.office_counts(Some(start), to)?.into_iter().map(|c| (c.office, c.facts.historical)).collect()
            }
        }
        None => HashMap::new(),
    };
    for c in &mut counts {
        c.facts.historical = era.get(&c.office).copied().unwrap_or(0.0);
    }
    counts.retain(|c| !c.facts.is_zero());
    Ok(counts)
}

/// The M9 KPIs of every unit in `[from, to)`, office → district → HQ,
/// the workforce KPIs included: what `riskgate kpi` prints and `GET
/// /api/v1/kpis` answers.
pub fn report(store: &dyn riskgate_store::Store, from: Option<i64>, to: Option<i64>) -> anyhow::Result<Vec<Unit>> {
    let counts = counts(store, from, to)?;
    let offices = store.offices()?;
    let mut units = rollup(&offices, &counts);
    add_workforce(&mut units, &offices, &store.officers()?, &store.workforce()?, from, to);
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The uncollected estimate is the evasion left: audits' recoveries
    /// from uncontrolled declarations come off it, never below 0.
    #[test]
    fn audits_reduce_the_estimated_uncollected_duty() {
        let facts = |recovered: f64, random_value: f64| Facts {
            random_value_cny: random_value,
            random_revenue_cny: 10.0,
            uncontrolled_value_cny: 1_000.0,
            audit_duty_uncontrolled_cny: recovered,
            ..Default::default()
        };
        let table = [(0.0, 100.0, Some(100.0)), (40.0, 100.0, Some(60.0)), (500.0, 100.0, Some(0.0)), (0.0, 0.0, None)];
        for (recovered, random_value, want) in table {
            assert_eq!(estimated_uncollected(&facts(recovered, random_value)), want, "{recovered} {random_value}");
        }
    }
}
