//! Integration tests of the synthetic world: determinism, record formats
//! (validated with riskgate-core's DATA.md parsers), referential integrity,
//! planted base rates and the simulated field officer.

use chrono::{DateTime, FixedOffset};
use riskgate_core::records::{Enterprise, ForexPayment, Office, Officer, Outcome, TaxInvoice};
use riskgate_core::{Declaration, OfficeLevel};
use riskgate_synth::{
    CollusionParams, JsonlSink, Lane, MemorySink, NullSink, Sink, Truth, WorldConfig, WorldFile, generate,
    simulate_outcome,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::OnceLock;

/// The small world most tests look at: scale 0.01, seed 1.
fn small() -> &'static MemorySink {
    static WORLD: OnceLock<MemorySink> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut sink = MemorySink::default();
        generate(&WorldConfig::new(1, 0.01), &mut sink).expect("generates");
        sink
    })
}

fn lines(sink: &MemorySink) -> Vec<String> {
    sink.records.iter().map(|(f, v)| format!("{} {v}", f.file_name())).collect()
}

fn time(v: &Value, key: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v[key].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{key} in {v}: {e}"))
}

#[test]
fn same_seed_gives_identical_records_and_another_seed_differs() {
    let mut again = MemorySink::default();
    generate(&WorldConfig::new(1, 0.01), &mut again).unwrap();
    assert_eq!(lines(small()), lines(&again));

    let mut other = MemorySink::default();
    generate(&WorldConfig::new(2, 0.01), &mut other).unwrap();
    let a: Vec<&Value> = small().of(WorldFile::History).collect();
    let b: Vec<&Value> = other.of(WorldFile::History).collect();
    assert_ne!(a, b);
}

#[test]
fn reference_data_comes_first_and_declarations_in_time_order() {
    let files: Vec<WorldFile> = small().records.iter().map(|(f, _)| *f).collect();
    let first_other = files
        .iter()
        .position(|f| !matches!(f, WorldFile::Offices | WorldFile::Officers | WorldFile::Enterprises))
        .unwrap();
    assert!(
        files[first_other..]
            .iter()
            .all(|f| !matches!(f, WorldFile::Offices | WorldFile::Officers | WorldFile::Enterprises))
    );
    for file in [WorldFile::History, WorldFile::Live] {
        let times: Vec<_> = small().of(file).map(|d| time(d, "declared_at")).collect();
        assert!(!times.is_empty(), "{file:?} empty");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{file:?} not in time order");
    }
    let last_history = small().of(WorldFile::History).map(|d| time(d, "declared_at")).max().unwrap();
    let first_live = small().of(WorldFile::Live).map(|d| time(d, "declared_at")).min().unwrap();
    assert!(last_history < first_live);
}

