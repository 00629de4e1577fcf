//! The router in process (`tower::ServiceExt::oneshot`, no socket, no
//! child process): screening answers and the events and webhook deliveries
//! it causes, rule approvals and outcomes emitting like the CLI, typed
//! refusals with their status and field, workforce KPIs in `/kpis`, and
//! every route of the router in the OpenAPI document.

use std::sync::Arc;

use axum::http::StatusCode;
use riskgate_app::events::{Emitter, Recorder};
use riskgate_app::{App, StoreAt, accounts, imports, webhooks};
use riskgate_core::{Office, Officer};
use riskgate_server::testing::declaration;
use serde_json::{Value, json};

struct Fixture {
    router: axum::Router,
    events: Arc<Recorder>,
    at: StoreAt,
    machine: String,
    analyst: String,
    analyst2: String,
    officer: String,
    /// A department user of anti-smuggling (缉私), and one of tariff.
    smuggling: String,
    tariff: String,
    /// A district manager of 2200.
    manager: String,
    supervisor: String,
    state: riskgate_server::state::AppState,
    _writer: std::thread::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn office(v: Value) -> Office {
    Office::from_json(&v).unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let at = StoreAt::Sqlite(dir.path().to_path_buf());
    let mut app = App::open_at(&at, "setup").unwrap();
    let offices = vec![
        office(json!({"code":"0000","name":"海关总署","level":"hq"})),
        office(json!({"code":"2200","name":"上海海关","parent":"0000","level":"district"})),
        office(json!({"code":"2201","name":"浦东海关","parent":"2200","level":"office"})),
    ];
    imports::commit_offices(&mut app, &offices, "test").unwrap();
    let officer = Officer::from_json(&json!({"id":"E1","name":"王","office":"2201","post":"inspection"})).unwrap();
    imports::commit_officers(&mut app, &[officer], "test").unwrap();
    let mut tokens = Vec::new();
    for (name, role, office, department) in [
        ("machine", "machine", None, None),
        ("ana", "risk_analyst", None, None),
        ("ana2", "risk_analyst", None, None),
        ("E1", "field_officer", Some("2201"), None),
        ("smug", "department_user", None, Some("anti_smuggling")),
        ("tar", "department_user", None, Some("tariff")),
        ("dm", "district_manager", Some("2200"), None),
        ("sup", "integrity_supervisor", None, None),
    ] {
        let n = accounts::NewUser {
            username: name,
            password: "correct horse",
            role,
            office: office.map(str::to_string),
            department: department.map(str::to_string),
            ..Default::default()
        };
        accounts::add_user(app.store.as_mut(), "setup", n).unwrap();
        let scopes = if role == "machine" {
            vec!["declarations:write".into(), "imports:write".into(), "read".into()]
        } else {
            vec!["read".into()]
        };
        // Machines use tokens; people log in (a token may not change rules).
        tokens.push(if role == "machine" {
            format!("Bearer {}", accounts::issue_token(&mut app, name, "t", scopes).unwrap().1)
        } else {
            name.to_string()
        });
    }
    for kind in riskgate_app::events::WEBHOOK_KINDS {
        webhooks::add(&mut app, kind, "http://127.0.0.1:9/hook", "audit").unwrap();
    }
    drop(app);
    let events = Arc::new(Recorder::default());
    let (state, writer) = riskgate_server::start(&at, Emitter::new("t", events.clone())).unwrap();
    let router = riskgate_server::router(state.clone());
    let rt = tokio::runtime::Handle::current();
    for t in tokens.iter_mut().filter(|t| !t.starts_with("Bearer ")) {
        let login = json!({"username": t.as_str(), "password": "correct horse"});
        let a = tokio::task::block_in_place(|| {
            rt.block_on(riskgate_server::testing::call(&router, "POST", "/api/v1/session", "none", Some(login)))
        });
        assert_eq!(a.status, StatusCode::OK, "login of {t}");
        *t = a.cookie.expect("a session cookie");
    }
    Fixture {
        router,
        events,
        at,
        machine: tokens[0].clone(),
        analyst: tokens[1].clone(),
        analyst2: tokens[2].clone(),
        officer: tokens[3].clone(),
        smuggling: tokens[4].clone(),
        tariff: tokens[5].clone(),
        manager: tokens[6].clone(),
        supervisor: tokens[7].clone(),
        state,
        _writer: writer,
        _dir: dir,
    }
}

impl Fixture {
    async fn call(&self, method: &str, uri: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let a = riskgate_server::testing::call(&self.router, method, uri, token, body).await;
        (a.status, a.body)
    }

    /// (kind, event id) of every webhook delivery enqueued so far, sorted.
    fn deliveries(&self) -> Vec<(String, String)> {
        let store = self.at.open_store().unwrap();
        let mut v: Vec<(String, String)> =
            store.deliveries(None, 10_000).unwrap().into_iter().map(|d| (d.kind, d.event_id)).collect();
        v.sort();
        v
    }

    fn action_kinds(&self) -> Vec<String> {
        let store = self.at.open_store().unwrap();
        store.actions(10_000).unwrap().into_iter().map(|a| a.action.action).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screening_through_the_router_emits_decision_events_and_webhooks() {
    let f = fixture();
    let (status, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("D1", 1000.0))).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["declaration_id"], "D1");
    let channel = d["channel"].as_str().unwrap().to_string();
    let ev = f.events.take();
    let decision = ev.iter().find(|e| e.kind == "decision").expect("a decision event");
    assert_eq!(decision.id, "decision:D1");
    assert_eq!(decision.subject, format!("t.decision.{channel}.2201"));
    let payload: Value = serde_json::from_str(&decision.payload).unwrap();
    assert_eq!(payload, d, "the decision event carries the decision as answered");
    assert!(f.deliveries().contains(&("decision".into(), "decision:D1".into())));

