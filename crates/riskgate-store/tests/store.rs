//! Store behaviour every backend must keep: immutability of decisions,
//! the tamper-evident action log, idempotent imports, one event sequence
//! for replay. Every test body runs on SQLite and, when it is reachable, on
//! PostgreSQL (`postgres://root@127.0.0.1:5432/test`, or
//! `RISKGATE_TEST_PG_URL`), each PostgreSQL test in a fresh schema of its
//! own that is dropped afterwards. An unreachable PostgreSQL fails the
//! tests, unless `RISKGATE_SKIP_PG=1` says to skip that backend (with a
//! `SKIPPED:` line on stderr). `schema_parity` compares the two schemas.

#[path = "store/drift_rows.rs"]
mod drift_rows;
#[path = "store/schema_parity.rs"]
mod schema_parity;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use riskgate_core::{Channel, Declaration, Outcome, Screened};
use riskgate_store::{Action, Event, NewDecision, OutcomeStored, PgStore, SqliteStore, Store};

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

/// Where a store under test lives, to reach it behind the store's back.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Backend {
    /// Runs SQL directly on the database, not through the store.
    fn exec(&self, sql: &str) -> Result<(), String> {
        match self {
            Backend::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("riskgate.db")).unwrap();
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Backend::Postgres { url, schema } => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                c.batch_execute(&format!("SET search_path TO {schema}")).unwrap();
                c.batch_execute(sql).map_err(|e| format!("{e:?}"))
            }
        }
    }

    fn query_i64(&self, sql: &str) -> i64 {
        match self {
            Backend::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("riskgate.db")).unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Backend::Postgres { url, schema } => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                c.batch_execute(&format!("SET search_path TO {schema}")).unwrap();
                c.query_one(sql, &[]).unwrap().get(0)
            }
        }
    }

    /// The SQL that removes the append-only guard of the action log.
    fn drop_action_log_guard(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "DROP TRIGGER action_log_no_update;",
            Backend::Postgres { .. } => "DROP TRIGGER action_log_no_change ON action_log;",
        }
    }

    /// A new store handle on the same data (as after a restart).
    fn open(&self) -> Box<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Box::new(SqliteStore::open(dir.path()).unwrap()),
            Backend::Postgres { url, schema } => Box::new(PgStore::open_in_schema(url, Some(schema)).unwrap()),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { url, schema } = self {
            let _ = PgStore::drop_schema(url, schema);
        }
    }
}

/// The PostgreSQL URL for tests. When nothing answers there the tests
/// fail, unless `RISKGATE_SKIP_PG=1`: then `None`, said once on stderr past
/// the test harness's capture, so that a skipped backend is never silent.
fn pg_url() -> Option<String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    let found = URL.get_or_init(|| {
        let url =
            std::env::var("RISKGATE_TEST_PG_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(_) => Ok(url),
            Err(e) => Err(format!("PostgreSQL at {url} is unreachable: {e}")),
        }
    });
    match found {
        Ok(url) => Some(url.clone()),
        Err(why) if std::env::var("RISKGATE_SKIP_PG").as_deref() == Ok("1") => {
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "SKIPPED: the PostgreSQL backend ({why}; RISKGATE_SKIP_PG=1)");
            });
            None
        }
        Err(why) => panic!("{why}; start it (.ci/run does) or set RISKGATE_SKIP_PG=1 to skip that backend"),
    }
}

/// A fresh, empty schema name for one PostgreSQL store under test.
fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("rg_test_{}_{}_{nanos}", std::process::id(), SCHEMAS.fetch_add(1, Ordering::Relaxed))
}

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

/// All backends under test, each with a fresh empty store. The store comes
/// first so that it is dropped before its backend (and schema) is.
fn stores() -> Vec<(Box<dyn Store>, Backend)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out: Vec<(Box<dyn Store>, Backend)> =
        vec![(Box::new(SqliteStore::open(dir.path()).unwrap()), Backend::Sqlite(dir))];
    if let Some(url) = pg_url() {
        let schema = fresh_schema();
        let store = PgStore::open_in_schema(&url, Some(&schema)).unwrap();
        out.push((Box::new(store), Backend::Postgres { url, schema }));
    }
    out
}

fn decl(id: &str, day: u32, trader: &str, value: f64) -> Declaration {
    let s = format!(
        r#"{{"id":"{id}","declared_at":"2026-03-{day:02}T09:00:00+08:00","direction":"import","office":"2201","transport_mode":"sea","trade_mode":"0110","trader":{{"id":"{trader}"}},"declarant":{{"id":"D1"}},"country_of_departure":"VN","currency":"USD","items":[{{"line":1,"hs_code":"8517130000","origin":"VN","quantity":100,"net_weight_kg":50.0,"value":{value},"duty_rate":0.1}},{{"line":2,"hs_code":"6403990000","origin":"CN","quantity":10,"net_weight_kg":5.0,"value":20,"duty_rate":0.2}}]}}"#
    );
    Declaration::from_json(&serde_json::from_str(&s).unwrap()).unwrap()
}

fn outcome(id: &str, day: u32, finding: bool) -> Outcome {
    let mut v = serde_json::json!({"declaration_id": id, "officer": "O1", "control": "physical",
        "completed_at": format!("2026-03-{day:02}T15:00:00+08:00"),
        "result": if finding { "finding" } else { "no_finding" }});
    if finding {
        v["findings"] = serde_json::json!(["undervaluation"]);
        v["additional_duty"] = serde_json::json!(1234.5);
    }
    Outcome::from_json(&v).unwrap()
}

#[test]
fn action_log_chain_detects_an_edit_behind_the_stores_back() {
    for (mut store, backend) in stores() {
        for n in 0..5 {
            store.append_action(&action(n)).unwrap();
        }
        assert_eq!(store.verify_actions().unwrap(), None, "{}: fresh chain verifies", store.backend());
        drop(store);
        // Tamper with entry 3 directly in the database.
        backend.exec(backend.drop_action_log_guard()).unwrap();
        backend.exec("UPDATE action_log SET actor = 'mallory' WHERE seq = 3").unwrap();
        let store = backend.open();
        assert_eq!(store.verify_actions().unwrap(), Some(3), "{}", store.backend());
    }
}

#[test]
fn the_action_log_refuses_updates_and_deletes() {
    for (mut store, backend) in stores() {
        assert_eq!(store.last_action_seq().unwrap(), 0, "{}: an empty log", store.backend());
        store.append_action(&action(1)).unwrap();
        assert_eq!(store.last_action_seq().unwrap(), store.actions(1).unwrap()[0].seq, "{}", store.backend());
        assert!(backend.exec("UPDATE action_log SET actor = 'x'").is_err(), "{}", store.backend());
        assert!(backend.exec("DELETE FROM action_log").is_err(), "{}", store.backend());
        assert!(backend.exec("UPDATE decisions SET channel = 'green'").is_ok(), "no rows, no error");
        let logged = store.actions(10).unwrap();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].action.actor, "user1");
        assert_eq!(logged[0].action.at.timestamp(), action(1).at.timestamp(), "whole seconds kept");
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
    for (mut store, _backend) in stores() {
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
        let s = Session {
            token_hash: "h1".into(),
            username: "li".into(),
            created_at: 100,
            expires_at: 200,
            address: Some("10.0.0.1".into()),
        };
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
                address: None,
            })
            .unwrap();
        store
            .insert_session(&Session {
                token_hash: "h3".into(),
                username: "li".into(),
                created_at: 500,
                expires_at: 600,
                address: None,
            })
            .unwrap();
        assert_eq!(store.session("h2").unwrap(), None);
        store.delete_session("h3").unwrap();
        assert_eq!(store.session("h3").unwrap(), None);
        // Sessions are listed (unexpired, newest first) and ended one by one by their public id.
        for (h, at) in [("a1b2c3d4e5f60718aaaa", 700), ("0011223344556677bbbb", 710)] {
            let s =
                Session { token_hash: h.into(), username: "li".into(), created_at: at, expires_at: 900, address: None };
            store.insert_session(&s).unwrap();
        }
        let listed = store.sessions("li", 705).unwrap();
        assert_eq!(listed.iter().map(Session::id).collect::<Vec<_>>(), ["0011223344556677", "a1b2c3d4e5f60718"], "{b}");
        assert!(store.sessions("li", 900).unwrap().is_empty(), "{b}: expired sessions are not listed");
        assert!(store.end_session("someone", "a1b2c3d4e5f60718", &action(7)).is_err(), "{b}: only the owner's");
        store.end_session("li", "a1b2c3d4e5f60718", &action(8)).unwrap();
        assert_eq!(store.session("a1b2c3d4e5f60718aaaa").unwrap(), None, "{b}: the session ended");
        assert!(store.session("0011223344556677bbbb").unwrap().is_some(), "{b}: the other one did not");
        assert_eq!(
            store.actions(100).unwrap().len(),
            4,
            "{b}: user add, token issue, disable and the session's end are logged (a refused end is not)"
        );
        assert_eq!(store.verify_actions().unwrap(), None);
    }
}
/// What the engine would hand over for `d` sent to `lane`: a decision at
/// declaration time, and a control task when the lane is a control.
fn screened(d: &Declaration, lane: Channel) -> Screened {
    let control = lane.is_control();
    let risk_value = if control { 0.8 } else { 0.1 };
    let decision = riskgate_core::Decision {
        declaration_id: d.id.clone(),
        decided_at: d.declared_at,
        channel: lane,
        risk_value,
        risk_level: if control { riskgate_core::RiskLevel::High } else { riskgate_core::RiskLevel::Low },
        reasons: Vec::new(),
        random: false,
        instructions: String::new(),
        selection_probability: if control { 1.0 } else { 0.0 },
        source: if control { riskgate_core::Source::Score } else { riskgate_core::Source::None },
        disposal: Some(if control { riskgate_core::Disposal::Control } else { riskgate_core::Disposal::Accept }),
        office: d.office.clone(),
        engine: "test".into(),
    };
    let task = control.then(|| riskgate_core::TaskSpec {
        office: d.office.clone(),
        channel: lane,
        disposal: riskgate_core::Disposal::Control,
        instructions: "check".into(),
    });
    Screened { decision, ranking: risk_value, task, shadow: None, refer: Vec::new() }
}

