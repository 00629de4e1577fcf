//! The CLI and the HTTP API are transports over the same use cases: the
//! same actions driven through `riskgate …` on one store and through the
//! HTTP router (in process) on another leave the same decisions, the same
//! action-log entry kinds and the same events (as webhook deliveries in
//! the outbox, by kind and event id).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use riskgate_server::testing::declaration;
use riskgate_store::{SqliteStore, Store};
use serde_json::{Value, json};

const OFFICES: &str = r#"{"code":"0000","name":"海关总署","level":"hq"}
{"code":"2200","name":"上海海关","parent":"0000","level":"district"}
{"code":"2201","name":"浦东海关","parent":"2200","level":"office"}
"#;
const OFFICERS: &str = r#"{"id":"E1","name":"王","office":"2201","post":"inspection"}
"#;
const PASSWORD: &str = "correct horse battery";

fn rule() -> Value {
    json!({"id": "R-BIG", "title": "大额 / big", "weight": 0.9, "channel": "red",
           "when": "total_value_cny > 500000", "instructions": "开箱 / open"})
}

fn outcome() -> Value {
    json!({"declaration_id": "D2", "officer": "E1", "control": "physical",
           "completed_at": "2026-03-01T12:00:00+08:00", "result": "finding",
           "findings": ["undervaluation"], "additional_duty": 1000.0})
}

fn release() -> Value {
    json!({"declaration_id": "D1", "released_at": "2026-03-01T10:00:00+08:00"})
}

