//! `riskgate model`: train the learned scorer on controlled declarations
//! (weighted by inverse selection probability), evaluate it on a later time
//! window, register it as a version, and make a version active or shadow.
//!
//! Leakage: declarations and outcomes are replayed in business-time order
//! (declared_at, completed_at), so the features of a declaration never see
//! an outcome completed after it.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset};
use riskgate_core::Declaration;
use riskgate_engine::features::{FEATURES, attribute_features, feature_names, features};
use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Engine, EngineConfig};
use riskgate_model::{Dataset, Model, Objective, TrainParams};
use riskgate_store::{ModelRecord, Store};
use serde::Serialize;

pub use crate::app::install;
use crate::app::{App, now};

/// Control rates at which models are evaluated (M2 asks for ~4%).
pub const RATES: [f64; 5] = [0.01, 0.02, 0.04, 0.05, 0.10];

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Start of the evaluation window; default: the time by which 75% of
    /// the labelled declarations had been declared.
    pub split: Option<i64>,
    pub params: TrainParams,
    /// Inverse-propensity weights are capped here so that a few random
    /// controls do not dominate training.
    pub max_weight: f64,
    /// Declaration attributes (codes of the deployment's own declarations)
    /// used as features beside the engine's.
    pub attributes: Vec<String>,
    /// Engine features left out of the model: names starting with any of
    /// these prefixes (e.g. `trader_` where party identities are noise).
    pub exclude: Vec<String>,
    /// Recent outcomes weigh more: an example's weight halves for every
    /// this many days it was declared before the newest labelled one
    /// (`None`: all outcomes weigh the same).
    pub half_life_days: Option<f64>,
    /// Whether the model put into service is trained again on every
    /// labelled declaration, the evaluation window included, once the
    /// evaluation (of a model trained on the earlier window only) is done.
    /// Without it the newest quarter of the outcomes — where drift shows
    /// first — never reaches the model that screens.
    pub refit: bool,
}

impl TrainOptions {
    /// The model's input names: the engine's features minus the excluded
    /// ones, then the attribute features.
    pub fn names(&self) -> Vec<String> {
        riskgate_engine::features::selected_names(&self.attributes, &self.exclude)
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            from: None,
            to: None,
            split: None,
            params: TrainParams {
                iterations: 300,
                learning_rate: 0.05,
                max_depth: 3,
                min_leaf_weight: 5.0,
                ..TrainParams::default()
            },
            max_weight: 50.0,
            attributes: Vec::new(),
            exclude: Vec::new(),
            half_life_days: None,
            refit: true,
        }
    }
}

/// One labelled declaration: its features as they were when it arrived.
pub struct Example {
    pub declared_at: i64,
    pub features: Vec<f64>,
    pub finding: bool,
    pub duty_cny: f64,
    pub weight: f64,
}

/// Figures at one control rate on the evaluation window.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RateFigures {
    pub rate: f64,
    pub precision: f64,
    pub recall: f64,
    pub revenue_share: f64,
}

/// Ranks rows by score and takes the top share `rate` of the total weight
/// (the weighted labelled rows stand for all traffic); precision, recall
/// and revenue share are weighted the same way.
pub fn weighted_at(scores: &[f64], found: &[bool], duty: &[f64], weights: &[f64], rates: &[f64]) -> Vec<RateFigures> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    let total_w: f64 = weights.iter().sum();
    let total_pos: f64 = (0..scores.len()).filter(|i| found[*i]).map(|i| weights[i]).sum();
    let total_duty: f64 = (0..scores.len()).filter(|i| found[*i]).map(|i| weights[i] * duty[i]).sum();
    rates
        .iter()
        .map(|&rate| {
            let budget = rate * total_w;
            let (mut w, mut pos, mut rev) = (0.0, 0.0, 0.0);
            for &i in &order {
                if w >= budget {
                    break;
                }
                w += weights[i];
                if found[i] {
                    pos += weights[i];
                    rev += weights[i] * duty[i];
                }
            }
            RateFigures {
                rate,
                precision: if w > 0.0 { pos / w } else { 0.0 },
                recall: if total_pos > 0.0 { pos / total_pos } else { 0.0 },
                revenue_share: if total_duty > 0.0 { rev / total_duty } else { 0.0 },
            }
        })
        .collect()
}