/// Stores declarations as screened into `lane`, in one batch.
fn commit_in_lane(store: &mut dyn Store, decls: &[Declaration], lane: Channel) -> Vec<Screened> {
    commit_referring(store, decls, lane, &[]).unwrap();
    decls.iter().map(|d| screened(d, lane)).collect()
}

/// Stores declarations as screened into `lane` with `referrals`, in one batch.
fn commit_referring(
    store: &mut dyn Store,
    decls: &[Declaration],
    lane: Channel,
    referrals: &[(riskgate_core::Case, Action)],
) -> riskgate_store::Result<Vec<i64>> {
    let screened: Vec<Screened> = decls.iter().map(|d| screened(d, lane)).collect();
    commit_prepared(store, decls, &screened, referrals)
}

/// Stores `decls` with the engine results given for them.
fn commit_prepared(
    store: &mut dyn Store,
    decls: &[Declaration],
    screened: &[Screened],
    referrals: &[(riskgate_core::Case, Action)],
) -> riskgate_store::Result<Vec<i64>> {
    let bodies: Vec<String> = decls.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
    let jsons: Vec<String> = screened.iter().map(|s| serde_json::to_string(&s.decision).unwrap()).collect();
    let batch: Vec<NewDecision<'_>> = decls
        .iter()
        .zip(screened)
        .zip(bodies.iter().zip(&jsons))
        .map(|((d, s), (b, j))| NewDecision { declaration: d, body: b, screened: s, decision_json: j, shadow: None })
        .collect();
    store.commit_screened(&batch, referrals)
}

/// History is stored once per id (also within one batch); declarations and
/// outcomes share one event sequence that replay walks in order, and a
/// checkpoint covers exactly the events stored before it.
#[test]
fn events_share_one_sequence_and_replay_in_order() {
    for (mut store, backend) in stores() {
        let b = store.backend();
        let hist = [decl("H1", 1, "T1", 100.0), decl("H2", 2, "T2", 200.0), decl("H1", 3, "T1", 999.0)];
        assert_eq!(store.commit_historical(&hist).unwrap(), vec![true, true, false], "{b}");
        assert_eq!(store.commit_historical(&hist[..2]).unwrap(), vec![false, false], "{b}");
        // The first version of H1 is the one kept.
        let h1 = store.declaration("H1").unwrap().unwrap();
        assert!(h1.historical && h1.decision.is_none());
        assert_eq!(h1.declaration.items[0].value, 100.0, "{b}");
        let screened =
            commit_in_lane(store.as_mut(), &[decl("S1", 4, "T1", 300.0), decl("S2", 5, "T3", 400.0)], Channel::Green);
        let stored = store.outcomes_by_time().unwrap();
        assert!(stored.is_empty());
        let res = store.commit_outcomes(&[outcome("S1", 6, true), outcome("S1", 6, true)]).unwrap();
        assert!(matches!(res[0], OutcomeStored::Stored { .. }) && res[1] == OutcomeStored::Duplicate, "{b}");
        // A batch naming an unknown declaration stores nothing.
        let err = store.commit_outcomes(&[outcome("H2", 7, false), outcome("NOPE", 7, false)]).unwrap_err();
        assert_eq!(err.to_string(), "record 2: declaration_id: no declaration \"NOPE\" is stored", "{b}");
        assert_eq!(store.outcomes_by_time().unwrap().len(), 1, "{b}: nothing half-stored");
        assert_eq!(store.declaration_count().unwrap(), 4);

        let known = store.known(&["S1", "S2", "H1", "X"]).unwrap();
        assert_eq!(known.len(), 3);
        assert_eq!(known["S1"].as_ref(), Some(&screened[0].decision), "{b}: decision round-trips");
        assert_eq!(known["H1"], None);

        let mut seen = Vec::new();
        store
            .replay(0, &mut |e| {
                seen.push(match e {
                    Event::Historical(d) => format!("historical {}", d.id),
                    Event::Screened { declaration, controlled, .. } => {
                        format!("screened {} controlled={controlled}", declaration.id)
                    }
                    Event::Outcome { outcome, keys } => {
                        format!("outcome {} trader={}", outcome.declaration_id, keys.trader)
                    }
                })
            })
            .unwrap();
        let lane = |i: usize| screened[i].decision.channel.is_control();
        assert_eq!(
            seen,
            vec![
                "historical H1".to_string(),
                "historical H2".into(),
                format!("screened S1 controlled={}", lane(0)),
                format!("screened S2 controlled={}", lane(1)),
                "outcome S1 trader=T1".into(),
            ],
            "{b}"
        );
        store.save_checkpoint(b"{\"engine\":\"state\"}", None).unwrap();
        let (as_of, body) = store.load_checkpoint().unwrap().unwrap();
        assert_eq!(as_of, 5, "{b}: the checkpoint covers the five events");
        assert_eq!(body, b"{\"engine\":\"state\"}", "{b}: the checkpoint's bytes come back as saved");
        store.commit_outcomes(&[outcome("H2", 8, false)]).unwrap();
        let mut after = Vec::new();
        backend.open().replay(as_of, &mut |e| after.push(matches!(e, Event::Outcome { .. }))).unwrap();
        assert_eq!(after, vec![true], "{b}: replay after the checkpoint sees only the new outcome");

        let counts = store.office_counts(None, None).unwrap();
        assert_eq!(counts.len(), 1);
        let f = &counts[0].facts;
        assert_eq!((f.declarations, f.screened, f.historical), (2.0, 2.0, 2.0), "{b}: history is counted apart");
        assert_eq!(f.additional_duty_cny, 1234.5, "{b}");
        let mut rows = 0;
        store
            .history(None, None, &mut |h| {
                rows += 1;
                if h.declaration.id == "S1" {
                    assert_eq!(h.outcomes.len(), 1);
                }
            })
            .unwrap();
        assert_eq!(rows, 4);
        assert!(backend.exec("DELETE FROM decisions").is_err(), "{b}: decisions are immutable");
    }
}

/// Rules, settings and lists change only with an action-log entry in the
/// same transaction; a refused change logs nothing.
#[test]
fn changes_are_logged_in_their_transaction() {
    use riskgate_core::{RuleDef, RuleStatus};
    for (mut store, _backend) in stores() {
        let b = store.backend();
        let def =
            RuleDef { title: "t".into(), department: "tariff".into(), ..RuleDef::new("R-1", "value_cny > 1", 0.2) };
        let mut rec = riskgate_store::RuleRecord {
            def,
            status: RuleStatus::Draft,
            created_by: "a".into(),
            created_at: 1,
            approved_by: None,
            approved_at: None,
            retired_at: None,
        };
        store.insert_rule(&rec, &action(1)).unwrap();
        let dup = store.insert_rule(&rec, &action(2)).unwrap_err();
        assert_eq!(dup.to_string(), "rule R-1 version 1 already exists", "{b}");
        rec.status = RuleStatus::Active;
        rec.approved_by = Some("b".into());
        store.set_rule_status("R-1", 1, &rec, &action(3)).unwrap();
        assert!(store.set_rule_status("R-9", 1, &rec, &action(4)).is_err());
        assert_eq!(store.rules().unwrap(), vec![rec.clone()], "{b}");
        store.set_setting("seed", "7", &action(5)).unwrap();
        store.set_setting("seed", "8", &action(6)).unwrap();
        assert_eq!(store.setting("seed").unwrap().as_deref(), Some("8"));
        assert_eq!(store.setting("none").unwrap(), None);
        store.set_list("watch", &["b".into(), "a".into(), "a".into()], &action(7)).unwrap();
        assert_eq!(store.lists().unwrap(), vec![("watch".into(), "a".into()), ("watch".into(), "b".into())]);
        let actors: Vec<String> = store.actions(100).unwrap().into_iter().map(|l| l.action.actor).collect();
        assert_eq!(actors, ["user7", "user6", "user5", "user3", "user1"], "{b}: refused changes log nothing");
        assert_eq!(store.verify_actions().unwrap(), None);
        let other = store.reopen().unwrap();
        assert_eq!(other.rules().unwrap().len(), 1, "{b}: a second handle sees the same store");
    }
}

