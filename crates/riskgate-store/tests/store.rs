//! Store behaviour every backend must keep: immutability of decisions,
//! the tamper-evident action log, idempotent history import.

use riskgate_store::{Action, SqliteStore, Store};

fn action(n: u32) -> Action {
    Action {
        at: chrono::DateTime::parse_from_rfc3339("2026-03-01T09:00:00.123+08:00").unwrap(),
        actor: format!("user{n}"),
        office: Some("2201".into()),
        action: "rule_approve".into(),
        target: format!("R-{n}@1"),
        before: Some(serde_json::json!({"status": "draft"})),
        after: Some(serde_json::json!({"status": "active"})),
        reason: Some("test".into()),
    }
}

/// All backends under test. PostgreSQL joins this list when it exists.
fn stores() -> Vec<(Box<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    vec![(Box::new(SqliteStore::open(dir.path()).unwrap()), dir)]
}

#[test]
fn action_log_chain_detects_an_edit_behind_the_stores_back() {
    for (mut store, dir) in stores() {
        for n in 0..5 {
            store.append_action(&action(n)).unwrap();
        }
        assert_eq!(store.verify_actions().unwrap(), None, "{}: fresh chain verifies", store.backend());
        drop(store);
        // Tamper with entry 3 directly in the database file.
        let conn = rusqlite::Connection::open(dir.path().join("riskgate.db")).unwrap();
        conn.execute_batch("DROP TRIGGER action_log_no_update; UPDATE action_log SET actor = 'mallory' WHERE seq = 3;")
            .unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.verify_actions().unwrap(), Some(3));
    }
}

#[test]
fn the_action_log_refuses_updates_and_deletes() {
    for (mut store, dir) in stores() {
        store.append_action(&action(1)).unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("riskgate.db")).unwrap();
        assert!(conn.execute("UPDATE action_log SET actor = 'x'", []).is_err());
        assert!(conn.execute("DELETE FROM action_log", []).is_err());
        assert!(conn.execute("UPDATE decisions SET channel = 'green'", []).is_ok(), "no rows, no error");
    }
}

#[test]
fn workforce_records_are_kept_once_and_litigation_outcomes_move_on() {
    use riskgate_core::WorkforceRecord;
    let lit = |outcome: &str| {
        WorkforceRecord::litigation_from_json(&serde_json::json!({
            "id": "L1", "office": "2201", "filed_at": "2026-01-10", "outcome": outcome
        }))
        .unwrap()
    };
    let insp = WorkforceRecord::inspection_from_json(
        &serde_json::json!({"unit": "2201", "inspected_at": "2026-03-01", "passed": true}),
    )
    .unwrap();
    for (mut store, _dir) in stores() {
        assert_eq!(store.insert_workforce(&[lit("pending"), insp.clone()]).unwrap(), vec![true, true]);
        assert_eq!(store.insert_workforce(&[lit("pending"), insp.clone()]).unwrap(), vec![false, false]);
        assert_eq!(store.insert_workforce(&[lit("withdrawn")]).unwrap(), vec![true]);
        let all = store.workforce().unwrap();
        assert_eq!(all, vec![lit("withdrawn"), insp.clone()], "{}", store.backend());
    }
}

fn hook(id: &str, kind: &str) -> riskgate_store::Webhook {
    riskgate_store::Webhook {
        id: id.into(),
        kind: kind.into(),
        url: "https://example.invalid/hook".into(),
        secret: "s3cret".into(),
        department: "tax".into(),
        created_by: "alice".into(),
        created_at: 1_000,
        active: true,
    }
}

#[test]
fn webhook_deliveries_are_once_per_event_claimed_and_tracked() {
    use riskgate_store::{DeliveryAttempt, NewDelivery};
    for (mut store, _dir) in stores() {
        let b = store.backend();
        store.insert_webhook(&hook("h1", "decision"), &action(1)).unwrap();
        store.insert_webhook(&hook("h2", "finding"), &action(2)).unwrap();
        let ev = |id: &'static str, kind: &'static str| NewDelivery { event_id: id, kind, payload: "{}" };
        let batch = [ev("decision:A", "decision"), ev("finding:A", "finding"), ev("rule_change:R", "rule_change")];
        assert_eq!(store.enqueue_deliveries(&batch, 100).unwrap(), 2, "{b}: one per hook of the kind");
        assert_eq!(store.enqueue_deliveries(&batch, 101).unwrap(), 0, "{b}: the same events again are no-ops");
        let claimed = store.claim_deliveries(100, 30, 10).unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(store.claim_deliveries(100, 30, 10).unwrap().is_empty(), "{b}: claimed ones are not handed out twice");
        let d = &claimed[0];
        let failed = DeliveryAttempt {
            at: 105,
            http_status: Some(503),
            error: Some("HTTP 503".into()),
            status: "pending",
            next_at: 110,
        };
        store.record_delivery_attempt(d.id, &failed).unwrap();
        assert!(store.claim_deliveries(109, 30, 10).unwrap().is_empty());
        let again = store.claim_deliveries(131, 30, 10).unwrap();
        assert_eq!(again.len(), 2, "{b}: due again after the back-off and after the other's claim lapsed");
        let ok = DeliveryAttempt { at: 131, http_status: Some(200), error: None, status: "delivered", next_at: 131 };
        store.record_delivery_attempt(d.id, &ok).unwrap();
        let rows = store.deliveries(Some(&d.hook), 10).unwrap();
        assert_eq!((rows[0].status.as_str(), rows[0].attempts, rows[0].delivered_at), ("delivered", 2, Some(131)));
        assert!(store.remove_webhook("h1", &action(3)).unwrap());
        assert!(!store.remove_webhook("h1", &action(4)).unwrap(), "{b}: removing twice is refused");
        assert_eq!(
            store.enqueue_deliveries(&[ev("decision:B", "decision")], 200).unwrap(),
            0,
            "{b}: removed hooks get nothing"
        );
        assert_eq!(store.actions(10).unwrap().len(), 3, "{b}: add, add, remove logged");
        assert_eq!(store.verify_actions().unwrap(), None);
    }
}

#[test]
fn the_bus_epoch_is_kept_unless_replaced() {
    for (mut store, _dir) in stores() {
        assert!(store.load_bus_epoch().unwrap().is_none());
        let cp = riskgate_engine::Checkpoint::default();
        assert!(store.init_bus_epoch(&cp, false).unwrap());
        assert!(
            !store.init_bus_epoch(&cp, false).unwrap(),
            "{}: a second worker keeps the first epoch",
            store.backend()
        );
        assert!(store.init_bus_epoch(&cp, true).unwrap());
        assert_eq!(store.load_bus_epoch().unwrap().map(|(seq, _)| seq), Some(0));
    }
}
