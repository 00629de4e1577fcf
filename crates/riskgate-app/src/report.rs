//! `riskgate report`: the KPI report of one unit for a period, as a value
//! the transports write out (XLSX, printable HTML, CSV): every KPI with its
//! formula, figures, target and verdict, the monthly trend, the units
//! directly below, and rule and model performance.
//!
//! The figures are those of [`crate::kpi::report`] (the same as `riskgate
//! kpi` and `GET /api/v1/kpis`); this module only chooses the unit, the
//! period and the months, and judges each rate against its target.

use std::collections::HashSet;

use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use riskgate_core::OfficeLevel;
use serde::Serialize;

use crate::kpi::{self, Figure};
use crate::{AppError, Kind};

/// A rate on fewer cases than this is not judged against its target (the
/// console's `MIN_CASES`: "100% met" on three controls says nothing).
pub const MIN_CASES: f64 = 30.0;

/// The longest period a report covers: its trend reads the KPIs month by
/// month, so a period of centuries would be thousands of reads.
pub const MAX_MONTHS: usize = 60;

/// A reporting period: whole days in China time, `last` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// As asked: `2026-Q1`, `2026-03`, `2026` or `2026-01-01..2026-02-15`.
    pub label: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

fn bad_period(s: &str) -> anyhow::Error {
    AppError::new(
        Kind::Invalid,
        "invalid_query",
        "period",
        format!("period: expected a quarter (2026-Q1), a month (2026-03), a year (2026) or days FROM..TO (2026-01-01..2026-03-31), got {s:?}"),
    )
    .into()
}

impl Period {
    /// Parses the period syntax; a refusal names the field `period`.
    pub fn parse(s: &str) -> Result<Period> {
        let s = s.trim();
        let year = |y: &str| -> Result<i32> {
            let n: i32 = y.parse().map_err(|_| bad_period(s))?;
            let (lo, hi) = (crate::app::FIRST_DAY.0, crate::app::LAST_DAY.0);
            if y.len() == 4 && (lo..=hi).contains(&n) { Ok(n) } else { Err(bad_period(s)) }
        };
        let month_span = |y: i32, m: u32, months: u32| -> Result<(NaiveDate, NaiveDate)> {
            let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| bad_period(s))?;
            let next = first.checked_add_months(chrono::Months::new(months)).ok_or_else(|| bad_period(s))?;
            Ok((first, next.pred_opt().ok_or_else(|| bad_period(s))?))
        };
        let (first, last) = if let Some((a, b)) = s.split_once("..") {
            let first = crate::app::parse_day("period", a.trim()).map_err(|_| bad_period(s))?;
            let last = crate::app::parse_day("period", b.trim()).map_err(|_| bad_period(s))?;
            if last < first {
                return Err(AppError::new(
                    Kind::Invalid,
                    "invalid_query",
                    "period",
                    format!("period: the last day {last} is before the first {first}"),
                )
                .into());
            }
            (first, last)
        } else if let Some((y, q)) = s.split_once("-Q").or_else(|| s.split_once("-q")) {
            let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q)).ok_or_else(|| bad_period(s))?;
            month_span(year(y)?, 3 * q - 2, 3)?
        } else if let Some((y, m)) = s.split_once('-') {
            let m: u32 = m.parse().ok().filter(|m| (1..=12).contains(m) && m_len_ok(s)).ok_or_else(|| bad_period(s))?;
            month_span(year(y)?, m, 1)?
        } else {
            month_span(year(s)?, 1, 12)?
        };
        let p = Period { label: s.to_string(), first, last };
        if p.months().len() > MAX_MONTHS {
            return Err(AppError::new(
                Kind::Invalid,
                "invalid_query",
                "period",
                format!("period: at most {MAX_MONTHS} months, got {s:?}"),
            )
            .into());
        }
        Ok(p)
    }

    /// `[from, to)` in Unix seconds, day boundaries at +08:00.
    pub fn bounds(&self) -> (i64, i64) {
        (crate::app::day_start(self.first), crate::app::day_start(self.last) + 86_400)
    }

    /// The calendar months the period touches, each clipped to the period.
    pub fn months(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let mut out = Vec::new();
        let mut start = self.first;
        while start <= self.last {
            let month_first = start.with_day(1).expect("day 1");
            let month_last =
                month_first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).expect("in range");
            let end = month_last.min(self.last);
            out.push((start, end));
            match end.succ_opt() {
                Some(d) => start = d,
                None => break,
            }
        }
        out
    }
}

