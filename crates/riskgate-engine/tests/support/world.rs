//! A seeded synthetic world loaded into an engine, shared by the exactness
//! test (`tests/screen_exact.rs`) and the timing harness
//! (`examples/screen_speed.rs`). Nothing here is timed or asserted.

#![allow(dead_code)]

use std::collections::HashMap;

use riskgate_core::{Declaration, Enterprise, ForexPayment, Outcome};
use riskgate_engine::features::{FEATURES, FeatureLayout, features};
use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Engine, EngineConfig, OutcomeKeys, RuleDef};
use riskgate_model::{Dataset, Model, Objective, TrainParams};
use riskgate_synth::{Lane, MemorySink, Truth, WorldConfig, WorldFile, simulate_outcome};

pub struct World {
    pub seed: u64,
    pub enterprises: Vec<Enterprise>,
    pub forex: Vec<ForexPayment>,
    pub history: Vec<Declaration>,
    /// History outcomes in completion order, with the keys of their declaration.
    pub outcomes: Vec<(OutcomeKeys, Outcome)>,
    pub live: Vec<Declaration>,
    pub truth: HashMap<String, Truth>,
    pub officers: HashMap<String, Vec<String>>,
}

/// Generates the world of `seed` at `scale` (1.0 ≈ 100k declarations).
pub fn generate(seed: u64, scale: f64) -> World {
    let mut sink = MemorySink::default();
    riskgate_synth::generate(&WorldConfig::new(seed, scale), &mut sink).expect("the world generates");
    let decls = |f: WorldFile| -> Vec<Declaration> {
        sink.of(f).map(|v| Declaration::from_json(v).expect("a generated declaration is valid")).collect()
    };
    let history = decls(WorldFile::History);
    let live = decls(WorldFile::Live);
    let keys: HashMap<&str, OutcomeKeys> = history.iter().map(|d| (d.id.as_str(), OutcomeKeys::of(d, false))).collect();
    let mut outcomes: Vec<(OutcomeKeys, Outcome)> = sink
        .of(WorldFile::HistoryOutcomes)
        .map(|v| Outcome::from_json(v).expect("a generated outcome is valid"))
        .filter_map(|o| Some((keys.get(o.declaration_id.as_str())?.clone(), o)))
        .collect();
    outcomes.sort_by_key(|(_, o)| o.completed_at);
    let mut officers: HashMap<String, Vec<String>> = HashMap::new();
    for v in sink.of(WorldFile::Officers) {
        if let (Some(id), Some(office)) = (v["id"].as_str(), v["office"].as_str()) {
            officers.entry(office.to_string()).or_default().push(id.to_string());
        }
    }
    World {
        seed,
        enterprises: sink.of(WorldFile::Enterprises).map(|v| Enterprise::from_json(v).expect("valid")).collect(),
        forex: sink.of(WorldFile::Forex).map(|v| ForexPayment::from_json(v).expect("valid")).collect(),
        history,
        outcomes,
        live,
        truth: sink.of(WorldFile::Truth).filter_map(Truth::from_json).map(|t| (t.declaration_id.clone(), t)).collect(),
        officers,
    }
}

fn rule(id: &str, when: &str, weight: f64, channel: Option<riskgate_core::Channel>) -> RuleDef {
    RuleDef {
        title: format!("title of {id}"),
        channel,
        instructions: format!("instructions of {id}"),
        ..RuleDef::new(id, when, weight)
    }
}

/// The demo rules plus rules reading every kind of derived fact (histories,
/// references, forex, registry), so that the facts are covered too.
pub fn rules() -> Vec<RuleDef> {
    use riskgate_core::Channel::Red;
    vec![
        rule("R-UV-001", "any(item: item.ref.count >= 20 and item.unit_value < 0.35 * item.ref.median)", 0.35, None),
        rule("R-FX-001", "direction == \"import\" and forex.by_reference and forex.paid_ratio > 1.25", 0.5, None),
        rule("R-DIS-001", "trader.credit_class == \"dishonest\" and declared_duty_cny > 50000", 0.2, Some(Red)),
        rule("R-Z-001", "any(item: item.ref.z < -1.2 or item.kg_ref.z > 1.5)", 0.15, None),
        rule("R-HS6-001", "any(item: item.ref_hs6.median > 2 * item.unit_value and item.kg_ref.median > 0)", 0.1, None),
        rule("R-HIST-001", "trader.finding_rate > 0.05 or declarant.findings >= 2", 0.2, None),
        rule("R-HIST-002", "any(item: item.goods.finding_rate > 0.04 or item.route.findings >= 1)", 0.1, None),
        rule("R-NEW-001", "not trader.known or trader.age_days < 400", 0.1, None),
        rule("R-CAP-001", "trader.registered_capital_cny < 1000000 and total_value_cny > 200000", 0.1, None),
        rule("R-FX-002", "forex.matched and not forex.by_reference", 0.05, None),
        rule("R-ACT-001", "trader.recent > 20 and trader.controls == 0 and hour >= 18", 0.05, None),
        rule("R-RT-001", "any(item: item.route.declarations < 3 and item.goods.recent < 5)", 0.05, None),
    ]
}