#[test]
fn models_keep_one_active_and_one_shadow() {
    use riskgate_store::ModelRecord;
    for (mut store, _backend) in stores() {
        let b = store.backend();
        for (i, id) in ["m1", "m2"].iter().enumerate() {
            let m = ModelRecord {
                id: id.to_string(),
                created_at: i as i64,
                created_by: "a".into(),
                status: "candidate".into(),
                metrics: serde_json::json!({"auc": 0.7}),
                bytes: vec![0, 1, 2, 255],
            };
            store.insert_model(&m, &action(1)).unwrap();
        }
        store.set_model_status("m1", "active", &action(2)).unwrap();
        store.set_model_status("m2", "active", &action(3)).unwrap();
        let st: Vec<(String, String)> = store.models().unwrap().into_iter().map(|m| (m.id, m.status)).collect();
        assert_eq!(st, [("m2".into(), "active".into()), ("m1".into(), "candidate".into())], "{b}");
        assert_eq!(store.model("m1").unwrap().unwrap().bytes, vec![0, 1, 2, 255], "{b}");
        assert!(store.set_model_status("m1", "bogus", &action(4)).is_err());
        assert!(store.set_model_status("m9", "retired", &action(4)).is_err());
    }
}

/// PostgreSQL only: decisions and the action log land in monthly
/// partitions created on demand, none in the default partitions.
#[test]
fn postgres_partitions_by_month() {
    for (mut store, backend) in stores() {
        if matches!(backend, Backend::Sqlite(_)) {
            continue;
        }
        let mut a = action(1);
        store.append_action(&a).unwrap();
        a.at = chrono::DateTime::parse_from_rfc3339("2026-04-30T23:59:59+08:00").unwrap();
        store.append_action(&a).unwrap();
        commit_in_lane(store.as_mut(), &[decl("S1", 4, "T1", 300.0)], Channel::Green);
        let n = |sql: &str| backend.query_i64(sql);
        assert_eq!(n("SELECT COUNT(*) FROM action_log_2026_03"), 1);
        assert_eq!(n("SELECT COUNT(*) FROM action_log_2026_04"), 1);
        assert_eq!(n("SELECT COUNT(*) FROM action_log_default"), 0);
        assert_eq!(n("SELECT COUNT(*) FROM decisions_2026_03"), 1, "decided at declaration time, March");
        assert_eq!(n("SELECT COUNT(*) FROM decisions_default"), 0);
        assert!(backend.exec("TRUNCATE decisions").is_err(), "decisions cannot be truncated");
        assert_eq!(store.verify_actions().unwrap(), None);
    }
}

#[test]
fn every_sqlite_migration_has_a_postgres_twin() {
    let (sqlite, pg) = riskgate_store::migration_numbers();
    for v in &sqlite {
        assert!(pg.contains(v), "SQLite migration {v} has no PostgreSQL twin");
    }
    assert_eq!(sqlite, pg, "both backends number their migrations alike");
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
        offices: Vec::new(),
        hs_chapters: Vec::new(),
    }
}

#[test]
fn webhook_deliveries_are_once_per_event_claimed_and_tracked() {
    use riskgate_store::{DeliveryAttempt, NewDelivery};
    for (mut store, _dir) in stores() {
        let b = store.backend();
        store.insert_webhook(&hook("h1", "decision"), &action(1)).unwrap();
        store.insert_webhook(&hook("h2", "finding"), &action(2)).unwrap();
        let ev = |id: &'static str, kind: &'static str| NewDelivery {
            event_id: id,
            kind,
            payload: "{}",
            department: None,
            office: None,
            chapters: &[],
        };
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
        let cp = b"{\"epoch\":1}";
        assert!(store.init_bus_epoch(cp, false).unwrap());
        assert!(
            !store.init_bus_epoch(b"{\"epoch\":2}", false).unwrap(),
            "{}: a second worker keeps the first epoch",
            store.backend()
        );
        assert_eq!(store.load_bus_epoch().unwrap(), Some((0, cp.to_vec())), "{}", store.backend());
        assert!(store.init_bus_epoch(b"{\"epoch\":3}", true).unwrap());
        assert_eq!(store.load_bus_epoch().unwrap(), Some((0, b"{\"epoch\":3}".to_vec())));
    }
}

/// Overrides change the task and the release in one transaction with their
/// log entry; the store refuses what makes no sense, naming the field.
#[test]
fn overrides_change_the_lane_and_are_logged_with_before_and_after() {
    use riskgate_store::{Override, StoreError};
    for (mut store, _backend) in stores() {
        let b = store.backend();
        commit_in_lane(store.as_mut(), &[decl("R1", 2, "T1", 100.0), decl("R2", 2, "T1", 100.0)], Channel::Red);
        commit_in_lane(store.as_mut(), &[decl("G1", 2, "T2", 100.0)], Channel::Green);
        store.commit_historical(&[decl("H1", 1, "T1", 100.0)]).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00+08:00").unwrap();
        let ovr = |id: &str, channel: Channel, reason: &str| Override {
            declaration_id: id.into(),
            channel,
            officer: "O7".into(),
            reason: reason.into(),
            at,
            entered_by: None,
        };
        let user = |r: Result<riskgate_store::OverrideDone, StoreError>| match r {
            Err(StoreError::User(m)) => m,
            other => panic!("{b}: expected a user error, got {other:?}"),
        };
        assert_eq!(
            user(store.override_channel(&ovr("R1", Channel::Green, " "))),
            "override of R1: reason: a reason is required"
        );
        assert_eq!(
            user(store.override_channel(&ovr("H1", Channel::Green, "x"))),
            "override of H1: stored as history, never screened"
        );
        assert_eq!(user(store.override_channel(&ovr("R1", Channel::Red, "x"))), "override of R1: channel: already red");
        assert!(user(store.override_channel(&ovr("G1", Channel::Red, "x"))).contains("the goods were released at"));
        assert_eq!(store.open_tasks(None, 10).unwrap().len(), 2, "{b}");
        let done = store.override_channel(&ovr("R1", Channel::Green, "资料齐全")).unwrap();
        assert_eq!((done.before.as_str(), done.after.as_str(), done.released), ("red", "green", true), "{b}");
        let logged = store.actions_in(None, None).unwrap();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].seq, done.log_seq);
        assert_eq!(logged[0].action.actor, "O7");
        assert_eq!(logged[0].action.before, Some(serde_json::json!({"channel": "red"})));
        assert_eq!(logged[0].action.after.as_ref().unwrap()["channel"], "green");
        assert_eq!(logged[0].action.reason.as_deref(), Some("资料齐全"));
        assert_eq!(store.open_tasks(None, 10).unwrap().len(), 1, "{b}: the overridden task left the open list");
        // The search and the declaration read the lane in force and the override.
        let q = riskgate_store::DeclarationQuery { limit: 10, ..Default::default() };
        let found: Vec<(String, Option<String>, Option<String>, bool)> = store
            .search_declarations(&q)
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.channel, s.channel_in_force, s.overridden))
            .collect();
        let row = |id: &str, engine: Option<&str>, now: Option<&str>, overridden: bool| {
            (id.to_string(), engine.map(str::to_string), now.map(str::to_string), overridden)
        };
        assert_eq!(
            found,
            [
                row("H1", None, None, false),
                row("G1", Some("green"), Some("green"), false),
                row("R2", Some("red"), Some("red"), false),
                row("R1", Some("red"), Some("green"), true),
            ],
            "{b}"
        );
        // Paging: the same order, `offset` rows on.
        let page = |offset: usize| -> Vec<String> {
            let q = riskgate_store::DeclarationQuery { limit: 2, offset, ..Default::default() };
            store.search_declarations(&q).unwrap().into_iter().map(|s| s.id).collect()
        };
        assert_eq!(
            (page(0), page(2), page(4)),
            (vec!["H1".to_string(), "G1".into()], vec!["R2".into(), "R1".into()], vec![]),
            "{b}"
        );
        assert_eq!(page(1), ["G1", "R2"], "{b}");
        let of_r1 = store.overrides("R1").unwrap();
        assert_eq!(of_r1.iter().map(|l| l.seq).collect::<Vec<_>>(), [done.log_seq], "{b}");
        assert!(store.overrides("R2").unwrap().is_empty(), "{b}");
        // Red to yellow keeps the control; once completed no override is possible.
        let done = store.override_channel(&ovr("R2", Channel::Yellow, "单证齐全，改审单")).unwrap();
        assert_eq!((done.before.as_str(), done.after.as_str(), done.released), ("red", "yellow", false));
        store.commit_outcomes(&[outcome("R2", 3, false)]).unwrap();
        assert_eq!(
            user(store.override_channel(&ovr("R2", Channel::Green, "x"))),
            "override of R2: its control is already completed"
        );
        // The search's filters: controlled, finding, source, risk level, control status.
        let trader2 = riskgate_core::Enterprise::from_json(
            &serde_json::json!({"id": "T2", "name": "深圳华强电子有限公司", "credit_class": "general"}),
        )
        .unwrap();
        store.upsert_enterprises(&[trader2]).unwrap();
        let ids = |q: riskgate_store::DeclarationQuery| -> Vec<String> {
            let q = riskgate_store::DeclarationQuery { limit: 10, ..q };
            store.search_declarations(&q).unwrap().into_iter().map(|s| s.id).collect()
        };
        let text = |s: &str| Some(s.to_string());
        type Q = riskgate_store::DeclarationQuery;
        for (q, want) in [
            (Q { controlled: Some(true), ..Default::default() }, vec!["R2", "R1"]),
            (Q { controlled: Some(false), ..Default::default() }, vec!["G1"]),
            (Q { finding: Some(true), ..Default::default() }, vec![]),
            (Q { finding: Some(false), ..Default::default() }, vec!["H1", "G1", "R2", "R1"]),
            (Q { source: text("score"), ..Default::default() }, vec!["R2", "R1"]),
            (Q { source: text("none"), ..Default::default() }, vec!["G1"]),
            (Q { risk_level: text("low"), ..Default::default() }, vec!["G1"]),
            (Q { status: text("closed"), ..Default::default() }, vec!["R2"]),
            (Q { status: text("overridden"), ..Default::default() }, vec!["R1"]),
            (Q { status: text("none"), ..Default::default() }, vec!["H1", "G1"]),
            (Q { status: text("none"), controlled: Some(false), ..Default::default() }, vec!["G1"]),
            (Q { officer: text("O1"), ..Default::default() }, vec!["R2"]),
            (Q { trader_match: text("T"), ..Default::default() }, vec!["H1", "G1", "R2", "R1"]),
            (Q { trader_match: text("T1"), ..Default::default() }, vec!["H1", "R2", "R1"]),
            (Q { trader_match: text("华强"), ..Default::default() }, vec!["G1"]),
            (Q { trader_match: text("X"), ..Default::default() }, vec![]),
            (Q { trader: text("T"), ..Default::default() }, vec![]),
            (Q { officer: text("O7"), ..Default::default() }, vec![]),
            (Q { rule: text("R-NONE"), ..Default::default() }, vec![]),
        ] {
            let label = format!("{b}: {q:?}");
            assert_eq!(ids(q), want, "{label}");
        }
        // The completed control reads back with its decision for integrity.
        let recs = store.control_records(None, None).unwrap();
        assert_eq!(recs.len(), 1, "{b}");
        assert_eq!((recs[0].declaration_id.as_str(), recs[0].officer.as_str(), recs[0].finding), ("R2", "O1", false));
        assert_eq!(recs[0].channel.as_deref(), Some("red"), "{b}: the engine's lane, not the override");
        assert!(recs[0].decided_at.is_some() && recs[0].risk_value.is_some());
        assert_eq!(recs[0].tz, 8 * 3600);
        assert_eq!(store.verify_actions().unwrap(), None, "{b}");
    }
}

