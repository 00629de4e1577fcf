//! Model drift (issue 13, item 4): do recent outcomes still agree with the
//! learned model? `riskgate model drift`, `GET /api/v1/models/drift`, the
//! console's model page and `serve --retrain-on-drift` read the same
//! [`DriftReport`].
//!
//! Calibration needs no inverse-propensity weights: a declaration is
//! controlled on what the model saw (its score, rules, a random draw), so
//! if the model is calibrated the controlled ones still find at the rate it
//! predicted, E[finding | x] = p(x). Per group of completed controls whose
//! decision carries a learned model's score: observed findings O, expected
//! E = Σp, O/E and z = (O − E) / √Σp(1 − p); a group is flagged when
//! |z| ≥ [`Z_FLAG`] and O or E is at least [`MIN_COUNT`]. The share of new
//! traders among all screened declarations (a shift of the traffic that
//! needs no outcomes) is reported per week beside it.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use riskgate_core::Reason;
use riskgate_store::{DriftQuery, Store};
use serde::Serialize;

/// |z| at or above which a group is flagged (three standard deviations:
/// about one false flag in 370 groups of a calibrated model).
pub const Z_FLAG: f64 = 3.0;
/// A group is flagged only when its observed or expected findings reach
/// this (the normal approximation of z is poor below it).
pub const MIN_COUNT: f64 = 5.0;
/// A trader is new on a declaration when its first declaration in the
/// store is less than this many days before.
pub const NEW_TRADER_DAYS: i64 = 90;
/// The period read when none is given: the weeks up to the last decision.
pub const DEFAULT_WEEKS: i64 = 26;

const CHINA: i64 = 8 * 3600;
const WEEK: i64 = 7 * 86_400;

/// What to report on.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Decision times `[from, to)`; default: the [`DEFAULT_WEEKS`] weeks
    /// up to the last decision stored, from a Monday.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The offices read (a subtree, the caller's scope); `None`: all.
    pub offices: Option<Vec<String>>,
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = DriftRow)]
pub struct Row {
    /// The week (`2026-W10`), office code, model id, or `new` /
    /// `established` for traders.
    pub key: String,
    /// The office's name, or the week's Monday.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Completed controls of declarations the model scored.
    pub controls: u64,
    /// Of which with a finding (O).
    pub findings: u64,
    /// Σ score (E).
    pub expected: f64,
    /// O ÷ E.
    pub ratio: Option<f64>,
    /// (O − E) ÷ √Σp(1 − p).
    pub z: Option<f64>,
    pub flagged: bool,
    /// Weeks only: the screened declarations declared in the week (with or
    /// without a control), those of new traders, and their share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screened: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_trader_screened: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_trader_share: Option<f64>,
    /// Weeks only: the week began after the active model was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_training: Option<bool>,
}

/// A flagged group, for the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = DriftFlag)]
pub struct Flag {
    /// `week`, `office`, `model`, `trader` or `since_training`.
    pub group: String,
    pub key: String,
    pub findings: u64,
    pub expected: f64,
    pub z: f64,
    /// The outcomes are of decisions made after the active model was trained.
    pub after_training: bool,
}