/// Replays the store in business time and returns the labelled examples.
/// Replays the store in business time (outcomes applied when completed,
/// declarations folded in when declared) and hands `f` every declaration
/// with the feature vector it had on arrival. The active rules are
/// evaluated on every declaration (as a back-test does), so the model learns
/// what each of them is worth.
pub fn replay_features(
    store: &dyn Store,
    attributes: &[String],
    f: &mut dyn FnMut(&riskgate_store::TimelineRow, &[f64]),
) -> Result<()> {
    let mut lists = riskgate_rules::Lists::new();
    let mut grouped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in store.lists()? {
        grouped.entry(name).or_default().push(value);
    }
    for (name, values) in grouped {
        lists.set(&name, values);
    }
    let active: Vec<_> =
        store.rules()?.into_iter().filter(|r| r.status == riskgate_engine::RuleStatus::Active).map(|r| r.def).collect();
    let outcomes = store.outcomes_by_time()?;
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_lists(lists);
    let _ = engine.set_rules(active);
    for e in store.enterprises()? {
        engine.context.set_enterprise(&e);
    }
    for p in store.forex()? {
        engine.context.add_forex(&p);
    }
    let mut next = 0usize;
    let mut row_features = Vec::with_capacity(FEATURES.len());
    store.timeline(&mut |row| {
        let d: &Declaration = &row.declaration;
        let t = d.declared_at.timestamp();
        while next < outcomes.len() && outcomes[next].0.completed_at.timestamp() <= t {
            engine.apply_outcome(&outcomes[next].1, &outcomes[next].0);
            next += 1;
        }
        features(&engine.score_input(d), &mut row_features);
        attribute_features(d, attributes, &mut row_features);
        f(&row, &row_features);
        engine.apply_historical(d);
    })?;
    Ok(())
}

/// The labelled examples: every declaration with a control outcome, its
/// features on arrival and its inverse-propensity weight.
pub fn examples(store: &dyn Store, max_weight: f64, attributes: &[String]) -> Result<Vec<Example>> {
    // Label of each declaration: any finding, total duty recovered.
    // …and, for a released declaration an audit plan chose, the
    // probability with which it was chosen.
    let mut labels: HashMap<String, (bool, f64, bool, Option<f64>)> = HashMap::new();
    for (o, keys) in store.outcomes_by_time()? {
        let e = labels.entry(o.declaration_id.clone()).or_insert((false, 0.0, false, None));
        e.0 |= o.is_finding();
        e.1 += o.additional_duty;
        e.2 |= keys.random;
        if o.control == riskgate_core::ControlKind::Audit
            && let Some(p) = o.attributes.get(crate::cases::SELECTION_PROBABILITY).and_then(|v| v.as_f64())
            && p > 0.0
            && p <= 1.0
        {
            e.3 = Some(e.3.map_or(p, |q: f64| q.max(p)));
        }
    }
    let mut historical = 0usize;
    let mut legacy_random = 0usize;
    let mut out = Vec::new();
    let mut pending_legacy: Vec<usize> = Vec::new();
    replay_features(store, attributes, &mut |row, f| {
        let d = &row.declaration;
        if row.decision.is_none() {
            historical += 1;
        }
        if let Some(&(finding, duty, random, audit)) = labels.get(&d.id) {
            let weight = match &row.decision {
                Some(dec) if dec.channel.is_control() => 1.0 / dec.selection_probability.max(1e-6),
                // Released, then chosen by an audit plan with probability p.
                Some(_) if audit.is_some() => 1.0 / audit.unwrap_or(1.0).max(1e-6),
                Some(_) => 1.0, // a manual control of a green declaration
                None if random => {
                    legacy_random += 1;
                    pending_legacy.push(out.len());
                    f64::NAN // set below, once the legacy random rate is known
                }
                None if audit.is_some() => 1.0 / audit.unwrap_or(1.0).max(1e-6),
                None => 1.0,
            };
            out.push(Example {
                declared_at: d.declared_at.timestamp(),
                features: f.to_vec(),
                finding,
                duty_cny: duty,
                weight,
            });
        }
    })?;
    // Legacy random controls stand for the uncontrolled history at the rate
    // the legacy process drew them.
    let legacy_rate = if historical > 0 { legacy_random as f64 / historical as f64 } else { 1.0 };
    for i in pending_legacy {
        out[i].weight = 1.0 / legacy_rate.max(1e-6);
    }
    for e in &mut out {
        e.weight = e.weight.min(max_weight);
    }
    Ok(out)
}