/// An officer overrides one declaration at most MAX_OVERRIDES_PER_OFFICER
/// times (no flipping a lane back and forth); others are not bound by it.
#[test]
fn an_officer_overrides_a_declaration_a_bounded_number_of_times() {
    use riskgate_store::{MAX_OVERRIDES_PER_OFFICER, Override, StoreError};
    assert_eq!(MAX_OVERRIDES_PER_OFFICER, 3);
    for (mut store, _backend) in stores() {
        let b = store.backend();
        commit_in_lane(store.as_mut(), &[decl("F1", 2, "T1", 100.0), decl("F2", 2, "T1", 100.0)], Channel::Red);
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00+08:00").unwrap();
        let ovr = |id: &str, officer: &str, channel: Channel| Override {
            declaration_id: id.into(),
            channel,
            officer: officer.into(),
            reason: "x".into(),
            at,
            entered_by: None,
        };
        // (declaration, officer, lane, refused)
        #[rustfmt::skip]
        let table = [
            ("F1", "O7", Channel::Yellow, false),
            ("F1", "O7", Channel::Red, false),
            ("F1", "O7", Channel::Yellow, false),
            ("F1", "O7", Channel::Red, true),    // a fourth flip by O7
            ("F2", "O7", Channel::Yellow, false), // another declaration
            ("F1", "O8", Channel::Red, false),    // another officer
        ];
        for (id, officer, lane, refused) in table {
            match store.override_channel(&ovr(id, officer, lane)) {
                Err(StoreError::User(m)) if refused => {
                    assert!(m.contains("3 times, the most one officer may"), "{b}: {m}")
                }
                Ok(_) if !refused => {}
                other => panic!("{b}: {id} by {officer} to {lane:?}: {other:?}"),
            }
        }
        assert_eq!(store.verify_actions().unwrap(), None, "{b}");
    }
}

/// The embedded store holds declarations and password hashes: its files
/// are created readable by their owner only.
#[cfg(unix)]
#[test]
fn the_sqlite_store_files_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    commit_in_lane(&mut store, &[decl("P1", 2, "T1", 100.0)], Channel::Green);
    for name in ["riskgate.db", "riskgate.db-wal", "riskgate.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}: {mode:o}");
    }
}

fn case(kind: riskgate_core::CaseKind, department: &str, declaration: Option<&str>) -> riskgate_core::Case {
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00+08:00").unwrap();
    riskgate_core::Case {
        id: 0,
        version: 1,
        kind,
        department: department.into(),
        office: "2201".into(),
        status: riskgate_core::CaseStatus::Opened,
        declaration_id: declaration.map(str::to_string),
        enterprise: Some("T1".into()),
        officer: None,
        origin: "manual".into(),
        title: "移交 / referral".into(),
        assignee: None,
        opened_by: "alice".into(),
        opened_at: at,
        accept_by: at + chrono::Duration::days(3),
        due_at: at + chrono::Duration::days(30),
        updated_at: at,
        escalated_at: None,
        result: None,
        history: vec![riskgate_core::CaseEntry { at, by: "alice".into(), what: "opened".into(), note: None }],
        selection: None,
    }
}

/// Cases: ids given by the store, each change over the version it was made
/// from (a stale one is refused and nothing of it is stored), filters, and
/// the action-log entry in the same transaction naming the case; case
/// events reach only their department's webhooks.
#[test]
fn cases_are_versioned_filtered_and_logged() {
    use riskgate_core::{CaseKind, CaseQuery, CaseStatus};
    use riskgate_store::NewDelivery;
    for (mut store, _dir) in stores() {
        let b = store.backend();
        let a = store.insert_case(&case(CaseKind::AntiSmuggling, "anti_smuggling", Some("A")), &action(1)).unwrap();
        let t = store.insert_case(&case(CaseKind::Tariff, "tariff", None), &action(2)).unwrap();
        assert_ne!(a, t, "{b}");
        let mut c = store.case(a).unwrap().unwrap();
        assert_eq!((c.id, c.version, c.declaration_id.as_deref()), (a, 1, Some("A")), "{b}");
        c.version = 2;
        c.status = CaseStatus::Accepted;
        store.update_case(&c, &action(3)).unwrap();
        let mut stale = c.clone();
        stale.status = CaseStatus::Rejected;
        let e = store.update_case(&stale, &action(4)).unwrap_err();
        assert!(matches!(e, riskgate_store::StoreError::User(_)), "{b}: {e}");
        assert_eq!(store.case(a).unwrap().unwrap().status, CaseStatus::Accepted, "{b}");
        assert_eq!(store.case(999).unwrap(), None, "{b}");
        let q = |q: CaseQuery| store.cases(&q).unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(q(CaseQuery::default()), vec![t, a], "{b}: newest first");
        assert_eq!(q(CaseQuery { department: Some("tariff".into()), ..Default::default() }), vec![t], "{b}");
        assert_eq!(q(CaseQuery { status: Some(CaseStatus::Accepted), ..Default::default() }), vec![a], "{b}");
        assert_eq!(q(CaseQuery { kind: Some(CaseKind::Tariff), ..Default::default() }), vec![t], "{b}");
        assert_eq!(q(CaseQuery { declaration_id: Some("A".into()), ..Default::default() }), vec![a], "{b}");
        assert_eq!(q(CaseQuery { enterprise: Some("T9".into()), ..Default::default() }), Vec::<i64>::new(), "{b}");
        let targets: Vec<String> = store.actions(10).unwrap().into_iter().map(|l| l.action.target).collect();
        assert_eq!(
            targets,
            [format!("case:{a}"), format!("case:{t}"), format!("case:{a}")],
            "{b}: the stale change left no entry"
        );

        store.insert_webhook(&hook("h1", "case"), &action(5)).unwrap();
        let ev = |id: &'static str, department| NewDelivery {
            event_id: id,
            kind: "case",
            payload: "{}",
            department,
            office: None,
            chapters: &[],
        };
        assert_eq!(store.enqueue_deliveries(&[ev("case:1:1", Some("anti_smuggling"))], 100).unwrap(), 0, "{b}");
        assert_eq!(store.enqueue_deliveries(&[ev("case:2:1", Some("tax"))], 100).unwrap(), 1, "{b}");

        // An audit plan: its cases and then its own entry naming their ids.
        let plan = [
            (case(CaseKind::PostClearanceAudit, "audit", Some("P1")), action(6)),
            (case(CaseKind::PostClearanceAudit, "audit", Some("P2")), action(7)),
        ];
        let then = |ids: &[i64]| Action { after: Some(serde_json::json!({ "cases": ids })), ..action(8) };
        let ids = store.insert_cases(&plan, &then).unwrap();
        assert_eq!(ids.len(), 2, "{b}");
        for (id, decl) in ids.iter().zip(["P1", "P2"]) {
            assert_eq!(store.case(*id).unwrap().unwrap().declaration_id.as_deref(), Some(decl), "{b}");
        }
        let logged: Vec<(String, Option<serde_json::Value>)> =
            store.actions(3).unwrap().into_iter().map(|l| (l.action.target, l.action.after)).collect();
        assert_eq!(logged[0], ("R-8@1".to_string(), Some(serde_json::json!({ "cases": ids }))), "{b}");
        assert_eq!(
            (logged[1].0.clone(), logged[2].0.clone()),
            (format!("case:{}", ids[1]), format!("case:{}", ids[0]))
        );
    }
}

