//! No look-ahead (issue 13, item 5): no rule fact, model feature, forex
//! match or decision uses a payment or an outcome dated after the decision
//! time `now` of `Engine::screen`, and records dated before it do count.
//!
//! Tax invoices (the VAT records of `import invoices`) never reach the
//! engine: it has no way to take one, so nothing here can leak through
//! them. Payments and outcomes are the engine's only dated external records.

#[path = "support/world.rs"]
mod world;

use chrono::{DateTime, Duration, FixedOffset};
use riskgate_core::{Decision, Declaration, ForexPayment, Outcome};
use riskgate_engine::context::ForexMatch;
use riskgate_engine::features::features;
use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Engine, EngineConfig, OutcomeKeys, StatScorer, View};
use riskgate_rules::Facts;
use riskgate_synth::{Lane, simulate_outcome};

/// Everything a decision is made of, as text that differs when any bit
/// does, and the decision.
fn observe(engine: &mut Engine, d: &Declaration, now: DateTime<FixedOffset>) -> (String, Decision) {
    let mut row = Vec::new();
    features(&engine.score_input(d), &mut row);
    let fx: Option<ForexMatch> = engine.context.forex.lookup_at(d, d.total_value_cny(), now.timestamp());
    let mut facts = Facts::new(&engine.schema().schema);
    engine.schema().fill(&mut facts, d, &engine.context, fx);
    let bits: Vec<String> = row.iter().map(|x| format!("{:016x}", x.to_bits())).collect();
    let s = engine.screen(d, now);
    let text = format!(
        "{fx:?}\n{facts:?}\n{}\n{}\n{:016x}\n{:?}\n{:?}",
        bits.join(","),
        serde_json::to_string(&s.decision).expect("serialises"),
        s.ranking.to_bits(),
        s.task,
        s.shadow.map(|(id, p)| (id, p.to_bits()))
    );
    (text, s.decision)
}

/// The outcome the simulated officers record for a control, if any.
fn control_outcome(w: &world::World, d: &Declaration, decision: &Decision) -> Option<(OutcomeKeys, Outcome)> {
    let lane = Lane::parse(decision.channel.as_str())?;
    let truth = w.truth.get(&d.id)?;
    let officers = w.officers.get(&d.office).filter(|o| !o.is_empty())?;
    let v = simulate_outcome(w.seed, truth, lane, decision.decided_at, officers);
    let o = Outcome::from_json(&v).expect("a simulated outcome is valid");
    Some((OutcomeKeys::of(d, decision.random), o))
}

/// Payments that would change the match of `d` if they counted, all dated
/// after `now`: a referenced payment of three times its value on its
/// invoice, and unreferenced ones at 1× and 2× its value.
fn future_payments(d: &Declaration, now: DateTime<FixedOffset>) -> Vec<ForexPayment> {
    let value = d.total_value_cny();
    let mut out = Vec::new();
    let mut pay = |after: Duration, cny: f64, reference: Option<&str>| {
        let mut v = serde_json::json!({"trader": d.trader.id, "paid_at": (now + after).to_rfc3339(),
                                       "amount": (cny * 100.0).round() / 100.0, "currency": "CNY"});
        if let Some(r) = reference {
            v["reference"] = r.into();
        }
        if let Ok(p) = ForexPayment::from_json(&v) {
            out.push(p);
        }
    };
    if let Some(inv) = d.invoice_ids().next() {
        pay(Duration::seconds(1), 3.0 * value, Some(inv));
    }
    pay(Duration::hours(2), value, None);
    pay(Duration::days(3), 2.0 * value, None);
    out
}