    // A repeat answers the stored decision unchanged and re-emits the same
    // event id (at least once; subscribers de-duplicate by id).
    let (status, again) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("D1", 1000.0))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, d);
    assert_eq!(f.deliveries().iter().filter(|(_, id)| id == "decision:D1").count(), 1, "one delivery per event id");

    // An unknown office refuses the whole array and screens nothing.
    let mut bad = declaration("D3", 10.0);
    bad["office"] = json!("9999");
    let (status, e) =
        f.call("POST", "/api/v1/declarations", &f.machine, Some(json!([declaration("D2", 10.0), bad]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["field"], "[1].office");
    let (status, _) = f.call("GET", "/api/v1/declarations/D2", &f.analyst, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing of a refused request is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_changes_and_outcomes_emit_like_the_cli() {
    let f = fixture();
    let rule = json!({"id": "R-1", "title": "big", "weight": 0.9, "channel": "red",
                      "when": "total_value_cny > 500000"});
    let mut bad = rule.clone();
    bad["title"] = json!("\u{1b}[2J清屏");
    let (status, e) = f.call("POST", "/api/v1/rules", &f.analyst, Some(bad)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("title")), "{e}");
    let (status, r) = f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, e) = f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(e["error"]["code"], "four_eyes");
    let (status, r) = f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst2, None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, e) = f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst2, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "only a draft can be approved: {e}");
    let (status, e) = f.call("POST", "/api/v1/rules/NOPE/approve", &f.analyst2, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let kinds: Vec<String> = f.events.take().into_iter().map(|e| e.id).collect();
    assert_eq!(kinds, vec!["rule_change:R-1@1:added", "rule_change:R-1@1:approved"]);

    // The approved rule screens at once: a mandatory red lane.
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG", 900_000.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    let outcome = json!({"control": "physical", "completed_at": "2026-03-01T12:00:00+08:00",
                         "result": "finding", "findings": ["undervaluation"], "additional_duty": 100.0});
    let (status, o) = f.call("POST", "/api/v1/controls/BIG/outcome", &f.officer, Some(outcome)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["accepted"], 1);
    // Facts come from the system: the time is the server's, not the body's,
    // and a control takes one outcome (a second, or one for a declaration
    // that was never controlled, is refused).
    let (_, d) = f.call("GET", "/api/v1/declarations/BIG", &f.analyst, None).await;
    let completed = d["outcomes"][0]["completed_at"].as_str().unwrap_or_default().to_string();
    assert!(!completed.is_empty() && !completed.starts_with("2026-03-01T12:00"), "{d}");
    let again = json!({"control": "physical", "result": "no_finding"});
    let (status, e) = f.call("POST", "/api/v1/controls/BIG/outcome", &f.officer, Some(again.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{e}");
    let mut green = None;
    for i in 0..40 {
        let id = format!("SMALL{i}");
        let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration(&id, 10.0))).await;
        if d["channel"] == "green" {
            green = Some(id);
            break;
        }
    }
    let green = green.expect("a green declaration among 40 small ones");
    let (status, e) = f.call("POST", &format!("/api/v1/controls/{green}/outcome"), &f.officer, Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT, "an uncontrolled declaration takes no outcome: {e}");
    // A red lane overridden to yellow, then to green (which releases the
    // goods): an override event each, and one release event.
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG2", 900_000.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    for (lane, why) in [("yellow", "线人举报 / tip-off"), ("green", "核实无误 / checked, nothing found")] {
        let body = json!({"channel": lane, "reason": why});
        let (status, o) = f.call("POST", "/api/v1/declarations/BIG2/override", &f.officer, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{o}");
    }
    let events = f.events.take();
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    assert!(ids.contains(&"control_task:BIG".to_string()), "{ids:?}");
    assert!(ids.iter().any(|i| i.starts_with("finding:BIG:")), "an outcome with a finding emits: {ids:?}");
    assert!(ids.iter().any(|i| i.starts_with("outcome:BIG:")), "every outcome emits: {ids:?}");
    let overrides: Vec<serde_json::Value> =
        events.iter().filter(|e| e.kind == "override").map(|e| serde_json::from_str(&e.payload).unwrap()).collect();
    assert_eq!(
        overrides.iter().map(|o| (o["from"].as_str(), o["to"].as_str())).collect::<Vec<_>>(),
        vec![(Some("red"), Some("yellow")), (Some("yellow"), Some("green"))],
        "{overrides:?}"
    );
    assert!(
        events.iter().filter(|e| e.kind == "override").all(|e| !e.payload.contains("E1") && !e.payload.contains("tip")),
        "the officer and the reason stay in the action log"
    );
    assert_eq!(ids.iter().filter(|i| *i == "release:BIG2").count(), 1, "{ids:?}");
    let delivered: Vec<String> = f.deliveries().into_iter().map(|(k, _)| k).collect();
    // Case events go to the owning department's webhooks only (see
    // `a_seizure_is_referred_concluded_and_fed_back`).
    for kind in riskgate_app::events::WEBHOOK_KINDS.iter().filter(|k| **k != "case") {
        assert!(delivered.iter().any(|k| k == kind), "no {kind} delivery in {delivered:?}");
    }
    let actions = f.action_kinds();
    for a in ["rule_add", "rule_approve", "record_outcome"] {
        assert!(actions.iter().any(|k| k == a), "{a} missing from the action log: {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_carry_the_workforce_figures_and_the_openapi_document_is_served() {
    let f = fixture();
    let (status, _) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("K1", 10.0))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, k) = f.call("GET", "/api/v1/kpis", &f.analyst, None).await;
    assert_eq!(status, StatusCode::OK, "{k}");
    let hq =
        k["units"].as_array().unwrap().iter().find(|u| u["code"] == "0000").unwrap_or_else(|| panic!("{k}")).clone();
    let names: Vec<&str> = hq["figures"].as_array().unwrap().iter().filter_map(|f| f["key"].as_str()).collect();
    for key in
        ["litigation_win_rate", "internal_affairs_pass_rate", "leadership_assessment_pass_rate", "misconduct_case_rate"]
    {
        assert!(names.contains(&key), "{key} missing from /kpis: {names:?}");
    }
    let (status, doc) = f.call("GET", "/api/v1/openapi.json", &f.analyst, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"].as_object().is_some_and(|p| p.len() >= 40), "{doc}");
    // Every documented operation is routed: without credentials it answers
    // 401 (or its own refusal), never 404 or 405 as an unrouted one does.
    let unrouted = riskgate_server::testing::call(&f.router, "GET", "/api/v1/no-such-thing", "none", None).await;
    assert_eq!(unrouted.status, StatusCode::NOT_FOUND);
    let mut operations = 0;
    for (route, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|m| ["get", "post", "delete"].contains(&m.as_str())) {
            operations += 1;
            // Every operation has a schema for its 200/201 JSON answer and
            // documents its refusals.
            let op = &item[method];
            let ok = op["responses"].as_object().unwrap();
            assert!(ok.keys().any(|s| s.starts_with('2')), "{method} {route}: no success answer");
            let uri = route.replace("{id}", "x");
            let method_up = method.to_uppercase();
            let status = riskgate_server::testing::call(&f.router, &method_up, &uri, "none", None).await.status;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {route} is documented but not routed ({status})"
            );
        }
    }
    assert!(operations >= 46, "{operations} operations");
    // Records are documented field by field, not as free-form objects.
    let decl = &doc["components"]["schemas"]["Declaration"];
    for field in ["id", "declared_at", "items", "trader", "currency"] {
        assert!(decl["properties"][field].is_object(), "Declaration.{field} undocumented: {decl}");
    }
    let (_, k) = f.call("GET", "/api/v1/kpis", &f.analyst, None).await;
    let check = |v: &serde_json::Value| riskgate_server::testing::check_answer(&doc, "get", "/api/v1/kpis", 200, v);
    check(&k).unwrap();
    // The check can fail: an undocumented property, a wrong type, a missing
    // required property, an undocumented status.
    let mut extra = k.clone();
    extra["units"][0]["surprise"] = json!(1);
    let mut wrong = k.clone();
    wrong["units"][0]["declarations"] = json!("many");
    let mut missing = k.clone();
    missing["units"][0].as_object_mut().unwrap().remove("figures");
    for (bad, what) in [(extra, "surprise"), (wrong, "declarations"), (missing, "figures")] {
        let e = check(&bad).expect_err(what);
        assert!(e.contains(what), "{e}");
    }
    assert!(riskgate_server::testing::check_answer(&doc, "get", "/api/v1/kpis", 418, &k).is_err());
}