/// Rule statistics count the decisions of the offices asked for: a district
/// manager's view of a rule is their district's hits, not the nation's.
#[test]
fn rule_statistics_are_counted_on_the_offices_asked_for() {
    for (mut store, _backend) in stores() {
        let b = store.backend();
        let mut decls = [decl("S1", 1, "T1", 100.0), decl("S2", 2, "T1", 100.0), decl("S3", 3, "T2", 100.0)];
        decls[2].office = "5301".into();
        let mut screened: Vec<Screened> = decls.iter().map(|d| screened(d, Channel::Red)).collect();
        for s in &mut screened {
            s.decision.reasons.push(riskgate_core::Reason::Rule {
                id: "R-9".into(),
                version: 1,
                title: "test".into(),
                channel: Some(Channel::Red),
                weight: 0.5,
            });
        }
        commit_prepared(store.as_mut(), &decls, &screened, &[]).unwrap();
        let hits = |offices: Option<&[String]>| -> Vec<(String, u64)> {
            store.rule_stats(offices).unwrap().into_iter().map(|s| (s.id, s.hits)).collect()
        };
        assert_eq!(hits(None), [("R-9".to_string(), 3)], "{b}: national");
        assert_eq!(hits(Some(&["2201".to_string()])), [("R-9".to_string(), 2)], "{b}: one office");
        assert_eq!(hits(Some(&["9999".to_string()])), [], "{b}: an office without hits");
    }
}

/// A checkpoint covers what its state folded: `replay` answers the last
/// sequence it handed over, not one stored while it ran (another process
/// screening meanwhile), and a checkpoint saved at that sequence leaves the
/// later events to the next replay. Saving "everything stored so far"
/// instead lost them for good after a crash (tests/crash/run.sh: a CLI
/// command opened the store while `serve` screened).
#[test]
fn replay_answers_the_last_event_it_handed_over() {
    for (mut store, backend) in stores() {
        let b = store.backend();
        commit_in_lane(store.as_mut(), &[decl("S1", 1, "T1", 100.0), decl("S2", 2, "T2", 200.0)], Channel::Green);
        let mut other = backend.open();
        let mut seen = Vec::new();
        let last = store
            .replay(0, &mut |e| {
                if let Event::Screened { declaration, .. } = e {
                    if seen.is_empty() {
                        // Another writer stores an event while the replay runs.
                        commit_in_lane(other.as_mut(), &[decl("S3", 3, "T3", 300.0)], Channel::Green);
                    }
                    seen.push(declaration.id);
                }
            })
            .unwrap();
        assert_eq!(seen, ["S1", "S2"], "{b}: the replay sees the store as it began");
        assert_eq!(last, 2, "{b}: the last event handed over");
        assert_eq!(store.replay(5, &mut |_| {}).unwrap(), 5, "{b}: nothing after 5");
        store.save_checkpoint(b"{}", Some(last)).unwrap();
        assert_eq!(store.load_checkpoint().unwrap().unwrap().0, 2, "{b}");
        let mut later = Vec::new();
        let end = backend
            .open()
            .replay(2, &mut |e| {
                if let Event::Screened { declaration, .. } = e {
                    later.push(declaration.id);
                }
            })
            .unwrap();
        assert_eq!((later, end), (vec!["S3".to_string()], 3), "{b}: the next replay folds S3");
        store.save_checkpoint(b"{}", None).unwrap();
        assert_eq!(store.load_checkpoint().unwrap().unwrap().0, 3, "{b}: None covers everything stored");
    }
}

/// A checkpoint never moves back: one written in the background from an
/// older state may finish after a newer one, and must not replace it.
#[test]
fn a_checkpoint_never_moves_back() {
    for (mut store, _backend) in stores() {
        let b = store.backend();
        assert_eq!(store.last_seq().unwrap(), 0, "{b}: nothing stored");
        commit_in_lane(store.as_mut(), &[decl("S1", 1, "T1", 100.0), decl("S2", 2, "T2", 200.0)], Channel::Green);
        assert_eq!(store.last_seq().unwrap(), 2, "{b}");
        store.save_checkpoint(b"new", Some(2)).unwrap();
        store.save_checkpoint(b"old", Some(1)).unwrap();
        assert_eq!(store.load_checkpoint().unwrap(), Some((2, b"new".to_vec())), "{b}: the older one is not kept");
        store.save_checkpoint(b"again", None).unwrap();
        assert_eq!(store.load_checkpoint().unwrap(), Some((2, b"again".to_vec())), "{b}: the same seq replaces it");
    }
}

/// The integrity marks change with every input of the indicators (an
/// outcome, an override, an officer or workforce write) and with nothing
/// else (a decision, another action-log entry), so a report computed
/// under equal marks can be served again.
#[test]
fn integrity_marks_change_with_the_indicators_input_only() {
    for (mut store, _backend) in stores() {
        let b = store.backend();
        let m0 = store.integrity_marks().unwrap();
        commit_in_lane(store.as_mut(), &[decl("M1", 1, "T1", 100.0), decl("M2", 2, "T2", 200.0)], Channel::Red);
        store.append_action(&action(1)).unwrap();
        assert_eq!(store.integrity_marks().unwrap(), m0, "{b}: decisions and other entries change nothing");
        store.commit_outcomes(&[outcome("M1", 3, true)]).unwrap();
        let m1 = store.integrity_marks().unwrap();
        assert!(m1[0] > m0[0] && m1[1..] == m0[1..], "{b}: an outcome: {m0:?} → {m1:?}");
        let mut o = action(2);
        o.action = "override".into();
        store.append_action(&o).unwrap();
        let m2 = store.integrity_marks().unwrap();
        assert!(m2[1] > m1[1] && (m2[0], m2[2]) == (m1[0], m1[2]), "{b}: an override: {m1:?} → {m2:?}");
        let officer = riskgate_core::Officer::from_json(
            &serde_json::json!({"id": "E1", "name": "E1", "office": "2201", "post": "inspection"}),
        )
        .unwrap();
        store.upsert_officers(&[officer]).unwrap();
        let m3 = store.integrity_marks().unwrap();
        assert!(m3[2] > m2[2] && m3[..2] == m2[..2], "{b}: an officer: {m2:?} → {m3:?}");
        let insp = riskgate_core::WorkforceRecord::inspection_from_json(
            &serde_json::json!({"unit": "2201", "inspected_at": "2026-03-01", "passed": true}),
        )
        .unwrap();
        store.insert_workforce(&[insp]).unwrap();
        let m4 = store.integrity_marks().unwrap();
        assert!(m4[2] > m3[2] && m4[..2] == m3[..2], "{b}: a workforce record: {m3:?} → {m4:?}");
    }
}

/// The cases a batch's rules refer are stored in the batch's transaction,
/// each with its `case_open` entry: a crash leaves a decision with its
/// referral or neither (a declaration once stored is not screened again, so
/// a referral missed then was never opened: tests/crash/run.sh found
/// decisions of referring rules without their case after kill -9).
#[test]
fn referrals_are_stored_with_their_decisions() {
    use riskgate_core::CaseKind;
    for (mut store, _backend) in stores() {
        let b = store.backend();
        let open = |id: &str| {
            let mut a = action(1);
            a.action = "case_open".into();
            a.target = "case:".into();
            (case(CaseKind::Tariff, "tariff", Some(id)), a)
        };
        let ids = commit_referring(
            store.as_mut(),
            &[decl("R1", 1, "T1", 100.0), decl("R2", 2, "T2", 200.0)],
            Channel::Green,
            &[open("R1"), open("R2")],
        )
        .unwrap();
        assert_eq!(ids.len(), 2, "{b}");
        for (id, decl) in ids.iter().zip(["R1", "R2"]) {
            assert_eq!(store.case(*id).unwrap().unwrap().declaration_id.as_deref(), Some(decl), "{b}");
        }
        let logged: Vec<String> = store.actions(10).unwrap().into_iter().map(|l| l.action.target).collect();
        assert_eq!(logged, [format!("case:{}", ids[1]), format!("case:{}", ids[0])], "{b}");
        // A batch that fails (R1 is stored already) stores neither its
        // declarations nor its referrals nor their entries.
        let err = commit_referring(
            store.as_mut(),
            &[decl("R3", 3, "T3", 300.0), decl("R1", 4, "T1", 100.0)],
            Channel::Green,
            &[open("R3")],
        );
        assert!(err.is_err(), "{b}");
        assert!(store.declaration("R3").unwrap().is_none(), "{b}");
        let q = riskgate_core::CaseQuery { declaration_id: Some("R3".into()), ..Default::default() };
        assert!(store.cases(&q).unwrap().is_empty(), "{b}: no referral without its decision");
        assert_eq!(store.actions(10).unwrap().len(), 2, "{b}");
        assert_eq!(store.verify_actions().unwrap(), None, "{b}: the chain is intact");
    }
}