/// Two engines screen the same live traffic. The first was given every
/// payment before screening (the world's and, for each live declaration,
/// payments dated after its decision that would change its match), gets
/// the history's outcomes at once and each control's outcome the moment
/// the control is decided, long before it is completed. The second only
/// ever holds what exists at the time: payments are added once made and
/// outcomes once completed. Every forex match, fact, feature, decision,
/// ranking, task and shadow score must be identical, bit for bit.
fn screen_both_ways(scorer: &str) -> Counts {
    let w = world::generate(11, 0.03);
    let at = |d: &Declaration| d.declared_at;
    let future: Vec<ForexPayment> = w.live.iter().flat_map(|d| future_payments(d, at(d))).collect();
    let mut all_payments = w.forex.clone();
    all_payments.extend(future.iter().cloned());
    all_payments.sort_by_key(|p| p.paid_at);

    // The engine told everything up front.
    let mut told = world::engine(&w, world::rules());
    for p in &future {
        told.context.add_forex(p);
    }
    // The engine that only knows the past.
    let mut past = world::engine(&w, world::rules());
    past.context.forex = Default::default();
    let mut paid = 0usize;
    let mut catch_up_payments = |engine: &mut Engine, t: i64| {
        while paid < all_payments.len() && all_payments[paid].paid_at.timestamp() <= t {
            engine.context.add_forex(&all_payments[paid]);
            paid += 1;
        }
    };

    // History, in business time for the second engine.
    let mut pending: Vec<(i64, OutcomeKeys, Outcome)> = Vec::new();
    let mut next = 0usize;
    for d in &w.history {
        let t = d.declared_at.timestamp();
        while next < w.outcomes.len() && w.outcomes[next].1.completed_at.timestamp() <= t {
            let (k, o) = &w.outcomes[next];
            told.apply_outcome(k, o);
            past.apply_outcome(k, o);
            next += 1;
        }
        catch_up_payments(&mut past, t);
        told.apply_historical(d);
        past.apply_historical(d);
    }
    for (k, o) in &w.outcomes[next..] {
        told.apply_outcome(k, o);
        pending.push((o.completed_at.timestamp(), k.clone(), o.clone()));
    }

    if scorer == "model" {
        let model = world::train_model(&w, &mut world::engine(&w, world::rules()));
        let bytes = model.to_bytes();
        for e in [&mut told, &mut past] {
            e.set_scorer(Some(Box::new(ModelScorer::from_bytes("m".into(), &bytes).expect("round-trips"))));
            e.set_shadow(Some(Box::new(StatScorer::default())));
        }
    }

    let (mut matched, mut by_reference, mut waiting) = (0usize, 0usize, 0usize);
    for d in &w.live {
        let now = at(d);
        let t = now.timestamp();
        catch_up_payments(&mut past, t);
        pending.sort_by_key(|(at, _, _)| *at);
        let due = pending.partition_point(|(at, _, _)| *at <= t);
        for (_, k, o) in pending.drain(..due) {
            past.apply_outcome(&k, &o);
        }
        let (a, decision) = observe(&mut told, d, now);
        let (b, _) = observe(&mut past, d, now);
        assert_eq!(a, b, "declaration {} decided at {now}", d.id);
        matched += usize::from(a.starts_with("Some"));
        by_reference += usize::from(a.starts_with("Some(ForexMatch { paid_cny") && a.contains("by_reference: true"));
        waiting += usize::from(!told.context.pending_outcomes.is_empty());
        // The officers' outcome: to the first engine at once, to the second once completed.
        if let Some((k, o)) = control_outcome(&w, d, &decision) {
            assert!(o.completed_at > now, "a control is completed after its decision");
            told.apply_outcome(&k, &o);
            pending.push((o.completed_at.timestamp(), k, o));
        }
    }
    Counts { live: w.live.len(), matched, by_reference, waiting }
}

#[derive(Debug)]
struct Counts {
    live: usize,
    /// Live declarations with a forex match (payments before the decision count).
    matched: usize,
    by_reference: usize,
    /// Decisions made while the first engine held outcomes completed after them.
    waiting: usize,
}

#[test]
fn nothing_dated_after_the_decision_reaches_it_statistical_scorer() {
    let c = screen_both_ways("stat");
    assert!(c.matched > 0 && c.by_reference > 0, "payments made before the decision count: {c:?}");
    // About one decision in seven is made while the first engine holds an
    // outcome completed after it.
    assert!(c.waiting > c.live / 20, "later outcomes were there to leak: {c:?}");
}

#[test]
fn nothing_dated_after_the_decision_reaches_it_learned_model() {
    let c = screen_both_ways("model");
    assert!(c.matched > 0 && c.waiting > c.live / 20, "{c:?}");
}