/// The examples' rows (full vectors: the engine's features, then the
/// attributes) cut down to the model's inputs `opts.names()`.
fn dataset(rows: &[&Example], opts: &TrainOptions) -> Dataset {
    let full = feature_names(&opts.attributes);
    let names = opts.names();
    let keep: Vec<usize> = names
        .iter()
        .map(|n| full.iter().position(|f| f == n).expect("selected names come from the full list"))
        .collect();
    let mut d = Dataset::new(names);
    let mut row = Vec::with_capacity(keep.len());
    for r in rows {
        row.clear();
        row.extend(keep.iter().map(|&i| r.features[i]));
        d.push(&row);
    }
    d
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub train_rows: usize,
    pub train_findings: usize,
    pub eval_rows: usize,
    pub eval_findings: usize,
    pub train_window: (String, String),
    pub eval_window: (String, String),
    pub auc: f64,
    pub at: Vec<RateFigures>,
    pub train_seconds: f64,
    pub model_bytes: usize,
    /// Labelled declarations the model in service was trained on: the
    /// training window's, or every one when refit (`TrainOptions::refit`).
    pub deployed_rows: usize,
    pub deployed_findings: usize,
    /// The recency half-life the weights used, in days.
    pub half_life_days: Option<f64>,
}

fn day(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|x| x.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("offset")).date_naive().to_string())
        .unwrap_or_default()
}

