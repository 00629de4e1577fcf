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

/// Accounts (migration 6): usernames are unique, only hashes are stored,
/// disabling a user ends their sessions and revokes their tokens, and user
/// and token changes are in the action log.
#[test]
fn accounts_sessions_and_tokens() {
    use riskgate_store::{ApiToken, Session, User};
    for (mut store, _dir) in stores() {
        let b = store.backend();
        let user = User {
            username: "li".into(),
            display_name: "李".into(),
            role: "risk_analyst".into(),
            office: Some("2200".into()),
            department: None,
            disabled: false,
            created_at: 100,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        };
        store.insert_user(&user, &action(1)).unwrap();
        assert!(store.insert_user(&user, &action(2)).is_err(), "{b}: a username is unique");
        assert_eq!(store.user("li").unwrap().as_ref(), Some(&user), "{b}: the user reads back, hash included");
        assert_eq!(store.users().unwrap().len(), 1);
        let s = Session { token_hash: "h1".into(), username: "li".into(), created_at: 100, expires_at: 200 };
        store.insert_session(&s).unwrap();
        assert_eq!(store.session("h1").unwrap(), Some(s.clone()));
        let t = ApiToken {
            id: "t1".into(),
            username: "li".into(),
            name: "batch".into(),
            scopes: vec!["read".into(), "imports:write".into()],
            secret_hash: "sh".into(),
            created_at: 100,
            expires_at: None,
            revoked_at: None,
        };
        store.insert_token(&t, &action(3)).unwrap();
        assert_eq!(store.token("t1").unwrap(), Some(t.clone()), "{b}: scopes read back in order");
        store.set_user_disabled("li", true, 150, &action(4)).unwrap();
        assert!(store.user("li").unwrap().unwrap().disabled);
        assert_eq!(store.session("h1").unwrap(), None, "{b}: disabling ends sessions");
        assert_eq!(store.token("t1").unwrap().unwrap().revoked_at, Some(150), "{b}: and revokes tokens");
        assert!(store.revoke_token("t1", 160, &action(5)).is_err(), "{b}: a revoked token cannot be revoked again");
        assert!(store.set_user_disabled("nobody", true, 150, &action(6)).is_err());
        // A new session sweeps expired ones.
        store
            .insert_session(&Session {
                token_hash: "h2".into(),
                username: "li".into(),
                created_at: 300,
                expires_at: 400,
            })
            .unwrap();
        store
            .insert_session(&Session {
                token_hash: "h3".into(),
                username: "li".into(),
                created_at: 500,
                expires_at: 600,
            })
            .unwrap();
        assert_eq!(store.session("h2").unwrap(), None);
        store.delete_session("h3").unwrap();
        assert_eq!(store.session("h3").unwrap(), None);
        assert_eq!(store.actions(100).unwrap().len(), 3, "{b}: user add, token issue and disable are logged");
        assert_eq!(store.verify_actions().unwrap(), None);
    }
}
