//! Risk committees (M10) through both transports: with an HQ committee of
//! quorum 2, a model activation and a target-rate change are refused —
//! held as pending committee items, nothing changed — until two members
//! other than the proposer approve them, through the CLI and through the
//! HTTP API alike; the proposer's own vote is refused (four eyes).

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use riskgate_store::{SqliteStore, Store};
use serde_json::{Value, json};

const OFFICES: &str = r#"{"code":"0000","name":"海关总署","level":"hq"}
{"code":"2200","name":"上海海关","parent":"0000","level":"district"}
{"code":"2201","name":"浦东海关","parent":"2200","level":"office"}
"#;
const PASSWORD: &str = "correct horse battery";

/// A command logged in as the account `user`, or as the local operator
/// (`setup`, or a `local:` name claimed without a password).
fn run(dir: &Path, user: &str, args: &[&str]) -> std::process::Output {
    let mut c = crate::support::bin();
    c.arg("--data").arg(dir);
    match user.strip_prefix("local:") {
        Some(claimed) => drop(c.args(["--user", claimed])),
        None if user == "setup" => drop(c.args(["--user", user])),
        None => crate::support::as_account(&mut c, user),
    }
    c.args(args).env("RISKGATE_PASSWORD", PASSWORD).env_remove("RISKGATE_NATS_URL").output().unwrap()
}

/// A national rule written by `w` (not a member).
const RULE: &str =
    "id = \"R-N\"\ntitle = \"phones\"\nchannel = \"red\"\nwhen = \"any(item: item.hs4 == \\\"8517\\\")\"\n";