impl Flag {
    /// One English line (the CLI, the action log).
    pub fn describe(&self) -> String {
        let what = match self.group.as_str() {
            "since_training" => format!("model {} since it was trained", self.key),
            "trader" => format!("{} traders", self.key),
            g => format!("{g} {}", self.key),
        };
        format!(
            "{what}: {} findings, {:.1} expected (O/E {:.2}, z {:+.1}){}",
            self.findings,
            self.expected,
            if self.expected > 0.0 { self.findings as f64 / self.expected } else { f64::NAN },
            self.z,
            if self.after_training { ", after the active model was trained" } else { "" }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = DriftVerdict)]
pub struct Verdict {
    /// Some group is flagged.
    pub drift: bool,
    /// Some flag concerns decisions made after the active model was trained
    /// (what `serve --retrain-on-drift` retrains on).
    pub since_training: bool,
    pub flags: Vec<Flag>,
}

/// The thresholds the report applied, shown with it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = DriftThresholds)]
pub struct Thresholds {
    pub z: f64,
    pub min_count: f64,
    pub new_trader_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    /// The decision times covered, `[from, to)`.
    #[schema(value_type = String)]
    pub from: DateTime<FixedOffset>,
    #[schema(value_type = String)]
    pub to: DateTime<FixedOffset>,
    pub active_model: Option<String>,
    #[schema(value_type = Option<String>)]
    pub active_trained_at: Option<DateTime<FixedOffset>>,
    pub thresholds: Thresholds,
    /// All scored controls of the period.
    pub total: Row,
    /// Completed controls without a learned model's score (statistical
    /// scorer, fallback), left out of every group.
    pub unscored_controls: u64,
    pub by_week: Vec<Row>,
    pub by_office: Vec<Row>,
    pub by_model: Vec<Row>,
    /// `new` and `established` traders.
    pub by_trader: Vec<Row>,
    /// The active model's controls decided after it was trained.
    pub since_training: Option<Row>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    controls: u64,
    findings: u64,
    expected: f64,
    variance: f64,
}

impl Sums {
    fn add(&mut self, p: f64, finding: bool) {
        self.controls += 1;
        self.findings += u64::from(finding);
        self.expected += p;
        self.variance += p * (1.0 - p);
    }

    fn row(&self, key: &str) -> Row {
        let o = self.findings as f64;
        let z = (self.variance > 0.0).then(|| (o - self.expected) / self.variance.sqrt());
        // Shown rounded; flagged on the exact z.
        let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
        Row {
            key: key.to_string(),
            controls: self.controls,
            findings: self.findings,
            expected: round(self.expected, 3),
            ratio: (self.expected > 0.0).then(|| round(o / self.expected, 4)),
            z: z.map(|z| round(z, 4)),
            flagged: z.is_some_and(|z| z.abs() >= Z_FLAG) && (o >= MIN_COUNT || self.expected >= MIN_COUNT),
            ..Row::default()
        }
    }
}

fn china(ts: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&FixedOffset::east_opt(CHINA as i32).expect("+08:00"))
}

/// The ISO week (`2026-W10`) of a time in China and the start of its Monday.
fn week_of(ts: i64) -> (String, i64) {
    let day = china(ts).date_naive();
    let iso = day.iso_week();
    let monday = day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()));
    (format!("{}-W{:02}", iso.year(), iso.week()), crate::app::day_start(monday))
}

/// The week (key, Monday) of a China day number.
fn week_of_day(day: i64) -> (String, i64) {
    week_of(day * 86_400 - CHINA + 12 * 3600)
}

fn date(ts: i64) -> NaiveDate {
    china(ts).date_naive()
}

/// The learned model's score in a decision's reasons, if it has one.
fn learned_score<'a>(reasons: &'a [Reason], learned: &HashSet<String>) -> Option<(&'a str, f64)> {
    reasons.iter().find_map(|r| match r {
        Reason::Model { id, score, .. } if learned.contains(id) => Some((id.as_str(), *score)),
        _ => None,
    })
}