/// `2026-03`: a month of two digits.
fn m_len_ok(s: &str) -> bool {
    s.len() == 7
}

/// A KPI's verdict against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// A rate on fewer than [`MIN_CASES`] cases: not judged.
    TooFew,
    /// Nothing to divide.
    NoData,
    /// The KPI has no target (a breakdown or an estimate).
    NoTarget,
}

impl Verdict {
    pub fn zh(self) -> &'static str {
        match self {
            Verdict::Met => "达标",
            Verdict::Missed => "未达标",
            Verdict::TooFew => "样本过少",
            Verdict::NoData => "无数据",
            Verdict::NoTarget => "无目标",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "not met",
            Verdict::TooFew => "too few cases",
            Verdict::NoData => "no data",
            Verdict::NoTarget => "no target",
        }
    }
}

/// Judges `value` against a target such as `≥25%`, `≈4%` (within a
/// quarter of it either way), `100%`, `≤0.4%` — as the console does.
pub fn judge(f: &Figure) -> Verdict {
    let Some(value) = f.value else { return Verdict::NoData };
    let t = f.target.trim();
    let Some(pct) = t.strip_suffix('%') else { return Verdict::NoTarget };
    let (op, n) = match pct.chars().next() {
        Some(c @ ('≥' | '≤' | '≈' | '>' | '<')) => (Some(c), pct[c.len_utf8()..].trim_start_matches('=').trim()),
        _ => (None, pct.trim()),
    };
    let Ok(x) = n.parse::<f64>() else { return Verdict::NoTarget };
    if f.unit == "rate" && f.denominator < MIN_CASES {
        return Verdict::TooFew;
    }
    let x = x / 100.0;
    let met = match op {
        Some('≥' | '>') => value >= x - 1e-9,
        Some('≤' | '<') => value <= x + 1e-9,
        Some(_) => (value - x).abs() <= x * 0.25,
        None => value >= x - 1e-9,
    };
    if met { Verdict::Met } else { Verdict::Missed }
}

/// A KPI with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Kpi {
    #[serde(flatten)]
    pub figure: Figure,
    pub verdict: Verdict,
}

/// One unit's KPIs in the period.
#[derive(Debug, Clone, Serialize)]
pub struct UnitKpis {
    pub code: String,
    pub name: String,
    pub level: String,
    pub declarations: u64,
    pub additional_duty_cny: f64,
    pub kpis: Vec<Kpi>,
}

/// One month of the trend (clipped to the period).
#[derive(Debug, Clone, Serialize)]
pub struct Month {
    /// `2026-03`.
    pub month: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub declarations: u64,
    pub figures: Vec<Figure>,
}

/// A model version and its hold-out evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub id: String,
    pub status: String,
    pub created_at: i64,
    pub created_by: String,
    pub auc: Option<f64>,
    pub eval_rows: Option<u64>,
}

/// The KPI report of one unit for a period.
#[derive(Debug, Serialize)]
pub struct Report {
    pub period: Period,
    /// When it was made, RFC 3339 at +08:00.
    pub generated_at: String,
    pub unit: UnitKpis,
    pub trend: Vec<Month>,
    /// The units directly below, in code order.
    pub below: Vec<UnitKpis>,
    /// Rule versions with their statistics on the unit's offices (all
    /// time, not only the period); `None` when the reader may not see them.
    pub rules: Option<Vec<crate::rules::ListRow>>,
    /// `None` when the reader may not see them.
    pub models: Option<Vec<ModelRow>>,
}

