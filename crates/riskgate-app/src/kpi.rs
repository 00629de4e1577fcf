//! `riskgate kpi`: the M9 figures with their formulas (DESIGN.md "KPIs"),
//! computed per office from recorded data and rolled up office → district
//! → HQ by summing numerators and denominators (never by averaging rates).

use std::collections::{BTreeMap, HashMap};

use riskgate_core::Office;
use riskgate_store::{OfficeCounts, SOURCES};
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
    a.declarations += b.declarations;
    a.screened += b.screened;
    a.controlled += b.controlled;
    for i in 0..4 {
        a.controls_by_source[i] += b.controls_by_source[i];
        a.completed_by_source[i] += b.completed_by_source[i];
        a.findings_by_source[i] += b.findings_by_source[i];
    }
    a.additional_duty_cny += b.additional_duty_cny;
    a.imports_sea += b.imports_sea;
    a.same_day_sea += b.same_day_sea;
    a.imports_other += b.imports_other;
    a.same_day_other += b.same_day_other;
    a.smuggling_border += b.smuggling_border;
    a.smuggling_later += b.smuggling_later;
    a.uncontrolled += b.uncontrolled;
    a.uncontrolled_value_cny += b.uncontrolled_value_cny;
    a.random_value_cny += b.random_value_cny;
    a.random_revenue_cny += b.random_revenue_cny;
}

/// The sum of several offices' (or periods') counts.
pub fn sum<'a>(counts: impl IntoIterator<Item = &'a OfficeCounts>) -> OfficeCounts {
    let mut total = OfficeCounts::default();
    for c in counts {
        add(&mut total, c);
    }
    total
}

pub fn figures(c: &OfficeCounts) -> Vec<Figure> {
    let completed: u64 = c.completed_by_source.iter().sum();
    let findings: u64 = c.findings_by_source.iter().sum();
    let mut v = vec![
        fig(
            "screened",
            "自动甄别报关单证比例",
            "declarations screened automatically",
            "screened declarations ÷ declarations",
            "100%",
            c.screened as f64,
            c.declarations as f64,
        ),
        fig(
            "targeting_rate",
            "布控率",
            "targeting rate",
            "controlled declarations ÷ declarations",
            "≈4%",
            c.controlled as f64,
            c.declarations as f64,
        ),
        fig(
            "hit_rate",
            "布控有效率",
            "targeting hit rate",
            "controls with a finding ÷ controls completed",
            "≥25%",
            findings as f64,
            completed as f64,
        ),
    ];
    const SRC_KEYS: [&str; 4] = ["hit_rate_rule", "hit_rate_score", "hit_rate_random", "hit_rate_manual"];
    const SRC_ZH: [&str; 4] =
        ["布控有效率（规则）", "布控有效率（模型评分）", "布控有效率（随机）", "布控有效率（人工）"];
    const SRC_EN: [&str; 4] = ["hit rate, rule", "hit rate, score", "hit rate, random", "hit rate, manual"];
    for i in 0..4 {
        v.push(fig(
            SRC_KEYS[i],
            SRC_ZH[i],
            SRC_EN[i],
            "controls of this source with a finding ÷ controls of this source completed",
            "",
            c.findings_by_source[i] as f64,
            c.completed_by_source[i] as f64,
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
        c.findings_by_source[2] as f64,
        c.completed_by_source[2] as f64,
    ));
    v.push(Figure {
        unit: "count",
        ..fig(
            "estimated_undetected_findings",
            "估计漏查违规报关单数",
            "estimated undetected findings",
            "estimated finding rate among uncontrolled × uncontrolled declarations",
            "",
            if c.completed_by_source[2] > 0 {
                c.findings_by_source[2] as f64 / c.completed_by_source[2] as f64 * c.uncontrolled as f64
            } else {
                0.0
            },
            if c.completed_by_source[2] > 0 { 1.0 } else { 0.0 },
        )
    });
    // Uncollected revenue is estimated from the random controls: their
    // revenue per CNY of declared value, applied to uncontrolled value.
    let est_uncollected = if c.random_value_cny > 0.0 {
        c.random_revenue_cny / c.random_value_cny * c.uncontrolled_value_cny
    } else {
        0.0
    };
    if c.random_value_cny > 0.0 {
        v.push(fig(
            "revenue_collection_rate",
            "“应收尽收”率",
            "revenue collection rate",
            "collected ÷ (collected + estimated uncollected); uncollected = random controls' duty per declared CNY × uncontrolled value",
            "≥95%",
            c.additional_duty_cny,
            c.additional_duty_cny + est_uncollected,
        ));
    } else {
        v.push(Figure {
            value: None,
            ..fig(
                "revenue_collection_rate",
                "“应收尽收”率",
                "revenue collection rate",
                "collected ÷ (collected + estimated uncollected); needs completed random controls",
                "≥95%",
                c.additional_duty_cny,
                0.0,
            )
        });
    }
    v.push(fig(
        "smuggling_deterrence_rate",
        "遏制走私有效率",
        "smuggling deterrence rate",
        "smuggling found at the border ÷ (that + smuggling found later by audit for released goods)",
        "≥98%",
        c.smuggling_border as f64,
        (c.smuggling_border + c.smuggling_later) as f64,
    ));
    v.push(fig(
        "same_day_release_sea",
        "进口货物当日放行率（海运）",
        "same-day release of imports, sea",
        "sea imports released on the day declared ÷ sea imports",
        "≥80%",
        c.same_day_sea as f64,
        c.imports_sea as f64,
    ));
    v.push(fig(
        "same_day_release_other",
        "进口货物当日放行率（其他）",
        "same-day release of imports, other modes",
        "other-mode imports released on the day declared ÷ other-mode imports",
        "≥90%",
        c.same_day_other as f64,
        c.imports_other as f64,
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
                figures: figures(&c),
                additional_duty_cny: c.additional_duty_cny,
                declarations: c.declarations,
                controls_by_source: SOURCES.iter().copied().zip(c.controls_by_source).collect(),
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
            WorkforceRecord::Disciplinary { officer, opened_at, .. } if inside(opened_at.timestamp()) => {
                first = first.min(opened_at.timestamp());
                last = last.max(opened_at.timestamp());
                if let Some(office) = officer_office.get(officer.as_str()) {
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
            "disciplinary cases opened ÷ (officers × years covered)",
            "≤0.4%",
            c.cases,
            c.headcount * years,
        ));
    }
}

/// The M9 KPIs of every unit in `[from, to)`, office → district → HQ,
/// the workforce KPIs included: what `riskgate kpi` prints and `GET
/// /api/v1/kpis` answers.
pub fn report(store: &dyn riskgate_store::Store, from: Option<i64>, to: Option<i64>) -> anyhow::Result<Vec<Unit>> {
    let counts = store.office_counts(from, to)?;
    let offices = store.offices()?;
    let mut units = rollup(&offices, &counts);
    add_workforce(&mut units, &offices, &store.officers()?, &store.workforce()?, from, to);
    Ok(units)
}