/// Trains and evaluates; returns the scorer to put into service (trained
/// again on every row when `opts.refit`, else the evaluated one, trained on
/// the earlier window) and the evaluation of a model trained on the earlier
/// window only, judged on the later one (`model_bytes` is that model's size).
pub fn train(store: &dyn Store, id: &str, opts: &TrainOptions) -> Result<(ModelScorer, Evaluation)> {
    for p in &opts.exclude {
        if !FEATURES.iter().any(|f| f.starts_with(p.as_str())) {
            bail!("--exclude {p:?}: no engine feature starts with it (see `model show` for the names)");
        }
    }
    let all = examples(store, opts.max_weight, &opts.attributes)?;
    let in_range: Vec<&Example> = all
        .iter()
        .filter(|e| opts.from.is_none_or(|f| e.declared_at >= f) && opts.to.is_none_or(|t| e.declared_at < t))
        .collect();
    if in_range.len() < 100 {
        bail!("only {} controlled declarations with outcomes in the period; at least 100 are needed", in_range.len());
    }
    let split = match opts.split {
        Some(s) => s,
        None => {
            let mut times: Vec<i64> = in_range.iter().map(|e| e.declared_at).collect();
            times.sort_unstable();
            times[times.len() * 3 / 4]
        }
    };
    let (train_rows, eval_rows): (Vec<&Example>, Vec<&Example>) = in_range.iter().partition(|e| e.declared_at < split);
    let findings = |rows: &[&Example]| rows.iter().filter(|e| e.finding).count();
    if findings(&train_rows) < 10 || eval_rows.is_empty() {
        bail!(
            "the training window has {} findings and the evaluation window {} rows; widen the period or move --split",
            findings(&train_rows),
            eval_rows.len()
        );
    }
    let t = std::time::Instant::now();
    let evaluated = fit(&train_rows, opts, id)?;
    let deployed_rows: Vec<&Example> = if opts.refit { in_range.clone() } else { Vec::new() };
    let deployed = if opts.refit { Some(fit(&deployed_rows, opts, id)?) } else { None };
    let train_seconds = t.elapsed().as_secs_f64();
    let eval = dataset(&eval_rows, opts);
    let scores = evaluated.classifier().predict_batch(&eval);
    let labels: Vec<f64> = eval_rows.iter().map(|e| f64::from(u8::from(e.finding))).collect();
    let found_eval: Vec<bool> = eval_rows.iter().map(|e| e.finding).collect();
    let duty: Vec<f64> = eval_rows.iter().map(|e| e.duty_cny).collect();
    let weights: Vec<f64> = eval_rows.iter().map(|e| e.weight).collect();
    let span = |rows: &[&Example]| {
        let lo = rows.iter().map(|e| e.declared_at).min().unwrap_or(0);
        let hi = rows.iter().map(|e| e.declared_at).max().unwrap_or(0);
        (day(lo), day(hi))
    };
    let evaluation = Evaluation {
        train_rows: train_rows.len(),
        train_findings: findings(&train_rows),
        eval_rows: eval_rows.len(),
        eval_findings: findings(&eval_rows),
        train_window: span(&train_rows),
        eval_window: span(&eval_rows),
        auc: riskgate_model::metrics::auc(&scores, &labels),
        at: weighted_at(&scores, &found_eval, &duty, &weights, &RATES),
        train_seconds,
        model_bytes: evaluated.to_bytes().len(),
        deployed_rows: if opts.refit { deployed_rows.len() } else { train_rows.len() },
        deployed_findings: if opts.refit { findings(&deployed_rows) } else { findings(&train_rows) },
        half_life_days: opts.half_life_days,
    };
    Ok((deployed.unwrap_or(evaluated), evaluation))
}

/// Trains the classifier and, with enough findings, the revenue model on
/// `rows`, each weighted by its inverse propensity times its recency weight
/// (`TrainOptions::half_life_days`, counted back from the newest row).
fn fit(rows: &[&Example], opts: &TrainOptions, id: &str) -> Result<ModelScorer> {
    let newest = rows.iter().map(|e| e.declared_at).max().unwrap_or(0);
    let weight = |e: &Example| match opts.half_life_days {
        Some(h) if h > 0.0 => e.weight * 0.5f64.powf((newest - e.declared_at) as f64 / (h * 86_400.0)),
        _ => e.weight,
    };
    let data = dataset(rows, opts);
    let y: Vec<f64> = rows.iter().map(|e| f64::from(u8::from(e.finding))).collect();
    let w: Vec<f64> = rows.iter().map(|e| weight(e)).collect();
    let classifier = Model::train(Objective::Classification, &data, &y, &w, None, &opts.params)
        .context("training the classifier")?;
    let found: Vec<&Example> = rows.iter().copied().filter(|e| e.finding).collect();
    let revenue = if found.len() >= 50 {
        let rd = dataset(&found, opts);
        let ry: Vec<f64> = found.iter().map(|e| e.duty_cny.ln_1p()).collect();
        let rw: Vec<f64> = found.iter().map(|e| weight(e)).collect();
        let params = TrainParams { iterations: opts.params.iterations.min(200), ..opts.params.clone() };
        Some(Model::train(Objective::Regression, &rd, &ry, &rw, None, &params).context("training the revenue model")?)
    } else {
        None
    };
    Ok(ModelScorer::new(id.to_string(), classifier, revenue)?)
}

/// Trains, evaluates and registers a new model version (status candidate).
pub fn train_and_register(app: &mut App, opts: &TrainOptions) -> Result<(String, Evaluation)> {
    let user = app.user.clone();
    train_and_register_in(app.store.as_mut(), &user, opts)
}