/// The drift report `q` asks for.
pub fn report(store: &dyn Store, q: &Query) -> Result<DriftReport> {
    let to = match q.to {
        Some(t) => t,
        None => store.last_decided_at()?.map_or_else(|| crate::app::now().timestamp(), |t| t + 1),
    };
    let from = q.from.unwrap_or_else(|| week_of(to - DEFAULT_WEEKS * WEEK).1);
    if from >= to {
        return Err(crate::AppError::invalid("from", "from: expected a time before to").into());
    }
    let models = store.models()?;
    let learned: HashSet<String> = models.iter().map(|m| m.id.clone()).collect();
    let active = models.iter().find(|m| m.status == "active");
    let trained_at = active.map(|m| m.created_at);
    let names: HashMap<String, String> = store.offices()?.into_iter().map(|o| (o.code, o.name)).collect();
    let rows = store.drift_rows(&DriftQuery {
        from,
        to,
        offices: q.offices.as_deref(),
        new_within: NEW_TRADER_DAYS * 86_400,
    })?;

    let mut total = Sums::default();
    let mut unscored = 0;
    let mut weeks: BTreeMap<i64, (String, Sums, u64, u64)> = BTreeMap::new();
    let mut offices: BTreeMap<String, Sums> = BTreeMap::new();
    let mut by_model: BTreeMap<String, Sums> = BTreeMap::new();
    let mut traders: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut since = Sums::default();
    for c in &rows.controls {
        let Some((model, p)) = learned_score(&c.decision.reasons, &learned) else {
            unscored += 1;
            continue;
        };
        total.add(p, c.finding);
        let (week, monday) = week_of(c.decided_at);
        weeks.entry(monday).or_insert_with(|| (week, Sums::default(), 0, 0)).1.add(p, c.finding);
        offices.entry(c.office.clone()).or_default().add(p, c.finding);
        by_model.entry(model.to_string()).or_default().add(p, c.finding);
        traders.entry(if c.new_trader { "new" } else { "established" }).or_default().add(p, c.finding);
        if let (Some(a), Some(t)) = (active, trained_at)
            && a.id == model
            && c.decided_at >= t
        {
            since.add(p, c.finding);
        }
    }
    for s in &rows.screened {
        let (week, monday) = week_of_day(s.day);
        let w = weeks.entry(monday).or_insert_with(|| (week, Sums::default(), 0, 0));
        w.2 += s.declarations;
        if s.new_trader {
            w.3 += s.declarations;
        }
    }

    let mut flags = Vec::new();
    let mut flag = |group: &str, r: &Row, after_training: bool| {
        if r.flagged {
            flags.push(Flag {
                group: group.into(),
                key: r.key.clone(),
                findings: r.findings,
                expected: r.expected,
                z: r.z.unwrap_or_default(),
                after_training,
            });
        }
    };
    let by_week: Vec<Row> = weeks
        .into_iter()
        .map(|(monday, (week, sums, screened, new))| {
            let after = trained_at.map(|t| monday >= t);
            let row = Row {
                label: Some(date(monday).to_string()),
                screened: Some(screened),
                new_trader_screened: Some(new),
                new_trader_share: (screened > 0).then(|| new as f64 / screened as f64),
                after_training: after,
                ..sums.row(&week)
            };
            flag("week", &row, after == Some(true));
            row
        })
        .collect();
    let by_office: Vec<Row> = offices
        .iter()
        .map(|(code, sums)| {
            let row = Row { label: names.get(code).cloned(), ..sums.row(code) };
            flag("office", &row, false);
            row
        })
        .collect();
    let by_model: Vec<Row> = by_model
        .iter()
        .map(|(id, sums)| {
            let row = sums.row(id);
            flag("model", &row, false);
            row
        })
        .collect();
    let by_trader: Vec<Row> = ["new", "established"]
        .iter()
        .filter_map(|k| traders.get(k).map(|s| s.row(k)))
        .inspect(|row| flag("trader", row, false))
        .collect();
    let since_training = active.map(|a| {
        let row = since.row(&a.id);
        flag("since_training", &row, true);
        row
    });
    let since_flagged = flags.iter().any(|f| f.after_training);
    Ok(DriftReport {
        from: china(from),
        to: china(to),
        active_model: active.map(|a| a.id.clone()),
        active_trained_at: trained_at.map(china),
        thresholds: Thresholds { z: Z_FLAG, min_count: MIN_COUNT, new_trader_days: NEW_TRADER_DAYS },
        total: total.row("total"),
        unscored_controls: unscored,
        by_week,
        by_office,
        by_model,
        by_trader,
        since_training,
        verdict: Verdict { drift: !flags.is_empty(), since_training: since_flagged, flags },
    })
}