/// An engine with the registry, the payments and `rules` installed.
pub fn engine(w: &World, rules: Vec<RuleDef>) -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    for e in &w.enterprises {
        engine.context.set_enterprise(e);
    }
    for p in &w.forex {
        engine.context.add_forex(p);
    }
    let errors = engine.set_rules(rules);
    assert!(errors.is_empty(), "rules compile: {errors:?}");
    engine
}

/// Replays the history in business time (outcomes applied once completed,
/// declarations folded in as declared), as model training does, and hands
/// `f` every history declaration with its feature vector on arrival.
pub fn replay_history(w: &World, engine: &mut Engine, f: &mut dyn FnMut(&Declaration, &[f64])) {
    let mut next = 0usize;
    let mut row = Vec::with_capacity(FEATURES.len());
    for d in &w.history {
        let t = d.declared_at.timestamp();
        while next < w.outcomes.len() && w.outcomes[next].1.completed_at.timestamp() <= t {
            engine.apply_outcome(&w.outcomes[next].0, &w.outcomes[next].1);
            next += 1;
        }
        features(&engine.score_input(d), &mut row);
        f(d, &row);
        engine.apply_historical(d);
    }
    for (k, o) in &w.outcomes[next..] {
        engine.apply_outcome(k, o);
    }
}

/// A small model trained on the history's controls (features on arrival).
pub fn train_model(w: &World, engine: &mut Engine) -> ModelScorer {
    train_model_with(w, engine, &[], TrainParams { iterations: 40, max_depth: 4, ..TrainParams::default() })
}

/// As `train_model`, leaving out the features whose names start with any
/// of `exclude` (the model then gathers its inputs from the engine's vector).
pub fn train_model_with(w: &World, engine: &mut Engine, exclude: &[&str], params: TrainParams) -> ModelScorer {
    let mut label: HashMap<&str, bool> = HashMap::new();
    for (_, o) in &w.outcomes {
        *label.entry(o.declaration_id.as_str()).or_default() |= o.is_finding();
    }
    let names: Vec<String> =
        FEATURES.iter().filter(|f| !exclude.iter().any(|p| f.starts_with(p))).map(|s| s.to_string()).collect();
    let layout = FeatureLayout::from_names(&names).expect("engine features");
    let mut data = Dataset::new(names);
    let mut y = Vec::new();
    let mut gathered = Vec::new();
    replay_history(w, engine, &mut |d, row| {
        if let Some(&found) = label.get(d.id.as_str()) {
            layout.gather(d, row, &mut gathered);
            data.push(&gathered);
            y.push(f64::from(u8::from(found)));
        }
    });
    let weights = vec![1.0; y.len()];
    let classifier = Model::train(Objective::Classification, &data, &y, &weights, None, &params).expect("trains");
    ModelScorer::new("test-model".into(), classifier, None).expect("the model's features are the engine's")
}

/// Simulated control outcomes of screened declarations, applied once their
/// completion time has passed.
#[derive(Default)]
pub struct Officers {
    pending: Vec<(i64, OutcomeKeys, Outcome)>,
}

impl Officers {
    /// Applies every pending outcome completed by `t`.
    pub fn catch_up(&mut self, engine: &mut Engine, t: i64) {
        self.pending.sort_by_key(|(at, _, _)| *at);
        let due = self.pending.partition_point(|(at, _, _)| *at <= t);
        for (_, k, o) in self.pending.drain(..due) {
            engine.apply_outcome(&k, &o);
        }
    }

    /// Controls `d` if its decision says so.
    pub fn control(&mut self, w: &World, d: &Declaration, decision: &riskgate_core::Decision) {
        let Some(lane) = Lane::parse(decision.channel.as_str()) else { return };
        let Some(truth) = w.truth.get(&d.id) else { return };
        let officers = w.officers.get(&d.office).map_or(&[][..], Vec::as_slice);
        if officers.is_empty() {
            return;
        }
        let v = simulate_outcome(w.seed, truth, lane, decision.decided_at, officers);
        let o = Outcome::from_json(&v).expect("a simulated outcome is valid");
        self.pending.push((o.completed_at.timestamp(), OutcomeKeys::of(d, decision.random), o));
    }
}