fn decl(id: &str, at: &str, value_usd: f64) -> Declaration {
    Declaration::from_json(&serde_json::json!({
        "id": id, "declared_at": at, "direction": "import", "office": "2201",
        "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": "T1"}, "declarant": {"id": "B1"},
        "currency": "USD",
        "items": [{"line": 1, "hs_code": "851713", "origin": "VN", "quantity": 10, "net_weight_kg": 1.0,
                   "value": value_usd, "duty_rate": 0.05}],
        "documents": [{"kind": "invoice", "id": format!("INV-{id}")}]
    }))
    .expect("valid")
}

fn pay(at: DateTime<FixedOffset>, usd: f64, reference: Option<&str>) -> ForexPayment {
    let mut v = serde_json::json!({"trader": "T1", "paid_at": at.to_rfc3339(), "amount": usd, "currency": "USD"});
    if let Some(r) = reference {
        v["reference"] = r.into();
    }
    ForexPayment::from_json(&v).expect("valid")
}

/// Payments made before the decision count, by reference and by amount
/// (an unreferenced payment well above the declared value shows as the
/// under-declaration it is); the same payments a second after it do not.
/// Under a wall clock the decision time is later than the declaration's,
/// and a payment made in between counts.
#[test]
fn a_payment_before_the_decision_counts_and_one_after_it_does_not() {
    let d = decl("D2", "2026-03-10T09:00:00+08:00", 1000.0);
    let now = d.declared_at;
    let s = Duration::seconds(1);
    let cases = [
        ("referenced, a day before", now - Duration::days(1), Some("INV-D2")),
        ("referenced, at the decision", now, Some("INV-D2")),
        ("referenced, a second after", now + s, Some("INV-D2")),
        ("unreferenced, 50 days before", now - Duration::days(50), None),
        ("unreferenced, 70 days before", now - Duration::days(70), None),
        ("unreferenced, a second after", now + s, None),
    ];
    let mut got = Vec::new();
    for (what, paid_at, reference) in cases {
        let mut e = Engine::new(EngineConfig::default());
        e.context.add_forex(&pay(paid_at, 2500.0, reference));
        let fx = e.score_input(&d).forex;
        let screened = e.screen(&d, now);
        let fx_reason = screened.decision.reasons.iter().any(|r| format!("{r:?}").contains("forex"));
        got.push(format!("{what}: {fx:?}, forex reason {fx_reason}"));
    }
    // Screened an hour after the declaration (wall clock): a payment made half an hour after it counts.
    let mut e = Engine::new(EngineConfig::default());
    e.context.add_forex(&pay(now + Duration::minutes(30), 2500.0, None));
    let later = now + Duration::hours(1);
    got.push(format!("decided an hour later: {:?}", View::at(&d, &e.context, later.timestamp()).forex));
    got.push(format!("decided at the declaration: {:?}", View::at(&d, &e.context, now.timestamp()).forex));
    expect_test::expect![[r#"
        [
            "referenced, a day before: Some(ForexMatch { paid_cny: 17750.0, ratio: 2.5, by_reference: true }), forex reason true",
            "referenced, at the decision: Some(ForexMatch { paid_cny: 17750.0, ratio: 2.5, by_reference: true }), forex reason true",
            "referenced, a second after: None, forex reason false",
            "unreferenced, 50 days before: Some(ForexMatch { paid_cny: 17750.0, ratio: 2.5, by_reference: false }), forex reason true",
            "unreferenced, 70 days before: None, forex reason false",
            "unreferenced, a second after: None, forex reason false",
            "decided an hour later: Some(ForexMatch { paid_cny: 17750.0, ratio: 2.5, by_reference: false })",
            "decided at the declaration: None",
        ]
    "#]].assert_debug_eq(&got);
}

/// A control outcome completed before the decision is in the trader's
/// history; one completed after it is not, whenever it was imported, and
/// is folded in for the first decision made after its completion.
#[test]
fn an_outcome_completed_after_the_decision_waits_for_a_later_decision() {
    let first = decl("D1", "2026-03-01T09:00:00+08:00", 1000.0);
    let outcome = |completed: &str| {
        Outcome::from_json(&serde_json::json!({
            "declaration_id": "D1", "officer": "O1", "control": "document",
            "completed_at": completed, "result": "finding", "findings": ["undervaluation"],
            "additional_duty": 5000.0
        }))
        .expect("valid")
    };
    let controls = |e: &mut Engine, d: &Declaration| e.score_input(d).trader.map_or(0, |h| h.controls);
    let d = decl("D3", "2026-03-10T09:00:00+08:00", 1000.0);
    let d_later = decl("D4", "2026-03-12T09:00:00+08:00", 1000.0);
    let mut got = Vec::new();
    for completed in ["2026-03-05T12:00:00+08:00", "2026-03-11T12:00:00+08:00"] {
        let mut e = Engine::new(EngineConfig::default());
        e.screen(&first, first.declared_at);
        // Imported before the decision on D3 is made, whatever its completion date.
        e.apply_outcome(&OutcomeKeys::of(&first, false), &outcome(completed));
        let at_d = controls(&mut e, &d);
        let before = e.screen(&d, d.declared_at).decision;
        let at_later = controls(&mut e, &d_later);
        got.push(format!(
            "completed {completed}: controls seen by D3 {at_d}, by D4 {at_later}; D3 risk {}",
            before.risk_value
        ));
    }
    expect_test::expect![[r#"
        [
            "completed 2026-03-05T12:00:00+08:00: controls seen by D3 1, by D4 1; D3 risk 0.8648",
            "completed 2026-03-11T12:00:00+08:00: controls seen by D3 0, by D4 1; D3 risk 0.1114",
        ]
    "#]]
    .assert_debug_eq(&got);
}

/// The outcomes still waiting and the recent imports that explain payments
/// survive a checkpoint (serialised as the store keeps it, payments
/// reloaded after the restore as the app does): the restored engine decides
/// as the one that never stopped.
#[test]
fn a_checkpoint_keeps_waiting_outcomes_and_the_imports_that_explain_payments() {
    let first = decl("D1", "2026-03-01T09:00:00+08:00", 2000.0);
    let outcome = Outcome::from_json(&serde_json::json!({
        "declaration_id": "D1", "officer": "O1", "control": "physical",
        "completed_at": "2026-03-11T12:00:00+08:00", "result": "finding", "findings": ["quantity"],
        "additional_duty": 800.0
    }))
    .expect("valid");
    // After D1: one paying it (explained by it), one for nothing declared (unexplained).
    let payments = [
        pay(first.declared_at + Duration::days(2), 2000.0, None),
        pay(first.declared_at + Duration::days(3), 3000.0, None),
    ];
    let mut running = Engine::new(EngineConfig::default());
    for p in &payments {
        running.context.add_forex(p);
    }
    running.screen(&first, first.declared_at);
    running.apply_outcome(&OutcomeKeys::of(&first, false), &outcome);
    assert_eq!(running.context.pending_outcomes.len(), 1);

    let body = serde_json::to_vec(&running.checkpoint()).expect("serialises");
    let mut restored = Engine::new(EngineConfig::default());
    restored.restore(serde_json::from_slice(&body).expect("deserialises"));
    for p in &payments {
        restored.context.add_forex(p);
    }
    let mut got = Vec::new();
    for d in [decl("D3", "2026-03-10T09:00:00+08:00", 1000.0), decl("D4", "2026-03-12T09:00:00+08:00", 1000.0)] {
        got.push(format!("{}: {:?}", d.id, View::new(&d, &running.context).forex.map(|m| m.ratio)));
        let a = running.screen(&d, d.declared_at);
        let b = restored.screen(&d, d.declared_at);
        assert_eq!(serde_json::to_string(&a.decision).unwrap(), serde_json::to_string(&b.decision).unwrap());
    }
    // D3 (1,000 USD) sees the 3,000 USD payment as 3× (the 2,000 USD one is
    // D1's); D4 does not, as D3 accounts for it.
    assert_eq!(got, ["D3: Some(3.0)", "D4: None"]);
}