/// A declaration of `office` on day `day` of March 2026 at `hour` (China
/// time), with goods in `hs`.
fn decl_at(id: &str, office: &str, day: u32, hour: u32, hs: &str, transport: &str) -> Declaration {
    let s = format!(
        r#"{{"id":"{id}","declared_at":"2026-03-{day:02}T{hour:02}:30:00+08:00","direction":"import","office":"{office}","transport_mode":"{transport}","trade_mode":"0110","trader":{{"id":"T{day}"}},"declarant":{{"id":"D1"}},"currency":"CNY","items":[{{"line":1,"hs_code":"{hs}","origin":"VN","quantity":1,"net_weight_kg":1.0,"value":1000,"duty_rate":0.1}}]}}"#
    );
    Declaration::from_json(&serde_json::from_str(&s).unwrap()).unwrap()
}

/// The KPI aggregates (facts table, folded in steps, plus the events not
/// yet folded) give the same office totals as a scan of the declarations,
/// for open, whole-day and partial-day periods, at every step: before any
/// fold, half folded, after outcomes (one releasing the goods), releases
/// and history imports, and fully folded. Breakdowns by goods heading add
/// up to the declarations with goods under it.
#[test]
fn kpi_aggregates_agree_with_a_scan_at_every_step() {
    use riskgate_core::{Office, OfficeLevel};
    use riskgate_store::{By, FactsQuery, Grain, facts};
    for (mut store, _backend) in stores() {
        let b = store.backend();
        store
            .upsert_offices(&[
                Office::new("0000", None, OfficeLevel::Hq),
                Office::new("2200", Some("0000"), OfficeLevel::District),
                Office::new("2201", Some("2200"), OfficeLevel::Office),
                Office::new("2202", Some("2200"), OfficeLevel::Office),
            ])
            .unwrap();
        let mut decls = Vec::new();
        for i in 0..40u32 {
            let office = if i % 3 == 0 { "2202" } else { "2201" };
            let hs = if i % 2 == 0 { "8517130000" } else { "6403990000" };
            decls.push(decl_at(
                &format!("F{i}"),
                office,
                1 + i % 20,
                8 + i % 14,
                hs,
                if i % 4 == 0 { "air" } else { "sea" },
            ));
        }
        let mut screened: Vec<Screened> = decls
            .iter()
            .enumerate()
            .map(|(i, d)| screened(d, if i % 5 == 0 { Channel::Red } else { Channel::Green }))
            .collect();
        // Two exploration controls with their selection probability.
        for i in [10, 20] {
            screened[i].decision.source = riskgate_core::Source::Random;
            screened[i].decision.random = true;
            screened[i].decision.selection_probability = 0.05;
        }
        let check = |store: &dyn Store, step: &str, n8517: f64| {
            let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
            for (from, to) in [
                (None, None),
                (Some(t("2026-03-05T00:00:00+08:00")), Some(t("2026-03-12T00:00:00+08:00"))),
                (Some(t("2026-03-05T12:00:00+08:00")), None),
            ] {
                let fast = store.office_counts(from, to).unwrap();
                let scan = store.scan_facts(from, to).unwrap();
                assert_eq!(fast.len(), scan.len(), "{b} {step} {from:?}..{to:?}: offices");
                for (c, (office, f)) in fast.iter().zip(&scan) {
                    assert_eq!(&c.office, office);
                    for (col, (x, y)) in facts::Facts::COLUMNS.iter().zip(c.facts.values().iter().zip(f.values())) {
                        assert!((x - y).abs() < 1e-6, "{b} {step} {from:?}..{to:?} office {office} {col}: {x} vs {y}");
                    }
                }
            }
            let heads = store
                .facts(&FactsQuery {
                    offices: Some(vec!["2201".into(), "2202".into()]),
                    key: Some("85*".into()),
                    ..FactsQuery::new(
                        Grain::Month,
                        facts::month_of(t("2026-03-01T00:00:00+08:00")),
                        facts::month_of(t("2026-04-01T00:00:00+08:00")),
                        "hs4",
                        By::Key,
                    )
                })
                .unwrap()
                .rows;
            assert_eq!(heads.len(), 1, "{b} {step}: one heading under chapter 85");
            assert_eq!((heads[0].0.as_str(), heads[0].1.declarations), ("8517", n8517), "{b} {step}");
            // The district's and HQ's rollup rows hold the same.
            for unit in ["^2200", "^0000"] {
                let up = store
                    .facts(&FactsQuery {
                        offices: Some(vec![unit.into()]),
                        key: Some("8517".into()),
                        ..FactsQuery::new(Grain::Month, i64::MIN, i64::MAX, "hs4", By::Key)
                    })
                    .unwrap()
                    .rows;
                assert_eq!(up.len(), 1, "{b} {step} {unit}");
                for (col, (x, y)) in facts::Facts::COLUMNS.iter().zip(up[0].1.values().iter().zip(heads[0].1.values()))
                {
                    assert!((x - y).abs() < 1e-6, "{b} {step} {unit} {col}: {x} vs {y}");
                }
            }
            // A ranked read (top keys from the narrow index, then their
            // full sums) is the unranked read ranked and cut; quarterly and
            // yearly rows (trader, hs4, hs6) give what the months give, for
            // periods of whole years, whole quarters, months and mixes.
            let m = 2026 * 12 + 2; // March 2026, the month of every declaration
            let windows = [
                (i64::MIN, i64::MAX),
                (m - 14, m + 10),
                (m - 3, m + 10),
                (m - 2, m + 1),
                (m - 5, m + 1),
                (m - 8, m + 4),
                (m, m + 1),
                (m - 1, m + 3),
                (m + 1, m + 13),
            ];
            let dims =
                [("hs4", "2201"), ("hs6", "^2200"), ("trader", "^0000"), ("transport", "^0000"), ("origin", "2202")];
            for ((dim, unit), (from, to)) in dims.iter().flat_map(|d| windows.iter().map(move |w| (*d, *w))) {
                let at = format!("{b} {step} {dim} {unit} months {from}..{to}");
                let q = FactsQuery {
                    offices: Some(vec![unit.into()]),
                    ..FactsQuery::new(Grain::Month, from, to, dim, By::Key)
                };
                let mut all = store.facts(&q).unwrap().rows;
                all.retain(|(_, f)| f.findings() != 0.0 || f.declarations != 0.0);
                all.sort_by(|a, b| {
                    b.1.findings()
                        .total_cmp(&a.1.findings())
                        .then(b.1.declarations.total_cmp(&a.1.declarations))
                        .then(a.0.cmp(&b.0))
                });
                assert_eq!(all.is_empty(), from > m || to <= m, "{at}: rows to rank");
                for (n, coarse) in [(Some(1), false), (Some(2), false), (Some(100), false)]
                    .into_iter()
                    .chain([Some(1), Some(2), Some(100), None].map(|n| (n, true)))
                {
                    let read = FactsQuery { top: n, ..q.clone() };
                    let read = if coarse { read.with_coarse() } else { read };
                    let whole_quarter = facts::coarse_periods(from, to).is_some();
                    assert_eq!(
                        read.coarse.is_some(),
                        coarse && whole_quarter && (dim == "trader" || dim == "hs6"),
                        "{at}"
                    );
                    let mut got = store.facts(&read).unwrap();
                    if n.is_none() {
                        got.rows.retain(|(_, f)| f.findings() != 0.0 || f.declarations != 0.0);
                        got.rows.sort_by(|a, b| {
                            b.1.findings()
                                .total_cmp(&a.1.findings())
                                .then(b.1.declarations.total_cmp(&a.1.declarations))
                                .then(a.0.cmp(&b.0))
                        });
                    } else {
                        assert_eq!(got.groups, all.len(), "{at} top {n:?}: groups");
                    }
                    let want = &all[..n.unwrap_or(usize::MAX).min(all.len())];
                    let keys = |v: &[(String, facts::Facts)]| v.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
                    assert_eq!(keys(&got.rows), keys(want), "{at} top {n:?} coarse {coarse}");
                    for ((k, x), (_, y)) in got.rows.iter().zip(want) {
                        for (col, (x, y)) in facts::Facts::COLUMNS.iter().zip(x.values().iter().zip(y.values())) {
                            assert!((x - y).abs() < 1e-6, "{at} top {n:?} {k} {col}: {x} vs {y}");
                        }
                    }
                }
            }
        };
        commit_prepared(store.as_mut(), &decls[..30], &screened[..30], &[]).unwrap();
        check(store.as_ref(), "nothing folded", 15.0);
        assert_eq!(store.fold_facts(13).unwrap(), 13, "{b}: a fold takes at most the events asked for");
        check(store.as_ref(), "half folded", 15.0);
        // Each unit (grain × dimension) folds in its own transaction with
        // its own mark: as after a fold that stopped between units, the
        // monthly trader rows, the yearly HS rows and the daily totals are
        // not folded yet while the rest is; reads stay exact, releases and
        // outcomes land in the right units and the next folds catch up.
        _backend
            .exec(
                "DELETE FROM facts WHERE (grain = 'month' AND dim = 'trader') OR (grain = 'year' AND dim = 'hs6')
                    OR (grain = 'day' AND dim = '');
                 UPDATE counters SET value = 0 WHERE name IN ('facts:month:trader', 'facts:year:hs6', 'facts:day:');",
            )
            .unwrap();
        check(store.as_ref(), "units at different marks", 15.0);
        commit_prepared(store.as_mut(), &decls[30..], &screened[30..], &[]).unwrap();
        let mut released = outcome("F5", 6, true);
        released.released_at = Some(chrono::DateTime::parse_from_rfc3339("2026-03-06T18:00:00+08:00").unwrap());
        store.commit_outcomes(&[outcome("F0", 2, false), released, outcome("F10", 12, true)]).unwrap();
        check(store.as_ref(), "outcomes", 20.0);
        assert_eq!(store.fold_facts(7).unwrap(), 7, "{b}: the units behind fold first");
        check(store.as_ref(), "the units behind folded part of the way", 20.0);
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
        store
            .commit_releases(&[
                riskgate_core::Release { declaration_id: "F0".into(), released_at: at("2026-03-01T23:00:00+08:00") },
                riskgate_core::Release { declaration_id: "F15".into(), released_at: at("2026-03-20T09:00:00+08:00") },
                // Folded into some units, not yet into those behind.
                riskgate_core::Release { declaration_id: "F10".into(), released_at: at("2026-03-11T21:00:00+08:00") },
            ])
            .unwrap();
        check(store.as_ref(), "releases", 20.0);
        store.commit_historical(&[decl_at("H1", "2201", 3, 9, "8517130000", "sea")]).unwrap();
        while store.fold_facts(7).unwrap() > 0 {}
        check(store.as_ref(), "folded", 20.0);
        store.commit_outcomes(&[outcome("F20", 21, false), outcome("F25", 25, true)]).unwrap();
        check(store.as_ref(), "outcomes after the fold", 20.0);
        assert!(store.fold_facts(i64::MAX).unwrap() > 0);
        assert_eq!(store.fold_facts(i64::MAX).unwrap(), 0, "{b}: caught up");
        check(store.as_ref(), "folded again", 20.0);
        // Moving an office to another district rebuilds the rollups.
        store
            .upsert_offices(&[
                Office::new("2300", Some("0000"), OfficeLevel::District),
                Office::new("2202", Some("2300"), OfficeLevel::Office),
            ])
            .unwrap();
        while store.fold_facts(1_000).unwrap() > 0 {}
        let under = |store: &dyn Store, unit: &str| {
            store
                .facts(&FactsQuery {
                    offices: Some(vec![unit.into()]),
                    ..FactsQuery::new(Grain::Month, i64::MIN, i64::MAX, "", By::Office)
                })
                .unwrap()
                .rows
                .first()
                .map_or(0.0, |r| r.1.declarations)
        };
        let s = store.as_ref();
        assert_eq!(
            (under(s, "^2200"), under(s, "^2300"), under(s, "^0000")),
            (26.0, 14.0, 40.0),
            "{b}: after the move"
        );
        // A first unit below an office gives the office rollup rows of its own.
        store.upsert_offices(&[Office::new("220101", Some("2201"), OfficeLevel::Office)]).unwrap();
        while store.fold_facts(1_000).unwrap() > 0 {}
        let s = store.as_ref();
        assert_eq!(
            (under(s, "^2201"), under(s, "2201")),
            (26.0, 26.0),
            "{b}: rollups of an office that gained a unit below"
        );
        let all = riskgate_app_free_sum(&store.office_counts(None, None).unwrap());
        assert_eq!((all.declarations, all.historical, all.carried_out), (40.0, 1.0, 5.0), "{b}");
        assert_eq!(all.completed_random, 2.0, "{b}: the random controls completed");
        assert!((all.random_value_cny - 2.0 * 1000.0 / 0.05).abs() < 1e-6, "{b}: weighted by 1 / probability");
        assert_eq!(all.same_day_sea + all.same_day_other, 32.0 + 3.0, "{b}: greens on the day, F0, F5 and F10 later");
    }
}