fn cli(dir: &Path, user: &str, args: &[&str]) -> String {
    let out = run(dir, user, args);
    assert!(out.status.success(), "riskgate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A store with the offices, the committee's members (`p` proposes; `a`,
/// `b` vote), an administrator and a loadable candidate model `m1`.
fn setup(tmp: &Path, name: &str) -> PathBuf {
    let data = tmp.join(name);
    let offices = tmp.join("offices.jsonl");
    std::fs::write(&offices, OFFICES).unwrap();
    cli(&data, "setup", &["import", "offices", offices.to_str().unwrap()]);
    for (user, role) in
        [("p", "risk_analyst"), ("a", "risk_analyst"), ("b", "hq_manager"), ("admin", "admin"), ("w", "risk_analyst")]
    {
        cli(&data, "setup", &["users", "add", user, "--role", role, "--office", "0000"]);
    }
    let names = riskgate_app::model::TrainOptions::default().names();
    let mut rows = riskgate_model::Dataset::new(names.clone());
    let mut y = Vec::new();
    for i in 0..60 {
        let mut row = vec![0.0; names.len()];
        row[0] = f64::from(i);
        rows.push(&row);
        y.push(if i >= 30 { 1.0 } else { 0.0 });
    }
    let params = riskgate_model::TrainParams { iterations: 3, min_leaf_weight: 1.0, ..Default::default() };
    let w = vec![1.0; y.len()];
    let m =
        riskgate_model::Model::train(riskgate_model::Objective::Classification, &rows, &y, &w, None, &params).unwrap();
    let scorer = riskgate_engine::model_scorer::ModelScorer::new("m1".into(), m, None).unwrap();
    let rec = riskgate_store::ModelRecord {
        id: "m1".into(),
        created_at: 0,
        created_by: "p".into(),
        status: "candidate".into(),
        metrics: json!({}),
        bytes: scorer.to_bytes(),
    };
    let mut store = SqliteStore::open(&data).unwrap();
    store.insert_model(&rec, &riskgate_app::app::new_action("p", None, "model_train", "m1")).unwrap();
    data
}

/// (model m1's status, setting target.default, rule R-N's status)
fn effect(data: &Path) -> (String, Option<String>, String) {
    let store = SqliteStore::open(data).unwrap();
    let rule = store.rules().unwrap().into_iter().find(|r| r.def.id == "R-N").map(|r| r.status.as_str().to_string());
    (store.model("m1").unwrap().unwrap().status, store.setting("target.default").unwrap(), rule.unwrap_or_default())
}

#[test]
fn model_activation_and_target_rate_wait_for_the_quorum_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = setup(tmp.path(), "cli");
    let created = cli(
        &data,
        "admin",
        &[
            "committee",
            "create",
            "--level",
            "hq",
            "--unit",
            "0000",
            "--name",
            "总署风险管理委员会",
            "--quorum",
            "2",
            "--members",
            "p,a,b",
        ],
    );
    assert!(created.contains("committee 1 created"), "{created}");
    let activation = cli(&data, "p", &["model", "activate", "m1"]);
    assert!(activation.starts_with("pending: committee item 1 "), "{activation}");
    let target = cli(&data, "p", &["config", "set", "target.default", "0.05"]);
    assert!(target.starts_with("pending: committee item 2 "), "{target}");
    let rule = data.with_extension("rule.toml");
    std::fs::write(&rule, RULE).unwrap();
    cli(&data, "w", &["rules", "add", rule.to_str().unwrap()]);
    let approval = cli(&data, "p", &["rules", "approve", "R-N"]);
    assert!(approval.starts_with("pending: committee item 3 "), "{approval}");
    assert_eq!(effect(&data), ("candidate".into(), None, "draft".into()), "refused without the quorum");
    // Without credentials a member's name is only claimed: no vote, no proposal.
    for args in
        [&["committee", "vote", "1", "--approve"][..], &["model", "activate", "m1"], &["rules", "approve", "R-N"]]
    {
        let claimed = run(&data, "local:a", args);
        assert_eq!(claimed.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&claimed.stderr).contains("needs an authenticated user"), "{args:?}");
    }
    // The proposer's own vote is refused (exit 2, four eyes).
    let own = run(&data, "p", &["committee", "vote", "1", "--approve"]);
    assert_eq!(own.status.code(), Some(2), "{}", String::from_utf8_lossy(&own.stderr));
    assert!(String::from_utf8_lossy(&own.stderr).contains("four-eyes"));
    for item in ["1", "2", "3"] {
        let first = cli(&data, "a", &["committee", "vote", item, "--approve", "--comment", "评估充分"]);
        assert!(first.contains("\tpending\t"), "{first}");
    }
    assert_eq!(effect(&data), ("candidate".into(), None, "draft".into()), "one approval of two");
    for item in ["1", "2", "3"] {
        let second = cli(&data, "b", &["committee", "vote", item, "--approve"]);
        assert!(second.contains("\tapproved\t"), "{second}");
    }
    assert_eq!(effect(&data), ("active".into(), Some("0.05".into()), "active".into()), "the quorum reached");
    let pending = cli(&data, "p", &["committee", "items", "--status", "pending"]);
    assert_eq!(pending, "", "nothing left pending");
    let minutes: Value =
        serde_json::from_str(&cli(&data, "b", &["committee", "minutes", "1", "--format", "json"])).unwrap();
    let decided: Vec<&str> =
        minutes["decisions"].as_array().unwrap().iter().map(|i| i["subject"].as_str().unwrap()).collect();
    assert_eq!(decided, ["m1", "target.default", "R-N@1"]);
    assert!(minutes["text"].as_str().unwrap().contains("a approve"), "{minutes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_activation_and_target_rate_wait_for_the_quorum_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let data = setup(tmp.path(), "http");
    let (state, writer) =
        riskgate_server::start(&riskgate_app::StoreAt::Sqlite(data.clone()), riskgate_app::events::Emitter::default())
            .unwrap();
    let router = riskgate_server::router(state);
    let call = |method: &'static str, uri: String, auth: String, body: Option<Value>| {
        let router = router.clone();
        async move {
            let a = riskgate_server::testing::call(&router, method, &uri, &auth, body).await;
            (a.status, a.body, a.cookie)
        }
    };
    let mut cookie = std::collections::BTreeMap::new();
    for user in ["p", "a", "b", "admin", "w"] {
        let body = json!({"username": user, "password": PASSWORD});
        let (status, body, c) = call("POST", "/api/v1/session".into(), "none".into(), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        cookie.insert(user, c.unwrap());
    }
    let committee =
        json!({"level": "hq", "unit": "0000", "name": "总署风险管理委员会", "quorum": 2, "members": ["p", "a", "b"]});
    let (status, body, _) =
        call("POST", "/api/v1/committees".into(), cookie["p"].clone(), Some(committee.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "administrators only: {body}");
    let (status, body, _) = call("POST", "/api/v1/committees".into(), cookie["admin"].clone(), Some(committee)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body, _) =
        call("POST", "/api/v1/models/m1/status".into(), cookie["p"].clone(), Some(json!({"status": "active"}))).await;
    assert_eq!((status, body["item"]["status"].clone()), (StatusCode::ACCEPTED, json!("pending")), "{body}");
    let activation = body["item"]["id"].as_i64().unwrap();
    let setting = json!({"key": "target.default", "value": "0.05"});
    let (status, body, _) = call("POST", "/api/v1/settings".into(), cookie["p"].clone(), Some(setting)).await;
    assert_eq!((status, body["item"]["kind"].clone()), (StatusCode::ACCEPTED, json!("setting")), "{body}");
    let target = body["item"]["id"].as_i64().unwrap();
    let bad = json!({"key": "target.default", "value": "2"});
    let (status, body, _) = call("POST", "/api/v1/settings".into(), cookie["p"].clone(), Some(bad)).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("value")), "{body}");

    let rule = json!({"id": "R-N", "title": "phones", "channel": "red", "when": "any(item: item.hs4 == \"8517\")"});
    let (status, body, _) = call("POST", "/api/v1/rules".into(), cookie["w"].clone(), Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body, _) = call("POST", "/api/v1/rules/R-N/approve".into(), cookie["p"].clone(), None).await;
    assert_eq!((status, body["item"]["kind"].clone()), (StatusCode::ACCEPTED, json!("rule_approve")), "{body}");
    let national = body["item"]["id"].as_i64().unwrap();

    let vote = |item: i64, who: &'static str| {
        let (auth, uri) = (cookie[who].clone(), format!("/api/v1/committees/items/{item}/vote"));
        call("POST", uri, auth, Some(json!({"approve": true, "comment": "同意"})))
    };
    let (status, body, _) = vote(activation, "p").await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("four_eyes")), "{body}");
    for item in [activation, target, national] {
        let (status, body, _) = vote(item, "a").await;
        assert_eq!((status, body["item"]["status"].clone()), (StatusCode::OK, json!("pending")), "{body}");
    }
    let (_, models, _) = call("GET", "/api/v1/models/m1".into(), cookie["p"].clone(), None).await;
    assert_eq!(models["model"]["status"], "candidate", "refused without the quorum");
    let (_, items, _) = call("GET", "/api/v1/committees/items?status=pending".into(), cookie["b"].clone(), None).await;
    assert_eq!(items["items"].as_array().unwrap().len(), 3, "{items}");
    let (_, r, _) = call("GET", "/api/v1/rules/R-N".into(), cookie["p"].clone(), None).await;
    assert_eq!(r["status"], "draft", "refused without the quorum: {r}");
    for item in [activation, target, national] {
        let (status, body, _) = vote(item, "b").await;
        assert_eq!((status, body["item"]["status"].clone()), (StatusCode::OK, json!("approved")), "{body}");
    }
    let (_, models, _) = call("GET", "/api/v1/models/m1".into(), cookie["p"].clone(), None).await;
    assert_eq!(models["model"]["status"], "active", "the quorum reached");
    drop(router);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(store.setting("target.default").unwrap().as_deref(), Some("0.05"));
    let logged: Vec<String> = store.actions(100).unwrap().into_iter().map(|l| l.action.action).collect();
    for kind in
        ["committee_create", "committee_propose", "committee_vote", "committee_decide", "model_active", "setting"]
    {
        assert!(logged.iter().any(|a| a == kind), "{kind} logged: {logged:?}");
    }
}
