//! Screening a seeded synthetic world gives exactly the decisions, risk
//! values, reasons, shadow scores and model features recorded when this
//! test was written (before the per-declaration view was introduced): any
//! change to a single bit of any of them changes a fingerprint below.
//! A deliberate change of the engine's behaviour re-records them with
//! `UPDATE_EXPECT=1 cargo test -p riskgate-engine --test screen_exact`.

#[path = "support/world.rs"]
mod world;

use riskgate_core::rng::stable_hash;
use riskgate_engine::features::features;
use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Engine, StatScorer};

fn bits(h: u64, xs: &[f64]) -> u64 {
    xs.iter().fold(h, |h, x| stable_hash(h, &format!("{:016x}", x.to_bits())))
}

/// Screens the live traffic with simulated officers completing the
/// controls; returns the run's fingerprint and its first red decision.
fn screen_live(w: &world::World, engine: &mut Engine) -> (String, String) {
    let mut officers = world::Officers::default();
    let (mut h, mut fh) = (0u64, 0u64);
    let mut lanes = [0usize; 3];
    let (mut rules, mut shadow_sum) = (0usize, 0.0f64);
    let mut first_red = String::new();
    let mut row = Vec::new();
    for (i, d) in w.live.iter().enumerate() {
        officers.catch_up(engine, d.declared_at.timestamp());
        if i % 5 == 0 {
            features(&engine.score_input(d), &mut row);
            fh = bits(fh, &row);
        }
        let s = engine.screen(d, d.declared_at);
        let json = serde_json::to_string(&s.decision).expect("a decision serialises");
        h = stable_hash(h, &json);
        h = bits(h, &[s.ranking]);
        h = stable_hash(h, &format!("{:?}", s.task));
        if let Some((id, p)) = &s.shadow {
            h = bits(stable_hash(h, id), &[*p]);
            shadow_sum += p;
        }
        lanes[s.decision.channel as usize] += 1;
        rules += s.decision.rule_hits().count();
        if first_red.is_empty() && s.decision.channel == riskgate_core::Channel::Red && !s.decision.random {
            first_red = serde_json::to_string_pretty(&s.decision).expect("serialises");
        }
        officers.control(w, d, &s.decision);
    }
    let summary = format!(
        "{} decisions (green/yellow/red {lanes:?}), {rules} rule hits, shadow sum {shadow_sum:.6}, \
         decisions {h:016x}, features {fh:016x}",
        w.live.len()
    );
    (summary, first_red)
}

#[test]
fn screening_a_synthetic_world_is_bit_identical_to_the_recorded_run() {
    let w = world::generate(11, 0.03);

    // Training-time features: the history replayed as `model train` does.
    let mut engine = world::engine(&w, world::rules());
    let (mut rows, mut fh) = (0usize, 0u64);
    world::replay_history(&w, &mut engine, &mut |_, row| {
        rows += 1;
        fh = bits(fh, row);
    });
    let trained = world::train_model(&w, &mut world::engine(&w, world::rules()));
    let bytes = trained.to_bytes();
    let model = |id: &str| Box::new(ModelScorer::from_bytes(id.into(), &bytes).expect("round-trips"));
    let warm = engine.checkpoint();
    let warm_again = warm.clone();

    // The statistical scorer deciding, the model in the shadow.
    engine.set_shadow(Some(model("shadow-model")));
    let (stat, _) = screen_live(&w, &mut engine);

    // The model deciding, the statistical scorer in the shadow.
    let mut engine = world::engine(&w, world::rules());
    engine.restore(warm);
    engine.set_scorer(Some(model("live-model")));
    engine.set_shadow(Some(Box::new(StatScorer::default())));
    let (learned, red) = screen_live(&w, &mut engine);

    // A model on a subset of the features deciding (its inputs gathered
    // from the engine's vector), the full model in the shadow.
    let params = riskgate_model::TrainParams { iterations: 30, max_depth: 3, ..Default::default() };
    let subset = world::train_model_with(&w, &mut world::engine(&w, world::rules()), &["trader_", "day_of"], params);
    let subset = subset.to_bytes();
    let mut engine = world::engine(&w, world::rules());
    engine.restore(warm_again);
    engine.set_scorer(Some(Box::new(ModelScorer::from_bytes("subset-model".into(), &subset).expect("round-trips"))));
    engine.set_shadow(Some(model("shadow-model")));
    let (both, _) = screen_live(&w, &mut engine);

    let got = format!(
        "history: {} declarations, {} outcomes, {rows} feature rows {fh:016x}\n\
         stat scorer, model shadow: {stat}\n\
         model scorer, stat shadow: {learned}\n\
         subset model scorer, model shadow: {both}\n\
         first red decision of the model run:\n{red}\n",
        w.history.len(),
        w.outcomes.len()
    );
    expect_test::expect![[r#"
        history: 1621 declarations, 95 outcomes, 1621 feature rows de55df255ed879e9
        stat scorer, model shadow: 1284 decisions (green/yellow/red [1217, 25, 42]), 1680 rule hits, shadow sum 45.170876, decisions e20964cc4a4d42ad, features 54f7ab8c55b51470
        model scorer, stat shadow: 1284 decisions (green/yellow/red [1226, 23, 35]), 1285 rule hits, shadow sum 77.847727, decisions 0804dc4e22b8bcf5, features e54638652135a8a4
        subset model scorer, model shadow: 1284 decisions (green/yellow/red [1226, 24, 34]), 1287 rule hits, shadow sum 38.519181, decisions bfbd7b7db18ffd56, features ba5bbf12dd466925
        first red decision of the model run:
        {
          "declaration_id": "220120260000000205",
          "decided_at": "2026-06-06T15:24:33+08:00",
          "channel": "red",
          "risk_value": 0.1284,
          "risk_level": "medium",
          "reasons": [
            {
              "kind": "rule",
              "id": "R-Z-001",
              "version": 1,
              "title": "title of R-Z-001",
              "weight": 0.15
            },
            {
              "kind": "rule",
              "id": "R-HS6-001",
              "version": 1,
              "title": "title of R-HS6-001",
              "weight": 0.1
            },
            {
              "kind": "model",
              "id": "live-model",
              "score": 0.1284,
              "top_features": [
                [
                  "rule_weight",
                  0.4853
                ],
                [
                  "log_net_weight_kg",
                  0.4076
                ],
                [
                  "log_registered_capital",
                  0.3904
                ],
                [
                  "unit_value_vs_hs6",
                  0.1565
                ],
                [
                  "rules_fired",
                  0.1039
                ]
              ],
              "expected_revenue_cny": 5160.47
            },
            {
              "kind": "selectivity",
              "office": "2201",
              "threshold": 0.0685,
              "target_rate": 0.04
            }
          ],
          "random": false,
          "instructions": "instructions of R-Z-001; instructions of R-HS6-001",
          "selection_probability": 1.0,
          "source": "score",
          "disposal": "prevent",
          "office": "2201",
          "engine": "live-model+rules:12:b4c55078"
        }
    "#]].assert_eq(&got);
}