fn riskgate_app_free_sum(c: &[riskgate_store::OfficeCounts]) -> riskgate_store::Facts {
    let mut f = riskgate_store::Facts::default();
    for x in c {
        f.add(&x.facts, 1.0);
    }
    f
}

/// Money flow sums per trader over a period, on every backend: import
/// declarations by office, payments abroad (the part with a reference),
/// VAT invoices; an office scope keeps the traders that declared there and
/// only their payments; a trader narrows to one.
#[test]
fn money_flow_is_summed_per_trader_and_scoped_by_office() {
    let pay = |trader: &str, day: &str, amount: f64, reference: Option<&str>| {
        let mut v = serde_json::json!({"trader": trader, "paid_at": format!("2026-{day}T10:00:00+08:00"),
            "amount": amount, "currency": "CNY"});
        if let Some(r) = reference {
            v["reference"] = serde_json::json!(r);
        }
        riskgate_core::ForexPayment::from_json(&v).unwrap()
    };
    let invoice = |trader: &str, day: &str, amount: f64| {
        riskgate_core::TaxInvoice::from_json(&serde_json::json!({"trader": trader,
            "issued_at": format!("2026-{day}T10:00:00+08:00"), "amount_cny": amount}))
        .unwrap()
    };
    let march = (
        chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00+08:00").unwrap().timestamp(),
        chrono::DateTime::parse_from_rfc3339("2026-04-01T00:00:00+08:00").unwrap().timestamp(),
    );
    for (mut store, backend) in stores() {
        let name = if matches!(backend, Backend::Sqlite(_)) { "sqlite" } else { "postgres" };
        let mut other = decl("C", 5, "T2", 300.0);
        other.office = "5301".into();
        let mut a = decl("A", 2, "T1", 1000.0);
        a.documents = [("invoice", "INV-A"), ("contract", "K-1"), ("invoice", "INV-B")]
            .map(|(kind, id)| riskgate_core::Document { kind: kind.into(), id: id.into() })
            .into();
        let mut b = decl("B", 20, "T1", 500.0);
        b.currency = "JPY".into();
        b.documents = vec![riskgate_core::Document { kind: "invoice".into(), id: "INV-C".into() }; 2];
        let decls = [a, b, other, decl("L", 2, "T1", 9.0)];
        let mut april = decls[3].clone();
        april.declared_at = chrono::DateTime::parse_from_rfc3339("2026-04-02T09:00:00+08:00").unwrap();
        commit_in_lane(store.as_mut(), &[decls[0].clone(), decls[1].clone(), decls[2].clone(), april], Channel::Green);
        store
            .insert_forex(&[
                pay("T1", "03-03", 20_000.0, Some("INV-A")),
                pay("T1", "03-25", 5_000.0, None),
                pay("T1", "04-05", 99_999.0, None), // after the period
                pay("T3", "03-10", 70_000.0, None), // declared nothing
            ])
            .unwrap();
        store.insert_invoices(&[invoice("T1", "03-10", 40_000.0), invoice("T2", "02-27", 1.0)]).unwrap();
        let sum = |rows: &[riskgate_store::FlowSum]| -> Vec<String> {
            rows.iter()
                .map(|s| format!("{} {} {:.0} {:.0}", s.trader, s.count, s.amount_cny, s.with_reference_cny))
                .collect()
        };
        let (a, b, c) = (decls[0].total_value_cny(), decls[1].total_value_cny(), decls[2].total_value_cny());
        let all = store.money_flow(march.0, march.1, None, None).unwrap();
        assert_eq!(sum(&all.declared), [format!("T1 2 {:.0} 0", a + b), format!("T2 1 {c:.0} 0")], "{name}");
        assert_eq!(sum(&all.paid), ["T1 2 25000 20000", "T3 1 70000 0"], "{name}");
        assert_eq!(sum(&all.invoiced), ["T1 1 40000 0"], "{name}");
        let scoped = store.money_flow(march.0, march.1, Some(&["2201".to_string()]), None).unwrap();
        assert_eq!(sum(&scoped.declared), [format!("T1 2 {:.0} 0", a + b)], "{name}");
        assert_eq!(sum(&scoped.paid), ["T1 2 25000 20000"], "{name}");
        // A trader seen in the scope is reconciled whole: T2 declared at
        // 5301 only, so office 5301 sees it and 2201 does not; when T2
        // also declares at 2201, 2201 sees both of its declarations.
        let in_5301 = store.money_flow(march.0, march.1, Some(&["5301".to_string()]), None).unwrap();
        assert_eq!(sum(&in_5301.declared), [format!("T2 1 {c:.0} 0")], "{name}");
        commit_in_lane(store.as_mut(), &[decl("C2", 6, "T2", 100.0)], Channel::Green);
        let c2 = decl("C2", 6, "T2", 100.0).total_value_cny();
        let both = store.money_flow(march.0, march.1, Some(&["2201".to_string()]), None).unwrap();
        assert_eq!(
            sum(&both.declared),
            [format!("T1 2 {:.0} 0", a + b), format!("T2 2 {:.0} 0", c + c2)],
            "{name}: a multi-port trader's imports everywhere"
        );
        let one = store.money_flow(march.0, march.1, None, Some("T2")).unwrap();
        assert_eq!((sum(&one.declared).len(), one.paid.len(), one.invoiced.len()), (1, 0, 0));
        // Re-matching by reference: the imports that list an invoice, of
        // traders with a referenced payment, with their decision time and
        // invoice numbers (each line read once, each number as often as
        // listed), and the referenced payments.
        fn sorted(v: &[String]) -> Vec<String> {
            let mut v = v.to_vec();
            v.sort();
            v
        }
        let (imports, payments) = store.referenced_imports(march.0, march.1, march.0).unwrap();
        let got: Vec<(String, bool, Vec<String>)> =
            imports.iter().map(|i| (i.import.id.clone(), i.decided_at.is_some(), sorted(&i.invoices))).collect();
        let invs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [("A".to_string(), true, invs(&["INV-A", "INV-B"])), ("B".to_string(), true, invs(&["INV-C", "INV-C"]))],
            "{name}"
        );
        // Read by columns, they give what the declarations give, exactly.
        for (i, d) in imports.iter().zip(&decls) {
            let i = &i.import;
            assert_eq!(
                (i.trader.as_str(), i.office.as_str(), i.declared_at()),
                (d.trader.id.as_str(), d.office.as_str(), d.declared_at)
            );
            assert_eq!(
                (i.rate, i.total_value_cny(), i.duty_rate()),
                (d.rate(), d.total_value_cny(), d.duty_rate()),
                "{name}"
            );
            let lines: Vec<(&str, f64, f64)> =
                i.lines.iter().map(|l| (l.hs_code.as_str(), l.value, l.duty_rate)).collect();
            let items: Vec<(&str, f64, f64)> =
                d.items.iter().map(|l| (l.hs_code.as_str(), l.value, l.duty_rate)).collect();
            assert_eq!(lines, items, "{name}");
        }
        let refs: Vec<(String, String, f64)> =
            payments.iter().map(|p| (p.trader.clone(), p.reference.clone(), p.amount_cny)).collect();
        assert_eq!(refs, [("T1".to_string(), "INV-A".to_string(), 20_000.0)], "{name}");
        let (_, later) = store.referenced_imports(march.0, march.1, march.1).unwrap();
        assert!(later.is_empty(), "{name}: payments before paid_from are left out");
        // Invoices issued in a range, oldest first, with the imports of
        // their traders declared in another: T1 invoiced in March (A, B in
        // March; L in April is outside the declarations' range), T2 only
        // in February.
        let (imports, invoices) = store.invoiced_imports(march.0, march.1, march.0, march.1).unwrap();
        let got: Vec<(&str, f64, usize)> = imports.iter().map(|i| (i.id.as_str(), i.rate, i.lines.len())).collect();
        assert_eq!(got, [("A", 7.10, 2), ("B", 0.048, 2)], "{name}");
        let inv: Vec<(String, f64)> = invoices.iter().map(|i| (i.trader.clone(), i.amount_cny)).collect();
        assert_eq!(inv, [("T1".to_string(), 40_000.0)], "{name}");
        let feb = march.0 - 28 * 86_400;
        let (imports, invoices) = store.invoiced_imports(feb, march.1, march.0, march.1 + 30 * 86_400).unwrap();
        let ids: Vec<&str> = imports.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["A", "B", "C", "L", "C2"], "{name}: both traders, April included");
        let inv: Vec<&str> = invoices.iter().map(|i| i.trader.as_str()).collect();
        assert_eq!(inv, ["T2", "T1"], "{name}: oldest first");
    }
}