/// `train_and_register` on any store connection, in `user`'s name (the
/// scheduled retraining of `serve` uses a connection of its own).
pub fn train_and_register_in(store: &mut dyn Store, user: &str, opts: &TrainOptions) -> Result<(String, Evaluation)> {
    let at = now();
    let mut id = format!("gbdt-{}", at.format("%Y%m%d-%H%M%S"));
    let existing: Vec<String> = store.models()?.into_iter().map(|m| m.id).collect();
    let mut n = 2;
    while existing.contains(&id) {
        id = format!("gbdt-{}-{n}", at.format("%Y%m%d-%H%M%S"));
        n += 1;
    }
    let (scorer, evaluation) = train(store, &id, opts)?;
    let record = ModelRecord {
        id: id.clone(),
        created_at: at.timestamp(),
        created_by: user.to_string(),
        status: "candidate".into(),
        metrics: serde_json::json!({
            "evaluation": evaluation,
            "params": opts.params,
            "max_weight": opts.max_weight,
            "half_life_days": opts.half_life_days,
            "refit": opts.refit,
            "features": opts.names(),
        }),
        bytes: scorer.to_bytes(),
    };
    let a = riskgate_store::Action {
        at,
        actor: user.to_string(),
        office: None,
        action: "model_train".into(),
        target: id.clone(),
        before: None,
        after: Some(serde_json::json!({"auc": evaluation.auc, "eval_rows": evaluation.eval_rows})),
        reason: None,
    };
    store.insert_model(&record, &a)?;
    Ok((id, evaluation))
}

/// Makes a model active, shadow or retired. While a committee covers
/// model activation (the HQ committee), activating one becomes a pending
/// committee item instead (`committees::gate`).
pub fn set_status(app: &mut App, id: &str, status: &str) -> Result<crate::committee_gate::Gated<()>> {
    crate::accounts::require_identity(&app.user, "changing a model's status")?;
    let before = app.store.model(id)?.with_context(|| format!("no model {id:?}"))?;
    if !matches!(status, "active" | "shadow" | "retired") {
        return Err(crate::AppError::invalid(
            "status",
            format!("status: expected active, shadow or retired, got {status:?}"),
        )
        .into());
    }
    check_loads(&before, status)?;
    if status == "active"
        && let Some(item) = crate::committee_gate::gate(
            app,
            crate::committee_gate::Change::ModelActivate { model: id.to_string() },
            format!("activate model {id}"),
            Some(serde_json::json!({"status": before.status})),
            Some(serde_json::json!({"status": status})),
        )?
    {
        return Ok(crate::committee_gate::Gated::Pending(Box::new(item)));
    }
    apply_status(app, id, status, None)?;
    Ok(crate::committee_gate::Gated::Done(()))
}

/// Checked before anything is stored: a model that does not load is never
/// made active or shadow (the change would be stored and then not take effect).
fn check_loads(model: &ModelRecord, status: &str) -> Result<()> {
    if status != "retired"
        && let Err(e) = riskgate_engine::model_scorer::ModelScorer::from_bytes(model.id.clone(), &model.bytes)
    {
        return Err(crate::AppError::conflict(format!(
            "model {} does not load, so it cannot be made {status}: {e:#}",
            model.id
        ))
        .into());
    }
    Ok(())
}