/// A command as `user`: the local administrator `admin` sets up, the
/// accounts log in (`PASSWORD` is also the password of the accounts added).
fn cli(dir: &Path, user: &str, args: &[&str]) -> String {
    let mut c = crate::support::bin();
    c.arg("--data").arg(dir);
    if user == "admin" {
        c.args(["--user", user]);
    } else {
        crate::support::as_account(&mut c, user);
    }
    let out = c.args(args).env("RISKGATE_PASSWORD", PASSWORD).env_remove("RISKGATE_NATS_URL").output().unwrap();
    assert!(out.status.success(), "riskgate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The same reference data, accounts and webhooks in a fresh store.
fn setup(tmp: &Path, name: &str) -> PathBuf {
    let data = tmp.join(name);
    cli(&data, "admin", &["import", "offices", &write(tmp, "offices.jsonl", OFFICES)]);
    cli(&data, "admin", &["import", "officers", &write(tmp, "officers.jsonl", OFFICERS)]);
    for (user, role, office) in [
        ("machine", "machine", None),
        ("ana", "risk_analyst", None),
        ("ana2", "risk_analyst", None),
        ("E1", "field_officer", Some("2201")),
    ] {
        let mut args = vec!["users", "add", user, "--role", role];
        if let Some(o) = office {
            args.extend(["--office", o]);
        }
        cli(&data, "admin", &args);
    }
    for kind in ["decision", "control_task", "finding", "rule_change"] {
        cli(
            &data,
            "admin",
            &["webhooks", "add", "--kind", kind, "--url", "http://127.0.0.1:9/h", "--department", "audit"],
        );
    }
    data
}

/// What the comparison looks at: decisions (lane, risk value, source),
/// action-log entry kinds after setup, webhook deliveries.
#[derive(Debug, PartialEq)]
struct State {
    decisions: BTreeMap<String, (String, String, String)>,
    actions: Vec<String>,
    deliveries: Vec<(String, String)>,
}

fn state(data: &Path, setup_actions: usize) -> State {
    let store = SqliteStore::open(data).unwrap();
    let mut decisions = BTreeMap::new();
    for id in ["D1", "D2", "D3"] {
        let d = store.declaration(id).unwrap().unwrap().decision.unwrap();
        decisions.insert(
            id.to_string(),
            (d.channel.as_str().to_string(), format!("{:.6}", d.risk_value), format!("{:?}", d.source)),
        );
    }
    let mut log = store.actions(10_000).unwrap();
    log.sort_by_key(|a| a.seq);
    let mut actions: Vec<String> =
        log.into_iter().skip(setup_actions).map(|a| a.action.action).filter(|a| a != "login").collect();
    actions.sort();
    let mut deliveries: Vec<(String, String)> =
        store.deliveries(None, 10_000).unwrap().into_iter().map(|d| (d.kind, d.event_id)).collect();
    deliveries.sort();
    State { decisions, actions, deliveries }
}

fn setup_actions(data: &Path) -> usize {
    SqliteStore::open(data).unwrap().actions(10_000).unwrap().len()
}

struct Http {
    router: axum::Router,
}

impl Http {
    async fn call(&self, method: &str, uri: &str, auth: &str, body: Option<Value>) -> (StatusCode, Value) {
        let a = riskgate_server::testing::call(&self.router, method, uri, auth, body).await;
        let mut v = a.body;
        if let Some(c) = a.cookie {
            v["cookie"] = json!(c);
        }
        (a.status, v)
    }

    async fn ok(&self, method: &str, uri: &str, auth: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, uri, auth, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {v}");
        v
    }

    async fn login(&self, user: &str) -> String {
        let v = self.ok("POST", "/api/v1/session", "none", Some(json!({"username": user, "password": PASSWORD}))).await;
        v["cookie"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_http_api_leave_the_same_state_log_and_events() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // Through the CLI.
    let a = setup(t, "cli");
    let a_setup = setup_actions(&a);
    cli(&a, "ana", &["rules", "add", &write(t, "r.toml", &rule_toml())]);
    cli(&a, "ana2", &["rules", "approve", "R-BIG"]);
    let decls: Vec<String> = [declaration("D1", 1000.0), declaration("D2", 900_000.0), declaration("D3", 800_000.0)]
        .iter()
        .map(Value::to_string)
        .collect();
    cli(&a, "machine", &["import", "declarations", &write(t, "d.jsonl", &(decls.join("\n") + "\n"))]);
    cli(
        &a,
        "E1",
        &["tasks", "override", "D3", "--lane", "green", "--officer", "E1", "--reason", "查验改为放行 / release"],
    );
    cli(&a, "machine", &["import", "outcomes", &write(t, "o.jsonl", &format!("{}\n", outcome()))]);
    cli(&a, "machine", &["import", "releases", &write(t, "rel.jsonl", &format!("{}\n", release()))]);
    cli(&a, "ana", &["rules", "retire", "R-BIG", "--reason", "superseded"]);

    // Through HTTP.
    let b = setup(t, "http");
    let b_setup = setup_actions(&b);
    let token = format!(
        "Bearer {}",
        cli(
            &b,
            "admin",
            &[
                "tokens",
                "issue",
                "--user",
                "machine",
                "--name",
                "t",
                "--scope",
                "declarations:write,imports:write,read"
            ]
        )
        .trim()
    );
    let b_setup = b_setup + 1; // the token's issue
    let (state_b, writer) =
        riskgate_server::start(&riskgate_app::StoreAt::Sqlite(b.clone()), riskgate_app::events::Emitter::default())
            .unwrap();
    let h = Http { router: riskgate_server::router(state_b) };
    let (ana, ana2, e1) = (h.login("ana").await, h.login("ana2").await, h.login("E1").await);
    h.ok("POST", "/api/v1/rules", &ana, Some(rule())).await;
    h.ok("POST", "/api/v1/rules/R-BIG/approve", &ana2, None).await;
    let arr = json!([declaration("D1", 1000.0), declaration("D2", 900_000.0), declaration("D3", 800_000.0)]);
    h.ok("POST", "/api/v1/declarations", &token, Some(arr)).await;
    h.ok(
        "POST",
        "/api/v1/declarations/D3/override",
        &e1,
        Some(json!({"channel": "green", "reason": "查验改为放行 / release"})),
    )
    .await;
    h.ok("POST", "/api/v1/outcomes", &token, Some(outcome())).await;
    h.ok("POST", "/api/v1/releases", &token, Some(release())).await;
    h.ok("POST", "/api/v1/rules/R-BIG/retire", &ana, Some(json!({"reason": "superseded"}))).await;
    drop(h);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;

    let (sa, sb) = (state(&a, a_setup), state(&b, b_setup));
    assert_eq!(sa.decisions["D2"].0, "red", "the approved rule decided D2: {:?}", sa.decisions);
    assert!(sa.deliveries.iter().any(|(k, _)| k == "finding"), "{:?}", sa.deliveries);
    let expected = ["override", "record_outcomes", "record_releases", "rule_add", "rule_approve", "rule_retire"];
    assert_eq!(sa.actions, expected, "the actions of the scenario are all logged");
    assert_eq!(sa, sb, "CLI (left) and HTTP (right) differ");
}

fn rule_toml() -> String {
    let r = rule();
    format!(
        "id = {:?}\ntitle = {:?}\nweight = 0.9\nchannel = \"red\"\nwhen = {:?}\ninstructions = {:?}\n",
        r["id"].as_str().unwrap(),
        r["title"].as_str().unwrap(),
        r["when"].as_str().unwrap(),
        r["instructions"].as_str().unwrap()
    )
}

/// `riskgate model drift --format json` and `GET /api/v1/models/drift`
/// answer the same report on the same store (one with a known drift: the
/// week 2026-W13 and office 2202 find 3× what the model expected), for the
/// whole tree and for an office's subtree; a bad period is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_http_api_report_the_same_model_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let trained = chrono::DateTime::parse_from_rfc3339("2026-03-16T00:00:00+08:00").unwrap().timestamp();
    riskgate_app::drift::example_store(&mut SqliteStore::open(&data).unwrap(), trained).unwrap();
    let offices = format!("{OFFICES}{}\n", r#"{"code":"2202","name":"外高桥海关","parent":"2200","level":"office"}"#);
    cli(&data, "admin", &["import", "offices", &write(tmp.path(), "offices.jsonl", &offices)]);
    let at = riskgate_app::StoreAt::Sqlite(data.clone());
    drop(crate::support::add_account(&at, "admin", "ana", PASSWORD, "risk_analyst"));

    let period = ["--from", "2026-03-01", "--to", "2026-03-31"];
    let whole: Value =
        serde_json::from_str(&cli(&data, "ana", &[&["model", "drift", "--format", "json"], &period[..]].concat()))
            .unwrap();
    let flags: Vec<(&str, &str)> = whole["verdict"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["group"].as_str().unwrap(), f["key"].as_str().unwrap()))
        .collect();
    assert_eq!(flags, [("week", "2026-W13"), ("office", "2202"), ("since_training", "gbdt-drift")], "{whole:#}");
    assert_eq!(whole["by_office"][1]["label"], "外高桥海关");
    let office = serde_json::from_str::<Value>(&cli(
        &data,
        "ana",
        &[&["model", "drift", "--format", "json", "--office", "2201"], &period[..]].concat(),
    ))
    .unwrap();
    assert_eq!(office["verdict"]["drift"], false, "{office:#}");
    let table = cli(&data, "ana", &[&["model", "drift"], &period[..]].concat());
    assert!(table.contains("DRIFT since the active model was trained") && table.contains("2026-W13"), "{table}");

    let (state, writer) = riskgate_server::start(&at, riskgate_app::events::Emitter::default()).unwrap();
    let h = Http { router: riskgate_server::router(state) };
    let ana = h.login("ana").await;
    let api = h.ok("GET", "/api/v1/models/drift?from=2026-03-01&to=2026-03-31", &ana, None).await;
    assert_eq!(api, whole, "CLI (right) and HTTP (left) differ");
    let api = h.ok("GET", "/api/v1/models/drift?from=2026-03-01&to=2026-03-31&office=2201", &ana, None).await;
    assert_eq!(api, office, "an office's subtree: CLI (right) and HTTP (left) differ");
    for bad in ["from=March", "from=2026-03-10&to=2026-03-01", "office=9999"] {
        let (status, v) = h.call("GET", &format!("/api/v1/models/drift?{bad}"), &ana, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    drop(h);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}