/// Why `serve --retrain-on-drift` retrains now, or `None`: the report
/// flags drift in outcomes of decisions made after the active model was
/// trained, and no model was trained in the last `min_gap` seconds (so a
/// drift that persists while the new model runs in shadow retrains at most
/// once per check period). Old drift, before the active model was trained,
/// is what that model already learned from.
pub fn retrain_reason(report: &DriftReport, newest_model_at: Option<i64>, now: i64, min_gap: i64) -> Option<String> {
    if !report.verdict.since_training || newest_model_at.is_some_and(|t| now - t < min_gap) {
        return None;
    }
    let flags: Vec<String> = report.verdict.flags.iter().filter(|f| f.after_training).map(Flag::describe).collect();
    Some(format!("model drift since the active model was trained: {}", flags.join("; ")))
}

/// Fills an empty store with a known drift, for the tests of every
/// transport: a learned model `gbdt-drift` (active, trained at
/// `trained_at`) scores p = 0.1 on 100 controls a week in each of offices
/// 2201 and 2202 for the ISO weeks 2026-W10 to W13 (decisions on
/// Wednesdays); findings are exactly the expected 10 except in office 2202
/// in W13, which finds 30 (3×). W13 also screens 50 declarations of a new
/// trader (green), and one control is scored by the statistical scorer.
#[doc(hidden)]
pub fn example_store(store: &mut dyn Store, trained_at: i64) -> Result<()> {
    use riskgate_core::{Channel, Decision, Declaration, Disposal, Outcome, RiskLevel, Screened, Source, TaskSpec};
    let declaration = |id: &str, at: &str, office: &str, trader: &str| {
        Declaration::from_json(&serde_json::json!({
            "id": id, "declared_at": at, "direction": "import", "office": office, "transport_mode": "sea",
            "trade_mode": "0110", "trader": {"id": trader}, "declarant": {"id": "B1"}, "currency": "CNY",
            "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10,
                       "net_weight_kg": 5.0, "value": 1000.0, "duty_rate": 0.1}]
        }))
    };
    let old = declaration("H-T1", "2025-06-02T09:00:00+08:00", "2201", "T1")?;
    store.commit_historical(&[old])?;
    let mut decls = Vec::new();
    let mut results = Vec::new();
    let mut outcomes = Vec::new();
    for (w, day) in [(10, 4), (11, 11), (12, 18), (13, 25)] {
        for office in ["2201", "2202"] {
            let found = if w == 13 && office == "2202" { 30 } else { 10 };
            for i in 0..100 {
                let id = format!("W{w}-{office}-{i:03}");
                let at = format!("2026-03-{day:02}T09:{:02}:00+08:00", i % 60);
                decls.push(declaration(&id, &at, office, "T1")?);
                let model = if w == 10 && office == "2201" && i == 99 { "stat-v1" } else { "gbdt-drift" };
                results.push((Channel::Red, model, 0.1));
                let mut o = serde_json::json!({"declaration_id": id, "officer": "E1", "control": "physical",
                    "completed_at": format!("2026-03-{:02}T15:00:00+08:00", day + 1),
                    "result": if i < found { "finding" } else { "no_finding" }});
                if i < found {
                    o["findings"] = serde_json::json!(["undervaluation"]);
                    o["additional_duty"] = serde_json::json!(100.0);
                }
                outcomes.push(Outcome::from_json(&o)?);
            }
        }
    }
    for i in 0..50 {
        decls.push(declaration(&format!("NEW-{i:02}"), "2026-03-26T10:00:00+08:00", "2202", "T-NEW")?);
        results.push((Channel::Green, "gbdt-drift", 0.01));
    }
    let screened: Vec<Screened> = decls
        .iter()
        .zip(&results)
        .map(|(d, &(lane, model, score))| Screened {
            decision: Decision {
                declaration_id: d.id.clone(),
                decided_at: d.declared_at,
                channel: lane,
                risk_value: score,
                risk_level: RiskLevel::from_risk_value(score),
                reasons: vec![Reason::Model {
                    id: model.into(),
                    score,
                    top_features: Vec::new(),
                    expected_revenue_cny: None,
                }],
                random: false,
                instructions: String::new(),
                selection_probability: if lane.is_control() { 1.0 } else { 0.0 },
                source: if lane.is_control() { Source::Score } else { Source::None },
                disposal: Some(if lane.is_control() { Disposal::Control } else { Disposal::Accept }),
                office: d.office.clone(),
                engine: "test".into(),
            },
            ranking: score,
            task: lane.is_control().then(|| TaskSpec {
                office: d.office.clone(),
                channel: lane,
                disposal: Disposal::Control,
                instructions: "check".into(),
            }),
            shadow: None,
            refer: Vec::new(),
        })
        .collect();
    let bodies: Vec<String> = decls.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    let jsons: Vec<String> = screened.iter().map(|s| serde_json::to_string(&s.decision)).collect::<Result<_, _>>()?;
    let batch: Vec<riskgate_store::NewDecision<'_>> = (0..decls.len())
        .map(|i| riskgate_store::NewDecision {
            declaration: &decls[i],
            body: &bodies[i],
            screened: &screened[i],
            decision_json: &jsons[i],
            shadow: None,
        })
        .collect();
    store.commit_screened(&batch, &[])?;
    store.commit_outcomes(&outcomes)?;
    let record = riskgate_store::ModelRecord {
        id: "gbdt-drift".into(),
        created_at: trained_at,
        created_by: "analyst".into(),
        status: "candidate".into(),
        metrics: serde_json::json!({}),
        bytes: Vec::new(),
    };
    store.insert_model(&record, &crate::app::new_action("analyst", None, "model_train", "gbdt-drift"))?;
    store.set_model_status(
        "gbdt-drift",
        "active",
        &crate::app::new_action("analyst", None, "model_active", "gbdt-drift"),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    /// The week and the office whose findings are 3× the expected are
    /// flagged, and nothing else; whether the drift counts as "since
    /// training" (and retrains) depends on when the active model was trained.
    #[test]
    fn three_times_the_expected_findings_are_flagged_in_their_week_and_office_only() {
        type Flags = Vec<(&'static str, &'static str, bool)>;
        let cases: [(&str, Flags, bool); 2] = [
            // Trained on the Monday of W12: W13 came after it.
            (
                "2026-03-16T00:00:00+08:00",
                vec![("week", "2026-W13", true), ("office", "2202", false), ("since_training", "gbdt-drift", true)],
                true,
            ),
            // Trained after every decision: old drift, no retraining.
            ("2026-03-30T00:00:00+08:00", vec![("week", "2026-W13", false), ("office", "2202", false)], false),
        ];
        for (trained, expected_flags, since) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut store = riskgate_store::SqliteStore::open(dir.path()).unwrap();
            example_store(&mut store, ts(trained)).unwrap();
            let q = Query {
                from: Some(ts("2026-03-01T00:00:00+08:00")),
                to: Some(ts("2026-04-01T00:00:00+08:00")),
                offices: None,
            };
            let r = report(&store, &q).unwrap();
            let flags: Vec<(&str, &str, bool)> =
                r.verdict.flags.iter().map(|f| (f.group.as_str(), f.key.as_str(), f.after_training)).collect();
            assert_eq!(flags, expected_flags, "trained {trained}");
            assert!(r.verdict.drift);
            assert_eq!(r.verdict.since_training, since, "trained {trained}");
            let weeks: Vec<(&str, u64, u64, f64, bool)> =
                r.by_week.iter().map(|w| (w.key.as_str(), w.controls, w.findings, w.expected, w.flagged)).collect();
            assert_eq!(
                weeks,
                vec![
                    ("2026-W10", 199, 20, 19.9, false),
                    ("2026-W11", 200, 20, 20.0, false),
                    ("2026-W12", 200, 20, 20.0, false),
                    ("2026-W13", 200, 40, 20.0, true),
                ]
            );
            let w13 = &r.by_week[3];
            assert_eq!((w13.screened, w13.new_trader_screened, w13.new_trader_share), (Some(250), Some(50), Some(0.2)));
            assert_eq!(r.by_week[0].new_trader_share, Some(0.0));
            assert!((w13.z.unwrap() - 20.0 / 18f64.sqrt()).abs() < 1e-4);
            let offices: Vec<(&str, u64, f64, bool)> =
                r.by_office.iter().map(|o| (o.key.as_str(), o.findings, o.expected, o.flagged)).collect();
            assert_eq!(offices, vec![("2201", 40, 39.9, false), ("2202", 60, 40.0, true)]);
            assert_eq!(r.by_office[1].ratio, Some(1.5));
            assert_eq!(r.unscored_controls, 1, "the statistical scorer's control is left out");
            assert_eq!(r.by_model.len(), 1);
            assert_eq!(r.by_trader.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["established"]);
            assert_eq!(r.active_model.as_deref(), Some("gbdt-drift"));
            let reason = retrain_reason(&r, Some(ts(trained)), ts("2026-04-01T00:00:00+08:00"), 3600);
            assert_eq!(reason.is_some(), since, "retrain on drift since training only: {reason:?}");
            if let Some(why) = reason {
                assert!(why.contains("week 2026-W13") && why.contains("40 findings, 20.0 expected"), "{why}");
                // A model trained within the check period: no second retraining.
                let soon =
                    retrain_reason(&r, Some(ts("2026-03-31T23:30:00+08:00")), ts("2026-04-01T00:00:00+08:00"), 3600);
                assert_eq!(soon, None);
            }
            // Scoped to office 2201: calibrated, nothing flagged.
            let scoped = report(&store, &Query { offices: Some(vec!["2201".into()]), ..q.clone() }).unwrap();
            assert!(!scoped.verdict.drift, "{:?}", scoped.verdict);
            assert_eq!(scoped.by_office.len(), 1);
            // Without a period: the weeks up to the last decision.
            let default = report(&store, &Query::default()).unwrap();
            assert_eq!(default.by_week, r.by_week);
            assert_eq!(default.to.timestamp(), ts("2026-03-26T10:00:01+08:00"));
        }
    }

    #[test]
    fn weeks_are_iso_weeks_in_china_time() {
        // Sunday 8 March 2026, 23:30 in China is still week 10; Monday 00:10 is week 11.
        let sunday = DateTime::parse_from_rfc3339("2026-03-08T23:30:00+08:00").unwrap().timestamp();
        let monday = DateTime::parse_from_rfc3339("2026-03-09T00:10:00+08:00").unwrap().timestamp();
        assert_eq!(week_of(sunday).0, "2026-W10");
        assert_eq!(date(week_of(sunday).1).to_string(), "2026-03-02");
        assert_eq!(week_of(monday), ("2026-W11".into(), crate::app::day_start(date(monday))));
        // Day numbers (China days since 1970-01-01) map to the same weeks.
        assert_eq!(week_of_day((monday + CHINA) / 86_400), week_of(monday));
        assert_eq!(week_of_day((sunday + CHINA) / 86_400), week_of(sunday));
        // 1 January 2027 is a Friday of 2026's week 53.
        let jan1 = DateTime::parse_from_rfc3339("2027-01-01T12:00:00+08:00").unwrap().timestamp();
        assert_eq!(week_of(jan1).0, "2026-W53");
    }

    #[test]
    fn a_group_is_flagged_beyond_three_sigma_with_enough_findings() {
        let sums = |n: u64, found: u64, p: f64| {
            let mut s = Sums::default();
            for i in 0..n {
                s.add(p, i < found);
            }
            s
        };
        // 100 controls at p = 0.1: E = 10, sd = 3.
        assert!(!sums(100, 10, 0.1).row("k").flagged, "calibrated");
        assert!(!sums(100, 18, 0.1).row("k").flagged, "z = 2.67");
        assert!(sums(100, 20, 0.1).row("k").flagged, "z = 3.33");
        assert!(sums(100, 0, 0.1).row("k").flagged, "z = -3.33: too few findings is drift too");
        // 10 controls at p = 0.01: E = 0.1, O = 3 gives z ≈ 9 but fewer than 5 of either.
        let small = sums(10, 3, 0.01).row("k");
        assert!(small.z.unwrap() > 9.0 && !small.flagged);
        assert_eq!(sums(100, 30, 0.1).row("k").ratio, Some(3.0));
    }
}
