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