/// Committees (migration 17): one per unit; items change only over the
/// version they were read at; one vote per member and item; every change
/// logged with it in one transaction; the item query filters and returns
/// the votes.
#[test]
fn committees_items_and_votes() {
    use riskgate_store::{Committee, CommitteeItem, ItemQuery, Vote};
    for (mut store, backend) in stores() {
        let s = store.as_mut();
        let c = Committee {
            id: 0,
            level: "hq".into(),
            unit: "0000".into(),
            name: "总署风险管理委员会".into(),
            quorum: 2,
            members: vec!["a".into(), "b".into(), "c".into()],
            created_by: "admin".into(),
            created_at: 100,
        };
        let id = s.insert_committee(&c, &action(1)).unwrap();
        let dup = s.insert_committee(&Committee { name: "again".into(), ..c.clone() }, &action(2)).unwrap_err();
        assert!(dup.to_string().contains("has a committee already"), "{dup}");
        let d =
            s.insert_committee(&Committee { level: "district".into(), unit: "2200".into(), ..c.clone() }, &action(3));
        let district = d.unwrap();
        assert_eq!(
            s.committees().unwrap(),
            vec![
                Committee { id, ..c.clone() },
                Committee { id: district, level: "district".into(), unit: "2200".into(), ..c.clone() }
            ]
        );
        let item = CommitteeItem {
            id: 0,
            committee: id,
            version: 1,
            status: "pending".into(),
            kind: "setting".into(),
            subject: "target.default".into(),
            change: serde_json::json!({"kind": "setting", "key": "target.default", "value": "0.05"}),
            summary: "set target.default".into(),
            before: None,
            after: Some(serde_json::json!({"value": "0.05"})),
            proposed_by: "p".into(),
            proposed_at: 200,
            votes: Vec::new(),
            decided_at: None,
            decision: None,
        };
        let item_id = s.insert_committee_item(&item, &action(4)).unwrap();
        let other =
            s.insert_committee_item(&CommitteeItem { committee: district, ..item.clone() }, &action(5)).unwrap();
        let vote =
            |voter: &str, at: i64| Vote { voter: voter.into(), at, approve: true, comment: Some("同意".into()) };
        let mut v2 = CommitteeItem { id: item_id, version: 2, ..item.clone() };
        s.update_committee_item(&v2, Some(&vote("a", 300)), &[action(6)]).unwrap();
        // Made from version 1 again (another process read it before): refused, nothing stored.
        let stale = s.update_committee_item(&v2, Some(&vote("b", 301)), &[action(7)]).unwrap_err();
        assert!(stale.to_string().contains("changed by someone else"), "{stale}");
        // A second vote by the same member: refused with everything else of that update.
        let mut v3 = CommitteeItem { version: 3, ..v2.clone() };
        let twice = s.update_committee_item(&v3, Some(&vote("a", 302)), &[action(8)]).unwrap_err();
        assert!(twice.to_string().contains("voted on committee item"), "{twice}");
        v3.status = "approved".into();
        v3.decided_at = Some(400);
        v3.decision = Some("approved".into());
        s.update_committee_item(&v3, Some(&vote("b", 400)), &[action(9), action(10)]).unwrap();
        let read = s.committee_items(&ItemQuery { id: Some(item_id), ..Default::default() }).unwrap();
        v2 = CommitteeItem { votes: vec![vote("a", 300), vote("b", 400)], ..v3.clone() };
        assert_eq!(read, vec![v2.clone()], "{}", backend_name(&backend));
        let q = |q: ItemQuery| s.committee_items(&q).unwrap().iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(q(ItemQuery::default()), vec![other, item_id], "newest first");
        assert_eq!(q(ItemQuery { committee: Some(district), ..Default::default() }), vec![other]);
        assert_eq!(q(ItemQuery { status: Some("pending".into()), ..Default::default() }), vec![other]);
        assert_eq!(
            q(ItemQuery { decided_from: Some(400), decided_to: Some(401), ..Default::default() }),
            vec![item_id]
        );
        assert_eq!(q(ItemQuery { decided_from: Some(401), ..Default::default() }), Vec::<i64>::new());
        // Logged: the creations, the proposals, and the successful updates' entries only.
        let logged: Vec<String> = s.actions(100).unwrap().into_iter().map(|l| l.action.target).rev().collect();
        let expect = [
            format!("committee:{id}"),
            format!("committee:{district}"),
            format!("committee_item:{item_id}"),
            format!("committee_item:{other}"),
            format!("committee_item:{item_id}"),
            format!("committee_item:{item_id}"),
            format!("committee_item:{item_id}"),
        ];
        assert_eq!(logged, expect, "{}", backend_name(&backend));
        assert_eq!(s.verify_actions().unwrap(), None);
        assert_eq!(backend.query_i64("SELECT COUNT(*) FROM committee_votes"), 2);
    }
}

fn backend_name(b: &Backend) -> &'static str {
    match b {
        Backend::Sqlite(_) => "sqlite",
        Backend::Postgres { .. } => "postgres",
    }
}