/// Stores a model's new status with its action-log entry; `via` (the
/// committee item that approved it) becomes the entry's reason.
pub(crate) fn apply_status(app: &mut App, id: &str, status: &str, via: Option<String>) -> Result<()> {
    let before = app.store.model(id)?.with_context(|| format!("no model {id:?}"))?;
    check_loads(&before, status)?;
    let mut a = app.action(&format!("model_{status}"), id);
    a.before = Some(serde_json::json!({"status": before.status}));
    a.after = Some(serde_json::json!({"status": status}));
    a.reason = via;
    app.store.set_model_status(id, status, &a)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_core::Outcome;
    use riskgate_store::SqliteStore;

    fn decl(id: &str, day: u32) -> Declaration {
        Declaration::from_json(&serde_json::json!({
            "id": id, "declared_at": format!("2026-03-{day:02}T09:00:00+08:00"), "direction": "import",
            "office": "2201", "transport_mode": "sea", "trade_mode": "0110",
            "trader": {"id": "T1"}, "declarant": {"id": "B1"}, "currency": "USD",
            "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10,
                       "net_weight_kg": 5.0, "value": 1000.0, "duty_rate": 0.1}]
        }))
        .unwrap()
    }

    fn outcome(id: &str, day: u32, finding: bool) -> Outcome {
        let mut v = serde_json::json!({
            "declaration_id": id, "officer": "E1", "control": "physical",
            "completed_at": format!("2026-03-{day:02}T12:00:00+08:00"),
            "result": if finding { "finding" } else { "no_finding" }
        });
        if finding {
            v["findings"] = serde_json::json!(["undervaluation"]);
            v["additional_duty"] = serde_json::json!(100.0);
        }
        Outcome::from_json(&v).unwrap()
    }

    /// The features of a declaration never see an outcome completed after
    /// it was declared, whatever order the data was imported in.
    #[test]
    fn features_see_no_outcome_completed_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.commit_historical(&[decl("D1", 1), decl("D2", 5), decl("D3", 15)]).unwrap();
        // Imported after all declarations, completed at various times.
        store.commit_outcomes(&[outcome("D1", 10, true), outcome("D2", 6, false), outcome("D3", 16, false)]).unwrap();
        let ex = examples(&store, 50.0, &[]).unwrap();
        let col = |name: &str| FEATURES.iter().position(|f| *f == name).unwrap();
        let controls: Vec<f64> = ex.iter().map(|e| e.features[col("trader_controls")]).collect();
        assert_eq!(controls, vec![0.0, 0.0, 2.0], "D2 (day 5) must not see D1's outcome (day 10)");
        let rate = |i: usize| ex[i].features[col("trader_finding_rate")];
        assert_eq!(rate(0), rate(1), "no outcome known to D1 or D2");
        assert!(rate(2) > rate(1), "D3 (day 15) sees D1's finding");
        assert_eq!(ex.iter().map(|e| e.finding).collect::<Vec<_>>(), vec![true, false, false]);
    }

    /// A stored model that does not load is never made active (refused
    /// before anything is stored), and one already active is skipped at
    /// start instead of keeping the store from opening.
    #[test]
    fn a_model_that_does_not_load_is_refused_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let rec = riskgate_store::ModelRecord {
            id: "m-damaged".into(),
            created_at: 0,
            created_by: "analyst".into(),
            status: "candidate".into(),
            metrics: serde_json::json!({}),
            bytes: b"not a model".to_vec(),
        };
        store.insert_model(&rec, &crate::app::new_action("analyst", None, "model_train", "m-damaged")).unwrap();
        drop(store);
        let mut app = App::open(dir.path(), "analyst").unwrap();
        let statistical = app.engine.policy_id().to_string();
        let e = set_status(&mut app, "m-damaged", "active").unwrap_err();
        assert!(e.to_string().contains("does not load"), "{e:#}");
        assert_eq!(app.store.model("m-damaged").unwrap().unwrap().status, "candidate", "nothing stored");
        let logged = app.store.actions(10).unwrap();
        assert!(logged.iter().all(|l| l.action.action != "model_active"), "nothing logged");
        // Damaged after activation (e.g. written by another build): the store still opens.
        let a = crate::app::new_action("analyst", None, "model_active", "m-damaged");
        app.store.set_model_status("m-damaged", "active", &a).unwrap();
        drop(app);
        let app = App::open(dir.path(), "analyst").expect("the store opens with a damaged active model");
        assert_eq!(app.engine.policy_id(), statistical, "screening goes on with the statistical scorer");
    }
}
