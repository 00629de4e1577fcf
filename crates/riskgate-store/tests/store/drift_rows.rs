//! `Store::drift_rows`: the model drift report's input, the same on both
//! backends.

use super::*;
use riskgate_store::{DriftQuery, ScreenedDay};

/// `d` as screened into `lane` by a learned model that gave it `score`.
fn scored(d: &Declaration, lane: Channel, score: f64) -> Screened {
    let mut s = screened(d, lane);
    s.decision.reasons.push(riskgate_core::Reason::Model {
        id: "gbdt-test".into(),
        score,
        top_features: Vec::new(),
        expected_revenue_cny: None,
    });
    s
}

fn at(day: u32) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T00:00:00+08:00")).unwrap().timestamp()
}

/// One row per controlled declaration in the period (a finding in any of
/// its outcomes counts), with its decision and whether its trader is new;
/// the screened declarations per China day, office and newness; the office
/// list and the period bound both.
#[test]
fn drift_rows_are_the_periods_controls_and_screened_counts() {
    const NINETY_DAYS: i64 = 90 * 86_400;
    for (mut store, _backend) in stores() {
        let name = store.backend();
        // T-OLD declared long before March; T-NEW first on 3 March.
        let mut old = decl("H1", 1, "T-OLD", 100.0);
        old.declared_at = chrono::DateTime::parse_from_rfc3339("2025-10-01T09:00:00+08:00").unwrap();
        // History in the period is not screened: not counted.
        store.commit_historical(&[old, decl("H2", 4, "T-OLD", 100.0)]).unwrap();
        let a = decl("A", 2, "T-OLD", 100.0);
        let mut b = decl("B", 3, "T-NEW", 100.0);
        b.office = "2202".into();
        let c = decl("C", 5, "T-NEW", 100.0);
        let g = decl("G", 5, "T-OLD", 100.0);
        let decls = [a.clone(), b.clone(), c.clone(), g.clone()];
        let results = [
            scored(&a, Channel::Red, 0.3),
            scored(&b, Channel::Red, 0.2),
            scored(&c, Channel::Yellow, 0.1),
            scored(&g, Channel::Green, 0.01),
        ];
        commit_prepared(store.as_mut(), &decls, &results, &[]).unwrap();
        store.commit_outcomes(&[outcome("A", 3, true), outcome("B", 4, false), outcome("C", 6, false)]).unwrap();
        // A second outcome of B (a later audit) finds something.
        store.commit_outcomes(&[outcome("B", 20, true)]).unwrap();

        let all = DriftQuery { from: at(1), to: at(31), offices: None, new_within: NINETY_DAYS };
        let rows = store.drift_rows(&all).unwrap();
        let got: Vec<(&str, &str, bool, bool)> = rows
            .controls
            .iter()
            .map(|r| (r.declaration_id.as_str(), r.office.as_str(), r.finding, r.new_trader))
            .collect();
        assert_eq!(
            got,
            vec![("A", "2201", true, false), ("B", "2202", true, true), ("C", "2201", false, true)],
            "{name}: one row per controlled declaration, in decision order"
        );
        assert_eq!(rows.controls[0].decided_at, a.declared_at.timestamp(), "{name}");
        assert!(
            matches!(&rows.controls[1].decision.reasons[..], [riskgate_core::Reason::Model { score, .. }] if *score == 0.2),
            "{name}: the stored decision with its model score"
        );
        let day = |d: u32| (at(d) + 8 * 3600) / 86_400;
        let screened = |d: u32, office: &str, new_trader: bool| ScreenedDay {
            day: day(d),
            office: office.into(),
            new_trader,
            declarations: 1,
        };
        assert_eq!(
            rows.screened,
            vec![
                screened(2, "2201", false),
                screened(3, "2202", true),
                screened(5, "2201", false),
                screened(5, "2201", true)
            ],
            "{name}: screened per day, office and newness (history is not screened)"
        );

        let offices = ["2202".to_string()];
        let scoped = store.drift_rows(&DriftQuery { offices: Some(&offices), ..all }).unwrap();
        assert_eq!(scoped.controls.len(), 1, "{name}: office list");
        assert_eq!(scoped.controls[0].declaration_id, "B", "{name}");
        assert_eq!(scoped.screened.len(), 1, "{name}");
        let later = store.drift_rows(&DriftQuery { from: at(4), ..all }).unwrap();
        assert_eq!(later.controls.iter().map(|r| r.declaration_id.as_str()).collect::<Vec<_>>(), ["C"], "{name}");
        // A span of one day: T-NEW is no longer new two days after its first.
        let short = store.drift_rows(&DriftQuery { new_within: 86_400, ..all }).unwrap();
        assert!(!short.controls.iter().any(|r| r.new_trader && r.declaration_id == "C"), "{name}: span honoured");
        assert_eq!(store.last_decided_at().unwrap(), Some(g.declared_at.timestamp()), "{name}");
    }
}