/// What to put in the report, and for whom.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The unit (an office code); `None`: HQ.
    pub office: Option<String>,
    /// Include rule performance (the reader may read rule statistics).
    pub rules: bool,
    /// Include model status (the reader may read models).
    pub models: bool,
}

fn unit_kpis(u: &kpi::Unit) -> UnitKpis {
    UnitKpis {
        code: u.code.clone(),
        name: u.name.clone(),
        level: u.level.clone(),
        declarations: u.declarations,
        additional_duty_cny: u.additional_duty_cny,
        kpis: u.figures.iter().map(|f| Kpi { figure: f.clone(), verdict: judge(f) }).collect(),
    }
}

/// The figures of a unit with no recorded data: the KPI list of any other
/// unit, emptied (the same keys, formulas and targets).
fn empty_figures(units: &[kpi::Unit]) -> Vec<Figure> {
    units
        .first()
        .map(|u| {
            u.figures.iter().map(|f| Figure { numerator: 0.0, denominator: 0.0, value: None, ..f.clone() }).collect()
        })
        .unwrap_or_default()
}

/// Builds the report. An unknown office is refused naming the field
/// `office`; the caller checks that the reader may see it.
pub fn build(store: &dyn riskgate_store::Store, period: &Period, opts: &Options) -> Result<Report> {
    let offices = store.offices()?;
    let code = match opts.office.as_deref().filter(|s| !s.is_empty()) {
        Some(c) => c.to_string(),
        None => offices.iter().find(|o| o.level == OfficeLevel::Hq).map(|o| o.code.clone()).ok_or_else(|| {
            AppError::new(
                Kind::Invalid,
                "invalid_query",
                "office",
                "office: no HQ in the office registry; name an office",
            )
        })?,
    };
    let Some(office) = offices.iter().find(|o| o.code == code) else {
        return Err(
            AppError::new(Kind::Invalid, "invalid_query", "office", format!("office: no office {code:?}")).into()
        );
    };
    let (from, to) = period.bounds();
    let units = kpi::report(store, Some(from), Some(to))?;
    let blank = |code: &str, name: &str, level: &str| UnitKpis {
        code: code.to_string(),
        name: name.to_string(),
        level: level.to_string(),
        declarations: 0,
        additional_duty_cny: 0.0,
        kpis: empty_figures(&units).into_iter().map(|f| Kpi { verdict: judge(&f), figure: f }).collect(),
    };
    let unit = units
        .iter()
        .find(|u| u.code == code)
        .map(unit_kpis)
        .unwrap_or_else(|| blank(&office.code, &office.name, office.level.as_str()));
    let mut below: Vec<UnitKpis> = offices
        .iter()
        .filter(|o| o.parent.as_deref() == Some(code.as_str()))
        .map(|o| {
            units
                .iter()
                .find(|u| u.code == o.code)
                .map(unit_kpis)
                .unwrap_or_else(|| blank(&o.code, &o.name, o.level.as_str()))
        })
        .collect();
    below.sort_by(|a, b| a.code.cmp(&b.code));
    let mut trend = Vec::new();
    for (first, last) in period.months() {
        let (a, b) = (crate::app::day_start(first), crate::app::day_start(last) + 86_400);
        let month = kpi::report(store, Some(a), Some(b))?;
        let u = month.iter().find(|u| u.code == code);
        trend.push(Month {
            month: first.format("%Y-%m").to_string(),
            first,
            last,
            declarations: u.map_or(0, |u| u.declarations),
            figures: u.map(|u| u.figures.clone()).unwrap_or_else(|| empty_figures(&month)),
        });
    }
    let rules = if opts.rules {
        let scope: HashSet<String> = crate::accounts::subtree(&offices, &code);
        let mut scope: Vec<String> = scope.into_iter().collect();
        scope.sort();
        let national = office.level == OfficeLevel::Hq;
        Some(crate::rules::list_in(store, if national { None } else { Some(&scope) }, None)?)
    } else {
        None
    };
    let models = if opts.models {
        Some(
            store
                .models()?
                .into_iter()
                .map(|m| ModelRow {
                    auc: m.metrics["evaluation"]["auc"].as_f64(),
                    eval_rows: m.metrics["evaluation"]["eval_rows"].as_u64(),
                    id: m.id,
                    status: m.status,
                    created_at: m.created_at,
                    created_by: m.created_by,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Report {
        period: period.clone(),
        generated_at: crate::app::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        unit,
        trend,
        below,
        rules,
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_parse_to_whole_days() {
        for (s, first, last) in [
            ("2026-Q1", "2026-01-01", "2026-03-31"),
            ("2026-Q4", "2026-10-01", "2026-12-31"),
            ("2024-02", "2024-02-01", "2024-02-29"),
            ("2026", "2026-01-01", "2026-12-31"),
            ("2026-03-05..2026-04-02", "2026-03-05", "2026-04-02"),
        ] {
            let p = Period::parse(s).unwrap();
            assert_eq!((p.first, p.last), (d(first), d(last)), "{s}");
        }
        let p = Period::parse("2026-Q1").unwrap();
        // China time: the quarter starts at 2025-12-31T16:00Z.
        assert_eq!(
            p.bounds().0,
            chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").unwrap().timestamp()
        );
        assert_eq!(
            p.bounds().1,
            chrono::DateTime::parse_from_rfc3339("2026-04-01T00:00:00+08:00").unwrap().timestamp()
        );
        let months: Vec<_> = Period::parse("2026-03-05..2026-05-02").unwrap().months();
        assert_eq!(
            months,
            vec![
                (d("2026-03-05"), d("2026-03-31")),
                (d("2026-04-01"), d("2026-04-30")),
                (d("2026-05-01"), d("2026-05-02"))
            ]
        );
    }

    #[test]
    fn a_bad_period_is_refused_naming_the_field() {
        for s in [
            "",
            "2026-Q5",
            "2026-13",
            "2026-3",
            "26",
            "1800",
            "Q1-2026",
            "2026-04-01..2026-03-01",
            "2026-02-30..2026-03-01",
            "1900-01-01..2199-12-31",
        ] {
            let e = Period::parse(s).unwrap_err();
            let app = e.downcast_ref::<AppError>().unwrap_or_else(|| panic!("{s:?}: {e}"));
            assert_eq!(app.field, "period", "{s:?}");
        }
        assert_eq!(
            Period::parse("2022-01-01..2026-12-31").unwrap().months().len(),
            MAX_MONTHS,
            "five years is the limit"
        );
    }

    fn f(value: Option<f64>, denominator: f64, target: &'static str) -> Figure {
        Figure {
            key: "k",
            name_zh: "",
            name: "",
            formula: "",
            numerator: value.unwrap_or(0.0) * denominator,
            denominator,
            value,
            target,
            unit: "rate",
        }
    }

    #[test]
    fn verdicts_follow_the_targets_and_the_minimum_sample() {
        use Verdict::*;
        for (fig, want) in [
            (f(Some(0.30), 100.0, "≥25%"), Met),
            (f(Some(0.20), 100.0, "≥25%"), Missed),
            (f(Some(1.0), 3.0, "≥25%"), TooFew),
            (f(Some(0.045), 1000.0, "≈4%"), Met),
            (f(Some(0.06), 1000.0, "≈4%"), Missed),
            (f(Some(0.003), 1000.0, "≤0.4%"), Met),
            (f(Some(1.0), 1000.0, "100%"), Met),
            (f(Some(0.99), 1000.0, "100%"), Missed),
            (f(None, 0.0, "≥95%"), NoData),
            (f(Some(0.5), 100.0, ""), NoTarget),
        ] {
            assert_eq!(judge(&fig), want, "{:?} on {} against {}", fig.value, fig.denominator, fig.target);
        }
    }
}
