//! `riskgate kpi`: the M9 figures with their formulas (DESIGN.md "KPIs"),
//! computed per office from recorded data and rolled up office → district
//! → HQ by summing numerators and denominators (never by averaging rates).

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use riskgate_core::Office;
use riskgate_store::{OfficeCounts, SOURCES};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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

fn add(a: &mut OfficeCounts, b: &OfficeCounts) {
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
        let f = |k: &str| u.figures.iter().find(|x| x.key == k).and_then(|x| x.value);
        let indent = match u.level.as_str() {
            "hq" => "",
            "district" => "  ",
            _ => "    ",
        };
        println!(
            "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14.0} {:>8} {:>8}",
            format!("{indent}{}", u.code),
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