/// The supervisors' integrity inbox: a notified warning is listed for an
/// integrity supervisor (the read logged), refused to every other role, and
/// only supervisors (and admins) may trigger a notification run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrity_inbox_is_for_supervisors_only() {
    use riskgate_integrity::{Level, Report};
    let f = fixture();
    let mut app = App::open_at(&f.at, "setup").unwrap();
    let n = accounts::NewUser {
        username: "sun",
        password: "correct horse",
        role: "integrity_supervisor",
        office: None,
        ..Default::default()
    };
    accounts::add_user(app.store.as_mut(), "setup", n).unwrap();
    let warned = riskgate_integrity::testing::subject("E1", Level::Warning);
    let report = Report { officers: vec![warned], posts: vec![], units: vec![] };
    assert_eq!(riskgate_app::integrity::notify_warnings(&mut app, &report).unwrap().len(), 1);
    drop(app);
    let login = json!({"username": "sun", "password": "correct horse"});
    let sun = riskgate_server::testing::call(&f.router, "POST", "/api/v1/session", "none", Some(login)).await;
    let sun = sun.cookie.expect("a session cookie");
    let (status, body) = f.call("GET", "/api/v1/integrity/inbox", &sun, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let inbox = body["inbox"].as_array().unwrap();
    assert_eq!(inbox.len(), 1, "{body}");
    assert_eq!(inbox[0]["id"], "E1");
    assert_eq!(inbox[0]["level"], "warning");
    assert!(f.action_kinds().contains(&"integrity_read".to_string()), "the read is logged");
    for (who, token) in [("field officer", &f.officer), ("analyst", &f.analyst), ("machine", &f.machine)] {
        let (status, body) = f.call("GET", "/api/v1/integrity/inbox", token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} reads the inbox: {body}");
        let (status, _) = f.call("POST", "/api/v1/integrity/notify", token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} triggers notifications");
    }
    // A run over the stored records (none here) finds nothing new.
    f.events.take();
    let (status, body) = f.call("POST", "/api/v1/integrity/notify", &sun, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(f.events.take().iter().all(|e| e.subject.starts_with("t-supervisor.")), "supervisors' namespace only");
}

/// A login request from `from` with the given password and extra headers.
async fn login_from(
    f: &Fixture,
    from: &str,
    user: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> riskgate_server::testing::Answer {
    use axum::http::{Request, header};
    let addr: std::net::SocketAddr = format!("{from}:40000").parse().unwrap();
    let mut req = Request::builder().method("POST").uri("/api/v1/session");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = json!({"username": user, "password": password}).to_string();
    let mut req = req.body(axum::body::Body::from(body)).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
    riskgate_server::testing::send(&f.router, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_logged_and_throttled_per_user_and_address() {
    let f = fixture();
    // (from, user, password, expected status, expected code)
    #[rustfmt::skip]
    let table: Vec<(&str, &str, &str, u16, Option<&str>)> = vec![
        ("10.0.0.1", "E1", "wrong", 401, Some("unauthenticated")),
        ("10.0.0.1", "E1", "wrong", 401, Some("unauthenticated")),
        ("10.0.0.1", "E1", "wrong", 401, Some("unauthenticated")),
        ("10.0.0.1", "E1", "wrong", 401, Some("unauthenticated")),
        ("10.0.0.2", "E1", "wrong", 401, Some("unauthenticated")),
        // Five failures within the window: refused before the password is looked at.
        ("10.0.0.1", "E1", "wrong", 429, Some("too_many_attempts")),
        ("10.0.0.3", "E1", "correct horse", 429, Some("too_many_attempts")),
        // Other users are not locked out by E1's failures.
        ("10.0.0.1", "ana", "correct horse", 200, None),
        ("10.0.0.4", "nobody", "x", 401, Some("unauthenticated")),
    ];
    for (i, (from, user, password, status, code)) in table.into_iter().enumerate() {
        let a = login_from(&f, from, user, password, &[]).await;
        assert_eq!(
            (a.status.as_u16(), a.body["error"]["code"].as_str()),
            (status, code),
            "row {i}: {user} from {from}: {}",
            a.body
        );
        if status == 429 {
            let secs: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(secs > 0 && secs <= 15 * 60, "{secs}");
            assert_eq!(a.body["error"]["retry_after"].as_u64(), Some(secs));
        }
    }
    // Per address: 20 failures with made-up names lock the address, not others.
    for i in 0..20 {
        let a = login_from(&f, "10.9.9.9", &format!("guess{i}"), "x", &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }
    let a = login_from(&f, "10.9.9.9", "ana2", "correct horse", &[]).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    let a = login_from(&f, "10.9.9.8", "ana2", "correct horse", &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Each failure is in the action log with the username and address, never the password.
    let store = f.at.open_store().unwrap();
    let failed: Vec<_> =
        store.actions(10_000).unwrap().into_iter().map(|a| a.action).filter(|a| a.action == "login_failed").collect();
    assert_eq!(failed.len(), 5 + 1 + 20, "throttled attempts are not verified nor logged");
    let e1: Vec<_> = failed.iter().filter(|a| a.target == "E1").collect();
    assert_eq!(e1.len(), 5);
    assert!(e1.iter().any(|a| a.after.as_ref().unwrap()["address"] == "10.0.0.2"), "{e1:?}");
    assert!(failed.iter().all(|a| !serde_json::to_string(a).unwrap().contains("wrong")), "no password logged");
}

type Headers<'a> = &'a [(&'a str, &'a str)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_login_is_refused() {
    let f = fixture();
    #[rustfmt::skip]
    let table: [(Headers<'_>, u16, Option<&str>); 5] = [
        (&[("Content-Type", "application/x-www-form-urlencoded")], 415, Some("unsupported_media_type")),
        (&[("Content-Type", "text/plain")], 415, Some("unsupported_media_type")),
        (&[("Origin", "http://evil.example"), ("Host", "riskgate.local")], 403, Some("csrf")),
        (&[("Sec-Fetch-Site", "cross-site")], 403, Some("csrf")),
        (&[("Origin", "http://riskgate.local"), ("Host", "riskgate.local")], 200, None),
    ];
    for (headers, status, code) in table {
        let a = login_from(&f, "10.0.0.1", "ana", "correct horse", headers).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["code"].as_str()), (status, code), "{headers:?}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_scraper_and_keep_their_labels_bounded() {
    let f = fixture();
    let (status, _) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("M1", 10.0))).await;
    assert_eq!(status, StatusCode::OK);
    // Invented methods and paths add no label values.
    for i in 0..50 {
        let method = format!("X{i}");
        let _ = riskgate_server::testing::call(&f.router, &method, "/api/v1/declarations", "none", None).await;
        let _ = riskgate_server::testing::call(&f.router, "GET", &format!("/api/v1/nothing{i}"), "none", None).await;
    }
    // (who, status)
    for (who, status) in
        [("none", 401), (f.officer.as_str(), 403), (f.analyst.as_str(), 403), (f.machine.as_str(), 200)]
    {
        let a = riskgate_server::testing::call(&f.router, "GET", "/metrics", who, None).await;
        assert_eq!(a.status.as_u16(), status, "{who}: {:?}", a.body);
    }
    let text = {
        use axum::http::{Request, header};
        use tower::ServiceExt;
        let req = Request::get("/metrics")
            .header(header::AUTHORIZATION, f.machine.as_str())
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = f.router.clone().oneshot(req).await.unwrap();
        String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
    };
    let methods: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.split("method=\"").nth(1)).filter_map(|r| r.split('"').next()).collect();
    assert!(
        methods.iter().all(|m| ["GET", "POST", "DELETE", "HEAD", "PUT", "PATCH", "OPTIONS", "other"].contains(m)),
        "{methods:?}"
    );
    assert!(!text.contains("nothing"), "unrouted paths are not labels: {text}");
    assert!(text.lines().count() < 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_never_moves_an_office_and_a_move_is_logged() {
    let f = fixture();
    // (records, expected status, field): 2201 exists under 2200 as an office.
    #[rustfmt::skip]
    let table: Vec<(Value, u16, Option<&str>)> = vec![
        (json!({"code":"2201","name":"浦东海关","parent":"0000","level":"office"}), 409, Some("parent")),
        (json!({"code":"2201","name":"浦东海关","parent":"2200","level":"district"}), 409, Some("level")),
        (json!([{"code":"2300","name":"新","parent":"0000","level":"district"},
                {"code":"2201","name":"浦东海关","parent":"2300","level":"office"}]), 409, Some("[1].parent")),
        (json!({"code":"2201","name":"浦东新区海关","parent":"2200","level":"office"}), 200, None),
    ];
    for (body, status, field) in table {
        let (s, a) = f.call("POST", "/api/v1/offices", &f.machine, Some(body.clone())).await;
        assert_eq!((s.as_u16(), a["error"]["field"].as_str()), (status, field), "{body}: {a}");
        if status == 409 {
            assert_eq!(a["error"]["code"], "conflict");
        }
    }
    let store = f.at.open_store().unwrap();
    let offices = store.offices().unwrap();
    let pudong = offices.iter().find(|o| o.code == "2201").unwrap();
    assert_eq!((pudong.parent.as_deref(), pudong.name.as_str()), (Some("2200"), "浦东新区海关"), "renamed, not moved");
    assert!(!offices.iter().any(|o| o.code == "2300"), "nothing of a refused import is stored");
    drop(store);

    // The administrator's path: checked, with a reason, logged before/after.
    let mut app = App::open_at(&f.at, "admin").unwrap();
    #[rustfmt::skip]
    let cases: [(&str, &str, &str, Result<(), &str>); 5] = [
        ("2201", "9999", "reorganisation", Err("parent")),
        ("2200", "2201", "reorganisation", Err("parent")), // under itself: a cycle
        ("2201", "0000", "  ", Err("reason")),
        ("NOPE", "0000", "reorganisation", Err("")),
        ("2201", "0000", "reorganisation 2027", Ok(())),
    ];
    for (code, parent, reason, expect) in cases {
        let got = riskgate_app::imports::move_office(&mut app, code, parent, None, reason)
            .map(|_| ())
            .map_err(|e| riskgate_app::classify(&e).expect("a refusal").field);
        assert_eq!(got.as_ref().map(|_| ()).map_err(String::as_str), expect, "{code} → {parent}");
    }
    let moves: Vec<_> = app
        .store
        .actions(10_000)
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .filter(|a| a.action == "office_move")
        .collect();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0].before.as_ref().unwrap()["parent"], "2200");
    assert_eq!(moves[0].after.as_ref().unwrap()["parent"], "0000");
    assert_eq!(moves[0].reason.as_deref(), Some("reorganisation 2027"));
}

/// (method, uri, body, status, code, field)
type Case<'a> = (&'a str, &'a str, Option<Value>, u16, &'a str, Option<&'a str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_dates_and_malformed_requests_get_the_json_envelope() {
    let f = fixture();
    // (method, uri, body, status, code, field)
    #[rustfmt::skip]
    let table: Vec<Case<'_>> = vec![
        ("GET", "/api/v1/kpi/trend?to=-262143-01-03", None, 400, "invalid_query", Some("to")),
        ("GET", "/api/v1/kpi/trend?from=+262142-12-31", None, 400, "invalid_query", Some("from")),
        ("GET", "/api/v1/kpi/trend?to=2026-03-01&period=month", None, 200, "", None),
        ("GET", "/api/v1/kpi?from=1800-01-01", None, 400, "invalid_query", Some("from")),
        ("GET", "/api/v1/kpi?to=9999-12-31T00:00:00Z", None, 400, "invalid_query", Some("to")),
        ("GET", "/api/v1/declarations?from=-262143-01-03", None, 400, "invalid_query", Some("from")),
        ("GET", "/api/v1/declarations?limit=many", None, 400, "invalid_query", None),
        ("POST", "/api/v1/offices", Some(json!([{"code": "X".repeat(3 << 20)}])), 413, "payload_too_large", None),
    ];
    for (method, uri, body, status, code, field) in table {
        let who = if method == "POST" { &f.machine } else { &f.analyst };
        let (s, a) = f.call(method, uri, who, body).await;
        let got = (s.as_u16(), a["error"]["code"].as_str().unwrap_or(""), a["error"]["field"].as_str());
        assert_eq!(got, (status, code, field), "{method} {uri}: {a}");
    }
}

/// A key given twice in a record's JSON is refused with 422
/// `invalid_field` naming its path, on each route records enter by:
/// declarations (one, or an array), imports, an officer's outcome. Nothing
/// is stored (a single declaration used to be validated on the last value
/// and stored, as sent, with both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_json_key_is_refused_naming_its_path() {
    let f = fixture();
    let raw = |uri: &str, who: &str, text: String| {
        let mut req = axum::http::Request::builder().method("POST").uri(uri).header("content-type", "application/json");
        req = match who.split_once(' ') {
            Some(("Cookie", c)) => req.header("cookie", c),
            _ => req.header("authorization", who),
        };
        riskgate_server::testing::send(&f.router, req.body(axum::body::Body::from(text)).unwrap())
    };
    let one = declaration("K1", 100.0).to_string();
    assert!(one.starts_with(r#"{"id":"K1","#), "{one}");
    let twice = one.replacen(r#""id":"K1""#, r#""id":"K1","id":"K2""#, 1);
    let deep = declaration("K3", 100.0).to_string().replacen(r#""value":100.0"#, r#""value":100.0,"value":1.0"#, 1);
    let cases = [
        ("/api/v1/declarations", &f.machine, twice, "id"),
        ("/api/v1/declarations", &f.machine, format!("[{},{deep}]", declaration("K4", 1.0)), "[1].items[0].value"),
        (
            "/api/v1/offices",
            &f.machine,
            r#"{"code":"2202","name":"x","parent":"2200","parent":"0000","level":"office"}"#.to_string(),
            "parent",
        ),
        (
            "/api/v1/controls/K1/outcome",
            &f.officer,
            r#"{"result":"no_finding","result":"finding"}"#.to_string(),
            "result",
        ),
    ];
    for (uri, who, text, field) in cases {
        let a = raw(uri, who, text).await;
        assert_eq!(
            (a.status.as_u16(), a.body["error"]["code"].as_str(), a.body["error"]["field"].as_str()),
            (422, Some("invalid_field"), Some(field)),
            "{uri}: {}",
            a.body
        );
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{field}: expected each key at most once per object")), "{msg}");
    }
    for id in ["K1", "K2", "K3", "K4"] {
        let (s, _) = f.call("GET", &format!("/api/v1/declarations/{id}"), &f.analyst, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{id} stored");
    }
    let (_, offices) = f.call("GET", "/api/v1/offices", &f.analyst, None).await;
    assert!(!offices.to_string().contains("2202"), "{offices}");
}

/// Issue 11's scenario, end to end through the API: a seizure at the border
/// opens an anti-smuggling referral by itself; the anti-smuggling
/// department sees it in its inbox (tariff does not), accepts, starts and
/// concludes it with a result; the result comes back as an outcome, so the
/// deterrence KPI, the rule's statistics and the trader's history change;
/// a manager closes it; every step is in the action log and emitted as an
/// event delivered to that department's webhook only. Then the release gate
/// and escalation of an overdue case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seizure_is_referred_concluded_and_fed_back() {
    let f = fixture();
    {
        let mut app = App::open_at(&f.at, "setup").unwrap();
        webhooks::add(&mut app, "case", "http://127.0.0.1:9/smuggling", "anti_smuggling").unwrap();
    }
    let rule = json!({"id": "R-1", "title": "big", "weight": 0.9, "channel": "red",
                      "when": "total_value_cny > 500000"});
    assert_eq!(f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await.0, StatusCode::CREATED);
    assert_eq!(f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst2, None).await.0, StatusCode::OK);
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG", 900_000.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    let trader = {
        let (_, d) = f.call("GET", "/api/v1/declarations/BIG", &f.analyst, None).await;
        d["declaration"]["trader"]["id"].as_str().unwrap_or_else(|| panic!("{d}")).to_string()
    };
    let figure = |k: &Value, key: &str| -> Value {
        let hq = k["units"].as_array().unwrap().iter().find(|u| u["code"] == "0000").unwrap().clone();
        hq["figures"].as_array().unwrap().iter().find(|x| x["key"] == key).unwrap().clone()
    };
    let rule_revenue = |r: &Value| -> f64 {
        r["rules"].as_array().unwrap().iter().find(|x| x["id"] == "R-1").unwrap()["revenue_cny"].as_f64().unwrap()
    };
    // The trader's history as the next decision will see it: outcomes
    // completed after the last decision wait for a decision made at or after
    // their completion (no look-ahead), so the context is brought to now
    // first. (The steps below cross a second boundary on a loaded machine.)
    let trader_history = || {
        let mut app = App::open_at(&f.at, "check").unwrap();
        app.engine.context.advance_to(riskgate_app::now().timestamp());
        let h = app.engine.context.traders.get(&trader).cloned().unwrap_or_default();
        (h.findings, h.revenue_cny)
    };

    // A seizure without a smuggling finding yet: the border control. Seized
    // goods are not released by the same outcome (refused, nothing stored).
    let mut outcome = json!({"control": "physical", "result": "finding", "findings": ["undervaluation"],
                         "additional_duty": 100.0, "seizure": true, "released_at": "2026-03-01T10:00:00+08:00"});
    let (status, o) = f.call("POST", "/api/v1/controls/BIG/outcome", &f.officer, Some(outcome.clone())).await;
    assert_eq!((status, o["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("released_at")), "{o}");
    outcome.as_object_mut().unwrap().remove("released_at");
    let (status, o) = f.call("POST", "/api/v1/controls/BIG/outcome", &f.officer, Some(outcome)).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let (_, k) = f.call("GET", "/api/v1/kpis", &f.analyst, None).await;
    assert_eq!(figure(&k, "smuggling_deterrence_rate")["numerator"], 0.0, "{k}");
    let (_, r) = f.call("GET", "/api/v1/rules", &f.analyst, None).await;
    assert_eq!(rule_revenue(&r), 100.0, "{r}");
    let before = trader_history();

    // The referral is in anti-smuggling's inbox, not tariff's; the office sees it too.
    let (status, l) = f.call("GET", "/api/v1/cases", &f.smuggling, None).await;
    assert_eq!(status, StatusCode::OK, "{l}");
    let cases = l["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{l}");
    let c = &cases[0];
    assert_eq!(
        (c["kind"].as_str(), c["department"].as_str(), c["status"].as_str(), c["origin"].as_str()),
        (Some("anti_smuggling"), Some("anti_smuggling"), Some("opened"), Some("seizure")),
        "{c}"
    );
    assert_eq!((c["declaration_id"].as_str(), c["office"].as_str()), (Some("BIG"), Some("2201")));
    assert_eq!(c["enterprise"].as_str(), Some(trader.as_str()));
    let id = c["id"].as_i64().unwrap();
    let (_, l) = f.call("GET", "/api/v1/cases", &f.tariff, None).await;
    assert_eq!(l["cases"].as_array().map(Vec::len), Some(0), "tariff does not see anti-smuggling's case: {l}");
    let (status, _) = f.call("GET", &format!("/api/v1/cases/{id}"), &f.tariff, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, l) = f.call("GET", "/api/v1/cases?declaration_id=BIG", &f.officer, None).await;
    assert_eq!((status, l["cases"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{l}");

    // Only the owning department takes its steps, in order.
    let url = |step: &str| format!("/api/v1/cases/{id}/{step}");
    let (status, e) = f.call("POST", &url("accept"), &f.officer, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, e) = f.call("POST", &url("conclude"), &f.smuggling, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "an opened case is accepted first: {e}");
    let (status, e) = f.call("POST", &url("reject"), &f.smuggling, Some(json!({}))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("note")), "{e}");
    let (status, c) = f.call("POST", &url("accept"), &f.smuggling, Some(json!({"version": 1}))).await;
    assert_eq!(
        (status, c["status"].as_str(), c["assignee"].as_str()),
        (StatusCode::OK, Some("accepted"), Some("smug"))
    );
    let (status, e) = f.call("POST", &url("start"), &f.smuggling, Some(json!({"version": 1}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale version is refused: {e}");
    assert_eq!(f.call("POST", &url("start"), &f.smuggling, Some(json!({}))).await.0, StatusCode::OK);
    let (status, c) =
        f.call("POST", &format!("/api/v1/cases/{id}/notes"), &f.officer, Some(json!({"note": "货物已封存"}))).await;
    assert_eq!(status, StatusCode::OK, "the office adds what it knows: {c}");
    let bad = json!({"result": {"findings": ["contraband"], "additional_duty": 5000.0, "penalty": 0.0,
                                "seizure": true, "summary": "x"}});
    let (status, e) = f.call("POST", &url("conclude"), &f.smuggling, Some(bad)).await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("result.findings[0]")),
        "{e}"
    );
    let result = json!({"result": {"findings": ["smuggling"], "additional_duty": 5000.0, "penalty": 20000.0,
                                   "seizure": true, "summary": "走私成立 / smuggling established"}});
    let (status, c) = f.call("POST", &url("conclude"), &f.smuggling, Some(result)).await;
    assert_eq!((status, c["status"].as_str()), (StatusCode::OK, Some("concluded")), "{c}");

    // The result came back as an outcome: KPI, rule statistics, trader history.
    let (_, k) = f.call("GET", "/api/v1/kpis", &f.analyst, None).await;
    let deterrence = figure(&k, "smuggling_deterrence_rate");
    assert_eq!((deterrence["numerator"].as_f64(), deterrence["value"].as_f64()), (Some(1.0), Some(1.0)), "{k}");
    let (_, r) = f.call("GET", "/api/v1/rules", &f.analyst, None).await;
    assert_eq!(rule_revenue(&r), 5100.0, "{r}");
    let after = trader_history();
    assert!(after.1 > before.1 && after.0 >= before.0, "trader history {before:?} → {after:?}");
    let (_, d) = f.call("GET", "/api/v1/declarations/BIG", &f.analyst, None).await;
    assert_eq!(d["outcomes"].as_array().map(Vec::len), Some(2), "{d}");

    // A manager closes it; nothing moves a closed case.
    assert_eq!(f.call("POST", &url("close"), &f.manager, Some(json!({}))).await.0, StatusCode::OK);
    assert_eq!(f.call("POST", &url("return"), &f.smuggling, Some(json!({"note": "x"}))).await.0, StatusCode::CONFLICT);
    let (_, c) = f.call("GET", &format!("/api/v1/cases/{id}"), &f.smuggling, None).await;
    let steps: Vec<&str> = c["history"].as_array().unwrap().iter().filter_map(|h| h["what"].as_str()).collect();
    assert_eq!(steps, ["opened", "accept", "start", "note", "conclude", "close"], "{c}");

    let actions = f.action_kinds();
    for a in ["case_open", "case_accept", "case_start", "case_note", "case_conclude", "case_close"] {
        assert!(actions.iter().any(|k| k == a), "{a} missing from the action log: {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| *a == "record_outcome").count(), 2, "{actions:?}");
    let ids: Vec<String> = f.events.take().into_iter().filter(|e| e.kind == "case").map(|e| e.id).collect();
    let expected: Vec<String> = (1..=6).map(|v| format!("case:{id}:{v}")).collect();
    assert_eq!(ids, expected);
    let case_hooks: Vec<String> = {
        let store = f.at.open_store().unwrap();
        let hooks = store.webhooks().unwrap();
        store
            .deliveries(None, 10_000)
            .unwrap()
            .into_iter()
            .filter(|d| d.kind == "case")
            .map(|d| hooks.iter().find(|h| h.id == d.hook).unwrap().department.clone())
            .collect()
    };
    assert_eq!(case_hooks.len(), 6, "{case_hooks:?}");
    assert!(case_hooks.iter().all(|d| d == "anti_smuggling"), "only the owning department's hooks: {case_hooks:?}");

    // The release gate: a declaration whose control is open is not released.
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG2", 800_000.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    let release = json!({"declaration_id": "BIG2", "released_at": "2026-03-01T10:00:00+08:00"});
    let (status, e) = f.call("POST", "/api/v1/releases", &f.machine, Some(release)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("still open"), "{e}");

    // Escalation: a case past its acceptance deadline is escalated once.
    {
        let mut store = f.at.open_store().unwrap();
        let mut old = store.case(id).unwrap().unwrap();
        let past = old.opened_at - chrono::Duration::days(10);
        old.status = riskgate_core::CaseStatus::Opened;
        old.opened_at = past;
        old.accept_by = past + chrono::Duration::days(3);
        old.due_at = past + chrono::Duration::days(30);
        old.history.truncate(1);
        old.result = None;
        let a = riskgate_app::app::new_action("setup", None, "case_open", "case:");
        store.insert_case(&old, &a).unwrap();
    }
    let (status, l) = f.call("POST", "/api/v1/cases/escalate", &f.smuggling, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{l}");
    let (status, l) = f.call("POST", "/api/v1/cases/escalate", &f.manager, None).await;
    assert_eq!((status, l["cases"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{l}");
    assert!(l["cases"][0]["escalated_at"].is_string(), "{l}");
    let (_, l) = f.call("POST", "/api/v1/cases/escalate", &f.manager, None).await;
    assert_eq!(l["cases"].as_array().map(Vec::len), Some(0), "escalated once: {l}");
    let (_, l) = f.call("GET", "/api/v1/cases?overdue=true", &f.smuggling, None).await;
    assert_eq!(l["cases"].as_array().map(Vec::len), Some(1), "overdue in the inbox: {l}");
}

/// Issue 11's service and ageing: a trader's urgent-clearance request moves
/// a control to the top of the workbench with a shorter deadline (once; a
/// bad kind is refused by field); an overdue control is escalated to the
/// office's managers once, logged and announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_request_moves_a_control_up_and_overdue_controls_escalate() {
    let f = fixture();
    let rule = json!({"id": "R-1", "title": "big", "weight": 0.9, "channel": "red",
                      "when": "total_value_cny > 500000"});
    assert_eq!(f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await.0, StatusCode::CREATED);
    assert_eq!(f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst2, None).await.0, StatusCode::OK);
    for (id, value) in [("BIG", 9_000_000.0), ("MID", 600_000.0), ("LOW", 510_000.0)] {
        let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration(id, value))).await;
        assert_eq!(d["channel"], "red", "{d}");
    }
    let order = |l: &Value| -> Vec<String> {
        l["controls"].as_array().unwrap().iter().map(|c| c["declaration_id"].as_str().unwrap().to_string()).collect()
    };
    let (_, l) = f.call("GET", "/api/v1/controls", &f.officer, None).await;
    let before = order(&l);
    assert_eq!(before.len(), 3, "{l}");
    let last = before.last().unwrap().clone();
    assert!(l["controls"][0]["due_at"].is_i64(), "each control carries its deadline: {l}");

    let url = format!("/api/v1/controls/{last}/urgent");
    let (status, e) = f.call("POST", &url, &f.officer, Some(json!({"kind": "fresh", "note": "x"}))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")), "{e}");
    let body = json!({"kind": "perishable", "note": "冷链生鲜，今日需放行 / chilled seafood"});
    let (status, t) = f.call("POST", &url, &f.officer, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let (urgent_at, due_at) = (t["urgent_at"].as_i64().unwrap(), t["due_at"].as_i64().unwrap());
    assert!(due_at <= urgent_at + 4 * 3600, "due within the urgent hours: {t}");
    assert_eq!(f.call("POST", &url, &f.machine, Some(body)).await.0, StatusCode::CONFLICT, "once per control");
    let (_, l) = f.call("GET", "/api/v1/controls", &f.officer, None).await;
    let after = order(&l);
    assert_eq!(after[0], last, "the urgent request is first: {before:?} → {after:?}");
    assert_eq!(after[1..], before[..2], "the others keep their order");

    // MID was opened three days ago (behind the store's back): overdue.
    {
        let db = match &f.at {
            StoreAt::Sqlite(dir) => dir.join("riskgate.db"),
            StoreAt::Postgres { .. } => unreachable!("the fixture is SQLite"),
        };
        let c = rusqlite::Connection::open(db).unwrap();
        let n = c
            .execute(
                "UPDATE control_tasks SET opened_at = opened_at - 259200
                 WHERE decl = (SELECT seq FROM declarations WHERE id = 'MID')",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    f.events.take();
    assert_eq!(f.call("POST", "/api/v1/controls/escalate", &f.officer, None).await.0, StatusCode::FORBIDDEN);
    let (status, l) = f.call("POST", "/api/v1/controls/escalate", &f.manager, None).await;
    assert_eq!((status, order(&l)), (StatusCode::OK, vec!["MID".to_string()]), "{l}");
    let (_, l) = f.call("POST", "/api/v1/controls/escalate", &f.manager, None).await;
    assert_eq!(order(&l), Vec::<String>::new(), "escalated once");
    let ids: Vec<String> = f.events.take().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["control_task:MID:escalated"]);
    let actions = f.action_kinds();
    for a in ["task_urgent", "task_escalate"] {
        assert_eq!(actions.iter().filter(|k| *k == a).count(), 1, "{a}: {actions:?}");
    }
    let (_, l) = f.call("GET", "/api/v1/controls", &f.officer, None).await;
    let mid = l["controls"].as_array().unwrap().iter().find(|c| c["declaration_id"] == "MID").unwrap().clone();
    assert!(mid["escalated_at"].is_i64(), "{mid}");
    // `serve --escalate-every` runs the same escalation in the scheduler's
    // name, over every office: LOW, aged too, is escalated; MID not twice.
    {
        let StoreAt::Sqlite(dir) = &f.at else { unreachable!("the fixture is SQLite") };
        let c = rusqlite::Connection::open(dir.join("riskgate.db")).unwrap();
        c.execute(
            "UPDATE control_tasks SET opened_at = opened_at - 259200
             WHERE decl = (SELECT seq FROM declarations WHERE id = 'LOW')",
            [],
        )
        .unwrap();
    }
    assert_eq!(riskgate_server::retrain::escalate_once(&f.state).await.unwrap(), (1, 0));
    assert_eq!(riskgate_server::retrain::escalate_once(&f.state).await.unwrap(), (0, 0));
}

/// A rule names the kind of risk: its disposal measure wins over the one
/// the risk level gives when it goes further, a referral to the rule's
/// department is opened as the declaration is stored (and announced), and
/// decisions are found by their measure. A bad measure or referral kind is
/// refused by field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_names_its_measure_and_refers_to_a_department() {
    let f = fixture();
    let bad = json!({"id": "R-A", "title": "t", "weight": 0.1, "when": "total_value_cny > 1", "disposal": "ignore"});
    let (status, e) = f.call("POST", "/api/v1/rules", &f.analyst, Some(bad)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("disposal")), "{e}");
    let bad = json!({"id": "R-A", "title": "t", "weight": 0.1, "when": "total_value_cny > 1", "refer": "integrity"});
    let (status, e) = f.call("POST", "/api/v1/rules", &f.analyst, Some(bad)).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("refer")), "{e}");
    let rule = json!({"id": "R-AV", "title": "禁止进口 / prohibited", "weight": 0.5, "channel": "red",
                      "when": "total_value_cny > 500000", "disposal": "avoid", "refer": "legal"});
    assert_eq!(f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await.0, StatusCode::CREATED);
    assert_eq!(f.call("POST", "/api/v1/rules/R-AV/approve", &f.analyst2, None).await.0, StatusCode::OK);
    f.events.take();
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG", 900_000.0))).await;
    assert_eq!((d["channel"].as_str(), d["disposal"].as_str()), (Some("red"), Some("avoid")), "{d}");
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("SMALL", 10.0))).await;
    assert_ne!(d["disposal"], "avoid", "{d}");

    let (_, l) = f.call("GET", "/api/v1/cases?kind=legal", &f.analyst, None).await;
    let cases = l["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{l}");
    assert_eq!(
        (cases[0]["origin"].as_str(), cases[0]["declaration_id"].as_str(), cases[0]["department"].as_str()),
        (Some("rule:R-AV"), Some("BIG"), Some("legal")),
        "{l}"
    );
    let id = cases[0]["id"].as_i64().unwrap();
    let ids: Vec<String> = f.events.take().into_iter().filter(|e| e.kind == "case").map(|e| e.id).collect();
    assert_eq!(ids, [format!("case:{id}:1")]);
    // Submitting it again screens nothing and refers nothing.
    f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG", 900_000.0))).await;
    let (_, l) = f.call("GET", "/api/v1/cases?kind=legal", &f.analyst, None).await;
    assert_eq!(l["cases"].as_array().map(Vec::len), Some(1), "{l}");

    let (status, l) = f.call("GET", "/api/v1/declarations?disposal=avoid", &f.analyst, None).await;
    assert_eq!(status, StatusCode::OK, "{l}");
    let found: Vec<&str> = l["declarations"].as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(found, ["BIG"]);
    let (status, e) = f.call("GET", "/api/v1/declarations?disposal=nothing", &f.analyst, None).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("disposal")), "{e}");
}

/// Intelligence from a department becomes a risk signal: a note on the
/// enterprise that analysts see with it, and (department users only) the
/// enterprise on the department's watch-list, which a rule uses at once.
/// Departments refer cases back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_intelligence_becomes_a_risk_signal() {
    let f = fixture();
    for t in ["T1", "T2"] {
        let e = json!({"id": t, "name": "贸易公司", "credit_class": "general"});
        assert_eq!(f.call("POST", "/api/v1/enterprises", &f.machine, Some(e)).await.0, StatusCode::OK);
    }
    let note = json!({"text": "线报：该企业涉嫌通过第三国转运 / tip: transhipment via a third country"});
    let (status, e) =
        f.call("POST", "/api/v1/enterprises/T1/notes", &f.analyst, Some(json!({"text": "x", "watch": true}))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("watch")), "{e}");
    let (status, _) = f.call("POST", "/api/v1/enterprises/NOPE/notes", &f.smuggling, Some(note.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut watched = note.clone();
    watched["watch"] = json!(true);
    let (status, n) = f.call("POST", "/api/v1/enterprises/T1/notes", &f.smuggling, Some(watched.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{n}");
    assert_eq!(
        (n["department"].as_str(), n["watch_list"].as_str()),
        (Some("anti_smuggling"), Some("watch.anti_smuggling"))
    );
    let (_, e) = f.call("GET", "/api/v1/enterprises/T1", &f.analyst, None).await;
    assert_eq!(e["notes"][0]["author"], "smug", "analysts see the note: {e}");

    // Analysts write a rule on the department's watch-list…
    let rule = json!({"id": "R-W", "title": "缉私关注 / watched by anti-smuggling", "weight": 0.3, "channel": "red",
                      "when": "trader.id in list(\"watch.anti_smuggling\")"});
    let (status, r) = f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(f.call("POST", "/api/v1/rules/R-W/approve", &f.analyst2, None).await.0, StatusCode::OK);
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("W1", 10.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    // …and an enterprise the department adds later is caught from its next declaration on.
    let mut other = declaration("W2", 10.0);
    other["trader"]["id"] = json!("T2");
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(other)).await;
    assert_ne!(d["channel"], "red", "T2 is not watched yet: {d}");
    let (status, _) = f.call("POST", "/api/v1/enterprises/T2/notes", &f.smuggling, Some(watched)).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut again = declaration("W3", 10.0);
    again["trader"]["id"] = json!("T2");
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(again)).await;
    assert_eq!(d["channel"], "red", "{d}");
    let actions = f.action_kinds();
    for a in ["enterprise_note", "list_set"] {
        assert!(actions.iter().any(|k| k == a), "{a}: {actions:?}");
    }

    // A department refers back: anti-smuggling asks post-clearance audit to look at the trader.
    let back = json!({"kind": "post_clearance_audit", "enterprise": "T1", "office": "2201",
                      "title": "请稽查核实 / audit the trader's payments"});
    let (status, c) = f.call("POST", "/api/v1/cases", &f.smuggling, Some(back)).await;
    assert_eq!((status, c["department"].as_str()), (StatusCode::CREATED, Some("audit")), "{c}");
}

/// A department subscribes itself (no administrator): by event kind, office
/// and HS chapter, to an https address outside private networks; it sees,
/// and ends, only its own subscriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departments_subscribe_by_kind_office_and_chapter() {
    let f = fixture();
    let sub = |url: &str, chapters: &[&str]| json!({"kind": "decision", "url": url, "offices": ["2201"], "hs_chapters": chapters});
    for (body, field) in [
        (sub("http://hooks.example.org/x", &["85"]), "url"),
        (sub("https://127.0.0.1/x", &["85"]), "url"),
        (sub("https://10.1.2.3:8443/x", &["85"]), "url"),
        (sub("https://hooks.example.org/x", &["8"]), "hs_chapters[0]"),
        (json!({"kind": "integrity_warning", "url": "https://hooks.example.org/x"}), "kind"),
        (json!({"kind": "decision", "url": "https://hooks.example.org/x", "offices": ["9999"]}), "offices[0]"),
    ] {
        let (status, e) = f.call("POST", "/api/v1/subscriptions", &f.smuggling, Some(body)).await;
        assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{e}");
    }
    let (status, e) =
        f.call("POST", "/api/v1/subscriptions", &f.analyst, Some(sub("https://h.example.org", &[]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, s85) =
        f.call("POST", "/api/v1/subscriptions", &f.smuggling, Some(sub("https://a.example.org/85", &["85"]))).await;
    assert_eq!(status, StatusCode::CREATED, "{s85}");
    assert_eq!(s85["secret"].as_str().map(str::len), Some(64), "the secret is shown once: {s85}");
    let (_, s61) =
        f.call("POST", "/api/v1/subscriptions", &f.smuggling, Some(sub("https://a.example.org/61", &["61"]))).await;
    let (id85, id61) = (s85["subscription"]["id"].as_str().unwrap(), s61["subscription"]["id"].as_str().unwrap());

    // An 85xx declaration at 2201 reaches the chapter-85 subscription only.
    f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("HS85", 10.0))).await;
    let store = f.at.open_store().unwrap();
    let to =
        |hook: &str| store.deliveries(Some(hook), 100).unwrap().into_iter().map(|d| d.event_id).collect::<Vec<_>>();
    assert_eq!(to(id85), ["decision:HS85"]);
    assert_eq!(to(id61), Vec::<String>::new());

    let (_, l) = f.call("GET", "/api/v1/subscriptions", &f.tariff, None).await;
    assert_eq!(l["subscriptions"].as_array().map(Vec::len), Some(0), "another department's: {l}");
    let (_, l) = f.call("GET", "/api/v1/subscriptions", &f.smuggling, None).await;
    assert_eq!(l["subscriptions"].as_array().map(Vec::len), Some(2), "{l}");
    assert!(l["subscriptions"][0].get("secret").is_none(), "{l}");
    let (status, _) = f.call("DELETE", &format!("/api/v1/subscriptions/{id61}"), &f.tariff, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, l) = f.call("DELETE", &format!("/api/v1/subscriptions/{id61}"), &f.smuggling, None).await;
    assert_eq!((status, l["subscriptions"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{l}");
}

/// Case fields are bounded and plain: each refusal names its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_fields_are_checked_by_name() {
    let f = fixture();
    let (_, _) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("C1", 10.0))).await;
    let long = "x".repeat(4_001);
    for (body, field) in [
        (json!({"kind": "tariff", "title": "", "declaration_id": "C1"}), "title"),
        (json!({"kind": "tariff", "title": "t\u{1b}[2J", "declaration_id": "C1"}), "title"),
        (json!({"kind": "customs", "title": "t", "declaration_id": "C1"}), "kind"),
        (json!({"kind": "tariff", "title": "t", "enterprise": "a b"}), "enterprise"),
        (json!({"kind": "tariff", "title": "t", "declaration_id": "C1", "note": long}), "note"),
        (json!({"kind": "tariff", "title": "t"}), "declaration_id"),
        (json!({"kind": "integrity", "title": "t", "enterprise": "T1"}), ""),
    ] {
        let (status, e) = f.call("POST", "/api/v1/cases", &f.analyst, Some(body)).await;
        if field.is_empty() {
            assert_eq!(status, StatusCode::FORBIDDEN, "analysts open no integrity case: {e}");
        } else {
            assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{e}");
        }
    }
    let (status, e) = f
        .call(
            "POST",
            "/api/v1/cases",
            &f.analyst,
            Some(json!({"kind": "tariff", "title": "t", "declaration_id": "NOPE"})),
        )
        .await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::NOT_FOUND, Some("declaration_id")), "{e}");
}

/// An integrity warning becomes an integrity case (the console's 立案核查):
/// opened by an integrity supervisor about the officer, owned by the
/// integrity department; the officer concerned, the office's managers and
/// the analysts never see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrity_case_is_seen_by_integrity_only() {
    let f = fixture();
    let body = json!({"kind": "integrity", "officer": "E1", "office": "2201", "title": "廉政预警核查：关员 E1",
                      "note": "override rate far above peers"});
    let (status, e) = f.call("POST", "/api/v1/cases", &f.analyst, Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, c) = f.call("POST", "/api/v1/cases", &f.supervisor, Some(body)).await;
    assert_eq!((status, c["department"].as_str()), (StatusCode::CREATED, Some("integrity")), "{c}");
    let id = c["id"].as_i64().unwrap();
    for who in [&f.officer, &f.manager, &f.analyst, &f.smuggling] {
        let (status, _) = f.call("GET", &format!("/api/v1/cases/{id}"), who, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, l) = f.call("GET", "/api/v1/cases", who, None).await;
        assert_eq!(l["cases"].as_array().map(Vec::len), Some(0), "{l}");
    }
    let (status, _) = f.call("GET", &format!("/api/v1/cases/{id}"), &f.supervisor, None).await;
    assert_eq!(status, StatusCode::OK);
}

/// A case's result found after (or beside) the border control does not
/// complete that control: the officer's task stays open until the
/// officer records its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_result_leaves_the_border_control_open() {
    let f = fixture();
    let rule =
        json!({"id": "R-1", "title": "big", "weight": 0.9, "channel": "red", "when": "total_value_cny > 500000"});
    assert_eq!(f.call("POST", "/api/v1/rules", &f.analyst, Some(rule)).await.0, StatusCode::CREATED);
    assert_eq!(f.call("POST", "/api/v1/rules/R-1/approve", &f.analyst2, None).await.0, StatusCode::OK);
    let (_, d) = f.call("POST", "/api/v1/declarations", &f.machine, Some(declaration("BIG", 900_000.0))).await;
    assert_eq!(d["channel"], "red", "{d}");
    let body = json!({"kind": "tariff", "declaration_id": "BIG", "title": "归类存疑"});
    let (_, c) = f.call("POST", "/api/v1/cases", &f.analyst, Some(body)).await;
    let id = c["id"].as_i64().unwrap();
    for step in ["accept", "conclude"] {
        let body = if step == "conclude" {
            json!({"result": {"findings": ["misclassification"], "additional_duty": 800.0, "penalty": 0.0,
                              "seizure": false, "summary": "归类错误"}})
        } else {
            json!({})
        };
        let (status, c) = f.call("POST", &format!("/api/v1/cases/{id}/{step}"), &f.tariff, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{c}");
    }
    let (_, d) = f.call("GET", "/api/v1/declarations/BIG", &f.analyst, None).await;
    assert_eq!(d["outcomes"][0]["control"], "audit", "{d}");
    let (_, l) = f.call("GET", "/api/v1/controls", &f.officer, None).await;
    let open: Vec<&str> =
        l["controls"].as_array().unwrap().iter().filter_map(|c| c["declaration_id"].as_str()).collect();
    assert_eq!(open, ["BIG"], "the border control is still the officer's: {l}");
}

/// Slowloris: a connection that sends half a request head and then nothing,
/// or nothing at all, is closed after the header-read timeout, while a
/// request on another connection is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(riskgate_server::listen::serve_with(
        listener,
        f.router.clone(),
        async {
            let _ = stopped.await;
        },
        std::time::Duration::from_millis(500),
    ));
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: riskgate\r\nX-Slow: ").await.unwrap();
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: riskgate\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    ok.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    // The slow one: closed by the server (end of stream, or a reset) well
    // before this test's own limit, with no request served.
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(cut.is_ok(), "the half-sent head was not cut off within 10 s");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"), "{}", String::from_utf8_lossy(&rest));
    // A connection that never sends a byte is closed the same way (the
    // timer also runs while a connection waits for its next request).
    let cut = tokio::time::timeout(std::time::Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
    assert!(cut.is_ok(), "a silent connection was not closed within 10 s");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Requests beyond the bound in flight are refused at once with 503
/// `overloaded` and `Retry-After`, not queued; the bound is one count for
/// the whole router, and a slot freed is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_bound_are_shed_with_503() {
    use axum::http::{Request, header};
    use tower::ServiceExt;
    let f = fixture();
    let router = riskgate_server::router_with(f.state.clone(), 1);
    // A submission whose body never arrives holds the only slot.
    let body = axum::body::Body::from_stream(futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>());
    let stuck = Request::post("/api/v1/declarations")
        .header(header::AUTHORIZATION, f.machine.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let holder = tokio::spawn(router.clone().oneshot(stuck));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Another route on another path: the same single count.
    let shed = riskgate_server::testing::call(&router, "GET", "/api/v1/offices", &f.analyst, None).await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", shed.body);
    assert_eq!(shed.body["error"]["code"], "overloaded", "{}", shed.body);
    holder.abort();
    let _ = holder.await;
    let again = riskgate_server::testing::call(&router, "GET", "/api/v1/offices", &f.analyst, None).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(shed.headers.get(header::RETRY_AFTER).map(|v| v.to_str().unwrap()), Some("1"));
    let req =
        Request::get("/metrics").header(header::AUTHORIZATION, f.machine.as_str()).body(axum::body::Body::empty());
    let resp = router.clone().oneshot(req.unwrap()).await.unwrap();
    let text = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("riskgate_http_requests_shed_total 1"), "{text}");
}