#[test]
fn every_record_parses_with_the_data_md_formats_and_references_resolve() {
    let w = small();
    // Offices form a tree HQ -> district -> office.
    let offices: HashMap<String, Office> = w
        .of(WorldFile::Offices)
        .map(|v| Office::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}")))
        .map(|o| (o.code.clone(), o))
        .collect();
    let hq: Vec<&Office> = offices.values().filter(|o| o.level == OfficeLevel::Hq).collect();
    assert_eq!(hq.len(), 1);
    for o in offices.values() {
        let parent = o.parent.as_ref().map(|p| offices[p].level);
        match o.level {
            OfficeLevel::Hq => assert_eq!(parent, None),
            OfficeLevel::District => assert_eq!(parent, Some(OfficeLevel::Hq), "{}", o.code),
            OfficeLevel::Office => assert_eq!(parent, Some(OfficeLevel::District), "{}", o.code),
        }
    }
    let districts = offices.values().filter(|o| o.level == OfficeLevel::District).count();
    assert!((4..=6).contains(&districts));

    let mut officers_of: HashMap<String, Vec<String>> = HashMap::new();
    for v in w.of(WorldFile::Officers) {
        let o = Officer::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(offices.contains_key(&o.office));
        assert!(o.id.starts_with('E') && o.id.len() == 6, "{}", o.id);
        officers_of.entry(o.office).or_default().push(o.id);
    }
    assert!(offices.keys().all(|c| officers_of.get(c).is_some_and(|v| v.len() >= 3)), "at least 3 officers each");

    let mut enterprises = HashSet::new();
    for v in w.of(WorldFile::Enterprises) {
        let e = Enterprise::from_json(v).unwrap_or_else(|err| panic!("{v}: {err}"));
        assert!(enterprises.insert(e.id), "duplicate enterprise");
    }

    let mut history = HashMap::new();
    let mut ids = HashSet::new();
    for file in [WorldFile::History, WorldFile::Live] {
        for v in w.of(file) {
            let d = Declaration::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert!(ids.insert(d.id.clone()), "duplicate id {}", d.id);
            assert_eq!(d.id.len(), 18);
            assert_eq!(v["declared_at"].as_str().unwrap().get(19..), Some("+08:00"));
            assert_eq!(offices[&d.office].level, OfficeLevel::Office);
            assert!(enterprises.contains(&d.trader.id), "unknown trader {}", d.trader.id);
            assert!(!d.items.is_empty() && d.items.len() <= 6);
            assert!(d.items.iter().all(|i| i.hs_code.len() == 10 && (0.0..=0.3).contains(&i.duty_rate)));
            assert!(d.invoice_ids().count() == 1, "exactly one invoice");
            if file == WorldFile::History {
                history.insert(d.id.clone(), d);
            }
        }
    }

    let truths: Vec<Truth> = w.of(WorldFile::Truth).map(|v| Truth::from_json(v).expect("truth parses")).collect();
    assert_eq!(truths.len(), ids.len(), "one truth line per declaration");
    for t in &truths {
        assert!(ids.contains(&t.declaration_id));
        assert_eq!(t.fraud, !t.kinds.is_empty());
        assert_eq!(t.fraud, t.evaded_duty_cny > 0.0, "{t:?}");
        assert_eq!(t.smuggling, t.kinds.iter().any(|k| k == "smuggling"));
    }

    for v in w.of(WorldFile::HistoryOutcomes) {
        let o = Outcome::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let d = history.get(&o.declaration_id).expect("outcome of a history declaration");
        assert!(officers_of[&d.office].contains(&o.officer), "officer of the office");
        assert!(o.completed_at > d.declared_at);
        assert!(o.released_at.is_none_or(|r| r > o.completed_at));
        assert_eq!(o.released_at.is_none(), o.seizure);
        assert_eq!(o.is_finding(), o.additional_duty > 0.0);
        assert!(o.attributes.get("legacy_random").is_some_and(Value::is_boolean));
    }
    let traders: HashSet<&str> = history.values().map(|d| d.trader.id.as_str()).collect();
    let (mut payments, mut of_declaring) = (0usize, 0usize);
    for v in w.of(WorldFile::Forex) {
        let p = ForexPayment::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(enterprises.contains(&p.trader));
        payments += 1;
        of_declaring += usize::from(traders.contains(p.trader.as_str()));
    }
    // Payments abroad are the money side of declared trade: most are made
    // by traders who declare (the rest by traders seen only live).
    assert!(payments > 0 && of_declaring * 2 > payments, "{of_declaring} of {payments} payments by declaring traders");
    for v in w.of(WorldFile::Invoices) {
        let inv = TaxInvoice::from_json(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(enterprises.contains(&inv.trader) && inv.amount_cny > 0.0);
    }
}

/// Aggregates a medium world without keeping it in memory.
#[derive(Default)]
struct Tally {
    per_office_day: HashMap<(String, String), u64>,
}

impl Sink for Tally {
    fn record(&mut self, file: WorldFile, v: &Value) -> io::Result<()> {
        if file == WorldFile::Live {
            let day = v["declared_at"].as_str().unwrap_or_default()[..10].to_string();
            *self.per_office_day.entry((v["office"].as_str().unwrap_or_default().to_string(), day)).or_default() += 1;
        }
        Ok(())
    }
}

#[test]
fn base_rates_legacy_controls_and_traffic_shift_at_scale_0_2() {
    let cfg = WorldConfig::new(7, 0.2);
    let mut tally = Tally::default();
    let s = generate(&cfg, &mut tally).unwrap();
    let total = s.history_declarations + s.live_declarations;
    assert!((17_000..=23_000).contains(&total), "{s}");
    assert!((0.015..=0.035).contains(&s.history_base_rate()), "{s}");
    assert!((0.015..=0.035).contains(&s.live_base_rate()), "{s}");
    assert!((0.04..=0.08).contains(&s.legacy_control_rate()), "{s}");
    assert!(s.fraud_by_kind.iter().all(|(_, n)| *n > 0), "{s}");
    let frauds = s.history_fraud + s.live_fraud;
    let share = |kind: &str| s.fraud_by_kind.iter().find(|(k, _)| *k == kind).unwrap().1 as f64 / frauds as f64;
    assert!(share("undervaluation") > share("misclassification") && share("undervaluation") > 0.25, "{s}");
    assert!(s.legacy_random > 0 && s.legacy_findings > 0, "{s}");
    assert_eq!(s.count(WorldFile::Truth), total);

    // The shift office carries about twice its usual volume during the shift.
    let (office, from, until) = cfg.traffic_shift();
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for ((o, day), n) in &tally.per_office_day {
        if o == office {
            let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
            if (from..until).contains(&d) { inside.push(*n) } else { outside.push(*n) }
        }
    }
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let ratio = mean(&inside) / mean(&outside);
    assert!((1.6..2.6).contains(&ratio), "shift ratio {ratio}");
}

#[test]
fn the_same_summary_arrives_through_any_sink() {
    let cfg = WorldConfig::new(3, 0.01);
    let null = generate(&cfg, &mut NullSink).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut jsonl = JsonlSink::new(|f| std::fs::File::create(dir.path().join(f.file_name()))).unwrap();
    let written = generate(&cfg, &mut jsonl).unwrap();
    jsonl.flush().unwrap();
    assert_eq!(null, written);
    for f in WorldFile::ALL {
        let text = std::fs::read_to_string(dir.path().join(f.file_name())).unwrap();
        assert_eq!(text.lines().count() as u64, written.count(f), "{f:?}");
        assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    }
}

#[test]
fn invalid_scale_is_rejected() {
    for scale in [0.0, -1.0, f64::NAN] {
        let err = generate(&WorldConfig::new(1, scale), &mut NullSink).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}

#[test]
fn planted_fraud_leaves_the_promised_traces() {
    let mut sink = MemorySink::default();
    generate(&WorldConfig::new(5, 0.1), &mut sink).unwrap();
    let truth: HashMap<&str, &Value> =
        sink.of(WorldFile::Truth).map(|t| (t["declaration_id"].as_str().unwrap(), t)).collect();
    let decls: Vec<&Value> = sink.of(WorldFile::History).chain(sink.of(WorldFile::Live)).collect();
    let by_invoice: HashMap<&str, &Value> =
        decls.iter().map(|d| (d["documents"][0]["id"].as_str().unwrap(), *d)).collect();
    let kinds_of = |d: &Value| truth[d["id"].as_str().unwrap()]["kinds"].clone();
    let total = |d: &Value| d["items"].as_array().unwrap().iter().map(|i| i["value"].as_f64().unwrap()).sum::<f64>();

    // Undervaluation: the referenced payment carries the true, higher value.
    let (mut under, mut honest_over) = (Vec::new(), 0);
    for p in sink.of(WorldFile::Forex) {
        let Some(d) = p.get("reference").and_then(|r| by_invoice.get(r.as_str().unwrap())) else {
            continue;
        };
        if p["currency"] != d["currency"] {
            continue;
        }
        let ratio = p["amount"].as_f64().unwrap() / total(d);
        if kinds_of(d) == json!(["undervaluation"]) {
            under.push(ratio);
        } else if kinds_of(d) == json!([]) && ratio > 1.05 {
            honest_over += 1;
        }
    }
    assert!(!under.is_empty());
    assert!(under.iter().filter(|r| **r > 1.2).count() * 2 > under.len(), "{under:?}");
    assert_eq!(honest_over, 0, "honest payments match the declared value (or are split)");

    // Origin fraud: declared from a preferential partner with a certificate.
    for d in decls.iter().filter(|d| kinds_of(d) == json!(["origin"])) {
        let docs = d["documents"].as_array().unwrap();
        assert!(docs.iter().any(|x| x["kind"] == "certificate_of_origin"), "{d}");
        assert!(["SG", "MY", "HK", "VN"].contains(&d["country_of_departure"].as_str().unwrap()), "{d}");
    }
}

#[test]
fn first_live_declaration_snapshot() {
    let first = small().of(WorldFile::Live).next().unwrap();
    let text = serde_json::to_string_pretty(first).unwrap();
    expect_test::expect![[r#"
        {
          "id": "220320260000000043",
          "declared_at": "2026-06-04T08:17:38+08:00",
          "direction": "import",
          "office": "2203",
          "transport_mode": "air",
          "trade_mode": "0110",
          "trader": {
            "id": "91310115N649ECQ86G",
            "name": "上海中联机械设备有限公司"
          },
          "declarant": {
            "id": "2200343533",
            "name": "上海和信供应链服务有限公司"
          },
          "overseas_party": {
            "id": "AU-71208",
            "name": "Crown Star Trading Co., Ltd.",
            "country": "AU"
          },
          "country_of_departure": "AU",
          "incoterm": "CIF",
          "currency": "USD",
          "items": [
            {
              "line": 1,
              "hs_code": "0201300090",
              "description": "其他鲜冷去骨牛肉",
              "origin": "AU",
              "quantity": 1536,
              "unit": "千克",
              "net_weight_kg": 1194.6,
              "value": 4365.41,
              "duty_rate": 0.048
            }
          ],
          "documents": [
            {
              "kind": "invoice",
              "id": "INV-2026-4816534"
            },
            {
              "kind": "certificate_of_origin",
              "id": "CO-AU-3659876"
            }
          ],
          "attributes": {}
        }"#]]
    .assert_eq(&text);
}

fn truth(kinds: &[&str], evaded: f64) -> Truth {
    Truth {
        declaration_id: "220120260000000001".into(),
        office: "2201".into(),
        fraud: !kinds.is_empty(),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        evaded_duty_cny: evaded,
        smuggling: kinds.contains(&"smuggling"),
        trader: None,
        post_release: false,
    }
}

#[test]
fn simulated_officer_is_deterministic_and_detects_by_lane() {
    let at = DateTime::parse_from_rfc3339("2026-06-01T10:00:00+08:00").unwrap();
    let officers = vec!["E10001".to_string(), "E10002".to_string()];
    let t = truth(&["undervaluation"], 1234.5);
    let a = simulate_outcome(9, &t, Lane::Red, at, &officers);
    assert_eq!(a, simulate_outcome(9, &t, Lane::Red, at, &officers));
    let o = Outcome::from_json(&a).unwrap();
    assert!(officers.contains(&o.officer));
    assert!(o.completed_at > at && o.released_at.unwrap() > o.completed_at);

    let honest = simulate_outcome(9, &truth(&[], 0.0), Lane::Red, at, &officers);
    assert_eq!((honest["result"].as_str(), honest["additional_duty"].as_f64()), (Some("no_finding"), Some(0.0)));

    // Detection rates over many declarations: red ≈ 0.9, yellow ≈ 0.6.
    let rate = |lane: Lane, kind: &str| {
        let hits = (0..2000)
            .filter(|n| {
                let mut t = truth(&[kind], 100.0);
                t.declaration_id = format!("2201202600{n:08}");
                simulate_outcome(1, &t, lane, at, &officers)["result"] == "finding"
            })
            .count();
        hits as f64 / 2000.0
    };
    assert!((0.86..0.94).contains(&rate(Lane::Red, "undervaluation")));
    assert!((0.55..0.65).contains(&rate(Lane::Yellow, "undervaluation")));
    assert!(rate(Lane::Yellow, "smuggling") < 0.3);

    // A detected smuggling case is a seizure and is not released.
    let s = (0..50)
        .map(|n| {
            let mut t = truth(&["smuggling"], 5000.0);
            t.declaration_id = format!("S{n}");
            simulate_outcome(1, &t, Lane::Red, at, &officers)
        })
        .find(|o| o["result"] == "finding")
        .unwrap();
    assert_eq!(s["seizure"], true);
    assert!(s.get("released_at").is_none());
    assert_eq!(s["findings"], json!(["smuggling"]));
    assert_eq!(s["additional_duty"], 5000.0);
}

#[test]
fn truth_round_trips_from_its_json_line() {
    let line = small().of(WorldFile::Truth).find(|t| t["fraud"] == true).expect("some fraud at scale 0.01");
    let t = Truth::from_json(line).unwrap();
    assert_eq!(t.declaration_id, line["declaration_id"].as_str().unwrap());
    assert!(t.fraud && !t.kinds.is_empty());
    assert_eq!(Truth::from_json(&json!({"declaration_id": "x"})), None);
}

/// Planting colluders changes nothing else in the world (own random
/// streams), lists them in colluders.jsonl, and makes them pick up their
/// linked traders' legacy controls far beyond their share.
#[test]
fn planted_colluders_pick_up_their_traders_controls_and_change_nothing_else() {
    let run = |colluders| {
        let mut sink = MemorySink::default();
        generate(&WorldConfig { colluders, ..WorldConfig::new(12, 0.1) }, &mut sink).unwrap();
        sink
    };
    let (with, without) = (run(4), run(0));
    for f in [WorldFile::History, WorldFile::Live, WorldFile::Truth, WorldFile::Enterprises] {
        assert!(with.of(f).eq(without.of(f)), "{f:?} differs");
    }
    assert_eq!(without.of(WorldFile::Colluders).count(), 0);
    let planted: Vec<&Value> = with.of(WorldFile::Colluders).collect();
    assert_eq!(planted.len(), 4);
    let (officers, truth) = officers_and_traders(&with);
    for c in planted {
        let id = c["officer"].as_str().unwrap();
        let o = officers[id];
        assert_eq!(o["office"], c["office"]);
        assert!(o["post_since"].as_str().unwrap() < "2019-01-05", "long tenure: {}", o["post_since"]);
        let traders: Vec<&str> = c["traders"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert!(!traders.is_empty());
        // Their traders' controls at their office: mostly theirs.
        let linked: Vec<&Value> = with
            .of(WorldFile::HistoryOutcomes)
            .filter(|x| {
                let d = x["declaration_id"].as_str().unwrap();
                traders.contains(&truth[d]) && d.starts_with(c["office"].as_str().unwrap())
            })
            .collect();
        let mine = linked.iter().filter(|x| x["officer"] == id).count();
        assert!(linked.len() < 3 || mine * 2 > linked.len(), "{id}: {mine} of {}", linked.len());
    }
    assert!(with.of(WorldFile::Disciplinary).count() > 0 || with.of(WorldFile::Litigation).count() > 0);
}

/// A world's officers by id, and the trader of each declaration (from the
/// ground truth).
fn officers_and_traders(w: &MemorySink) -> (HashMap<String, &Value>, HashMap<&str, &str>) {
    let officers = w.of(WorldFile::Officers).map(|o| (o["id"].as_str().unwrap().to_string(), o)).collect();
    let truth = w
        .of(WorldFile::Truth)
        .map(|t| (t["declaration_id"].as_str().unwrap(), t["trader"].as_str().unwrap()))
        .collect();
    (officers, truth)
}

/// Quiet colluders whose collusion starts on day 75: the rest of the world
/// is the same; the ground truth carries the parameters and the start;
/// tenure is short; before the start a colluder gets their linked traders'
/// controls no more often than anyone, after it well beyond their share.
#[test]
fn quiet_colluders_start_mid_world_and_keep_their_parameters() {
    let params = CollusionParams { start_day: 75, ..CollusionParams::quiet() };
    let run = |colluders, collusion: CollusionParams| {
        let mut sink = MemorySink::default();
        generate(&WorldConfig { colluders, collusion, ..WorldConfig::new(12, 0.6) }, &mut sink).unwrap();
        sink
    };
    let (with, without) = (run(4, params.clone()), run(0, CollusionParams::default()));
    for f in [WorldFile::History, WorldFile::Live, WorldFile::Truth, WorldFile::Enterprises] {
        assert!(with.of(f).eq(without.of(f)), "{f:?} differs");
    }
    let planted: Vec<&Value> = with.of(WorldFile::Colluders).collect();
    assert_eq!(planted.len(), 4);
    let back = riskgate_synth::Collusion::from_json(planted.iter().copied());
    assert!(back.colluders.iter().all(|c| c.params == params), "{:?}", back.colluders[0].params);
    let start = DateTime::parse_from_rfc3339("2026-03-21T00:00:00+08:00").unwrap().timestamp();
    assert!(back.colluders.iter().all(|c| c.start == Some(start)), "{:?}", back.colluders[0].start);
    let (officers, truth) = officers_and_traders(&with);
    let (mut before, mut after) = ((0, 0), (0, 0));
    for c in &back.colluders {
        let since = officers[&c.officer]["post_since"].as_str().unwrap();
        assert!(("2023-01-05".."2025-01-06").contains(&since), "1–3 years in post: {since}");
        for x in with.of(WorldFile::HistoryOutcomes) {
            let d = x["declaration_id"].as_str().unwrap();
            if !(c.traders.iter().any(|t| t == truth[d]) && d.starts_with(c.office.as_str())) {
                continue;
            }
            let slot = if time(x, "completed_at").timestamp() < start { &mut before } else { &mut after };
            slot.1 += 1;
            slot.0 += usize::from(x["officer"] == c.officer.as_str());
        }
    }
    let share = |(mine, all): (usize, usize)| mine as f64 / all.max(1) as f64;
    assert!(before.1 >= 30 && after.1 >= 30, "{before:?} {after:?}");
    assert!(share(before) < 0.3 && share(after) > 0.4, "before {before:?}, after {after:?}");
    // Out-of-range parameters are refused by name.
    let bad = CollusionParams { hide: 1.5, ..CollusionParams::quiet() };
    let err = generate(&WorldConfig { collusion: bad, ..WorldConfig::new(1, 0.01) }, &mut NullSink).unwrap_err();
    assert!(err.to_string().contains("collusion hide: expected a share in [0, 1], got 1.5"), "{err}");
    let late = CollusionParams { start_day: 250, ..CollusionParams::quiet() };
    let err = generate(&WorldConfig { collusion: late, ..WorldConfig::new(1, 0.01) }, &mut NullSink).unwrap_err();
    assert!(err.to_string().contains("collusion start day"), "{err}");
}

/// Rings (`ring` = 3): six colluders in two rings of three officers of one
/// office each, sharing the same traders; the rest of the world is the
/// same; the ground truth carries the ring; the ring takes its traders'
/// controls well beyond its share, and the pick-up is split (every member
/// gets some, none most).
#[test]
fn rings_share_their_traders_and_split_the_pick_up() {
    let params = CollusionParams { ring: 3, ..CollusionParams::quiet() };
    let run = |colluders, collusion: CollusionParams| {
        let mut sink = MemorySink::default();
        generate(&WorldConfig { colluders, collusion, ..WorldConfig::new(12, 0.6) }, &mut sink).unwrap();
        sink
    };
    let (with, without) = (run(6, params.clone()), run(0, CollusionParams::default()));
    for f in [WorldFile::History, WorldFile::Live, WorldFile::Truth, WorldFile::Enterprises] {
        assert!(with.of(f).eq(without.of(f)), "{f:?} differs");
    }
    let planted: Vec<&Value> = with.of(WorldFile::Colluders).collect();
    assert_eq!(planted.len(), 6);
    let back = riskgate_synth::Collusion::from_json(planted.iter().copied());
    assert!(back.colluders.iter().all(|c| c.params == params));
    let (_, truth) = officers_and_traders(&with);
    for ring in 0..2 {
        let members: Vec<&riskgate_synth::Colluder> = back.colluders.iter().filter(|c| c.ring == Some(ring)).collect();
        assert_eq!(members.len(), 3, "ring {ring}");
        assert!(members.iter().all(|c| c.office == members[0].office && c.traders == members[0].traders));
        let (office, traders) = (members[0].office.as_str(), &members[0].traders);
        let mut per_member = [0usize; 3];
        let mut all = 0;
        for x in with.of(WorldFile::HistoryOutcomes) {
            let d = x["declaration_id"].as_str().unwrap();
            if !(traders.iter().any(|t| t == truth[d]) && d.starts_with(office)) {
                continue;
            }
            all += 1;
            for (k, m) in members.iter().enumerate() {
                per_member[k] += usize::from(x["officer"] == m.officer.as_str());
            }
        }
        let ring_share = per_member.iter().sum::<usize>() as f64 / all.max(1) as f64;
        assert!(all >= 30 && ring_share > 0.4, "ring {ring}: {per_member:?} of {all}");
        assert!(per_member.iter().all(|m| *m > 0 && (*m as f64) < 0.4 * all as f64), "{per_member:?} of {all}");
    }
    // A ring of 9 is refused.
    let bad = CollusionParams { ring: 9, ..CollusionParams::quiet() };
    let err = generate(&WorldConfig { collusion: bad, ..WorldConfig::new(1, 0.01) }, &mut NullSink).unwrap_err();
    assert!(err.to_string().contains("collusion ring"), "{err}");
}
