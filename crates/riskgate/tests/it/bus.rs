//! The NATS JetStream bus end to end against the local nats-server
//! (127.0.0.1:4222, JetStream on): workers decide like `screen`, are
//! idempotent, survive kill -9 without losing or duplicating a decision;
//! webhooks are signed and retried. Every test uses its own stream prefix.
//! Without a reachable NATS the bus tests fail, unless RISKGATE_SKIP_NATS=1
//! (then they print a `SKIPPED:` line).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use riskgate_store::{SqliteStore, Store};

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream prefix no other test run uses.
fn fresh_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("t{tag}{}x{}", std::process::id(), nanos % 1_000_000_000)
}

use crate::support::{Env, generate_world as world};

/// A worker process and the file its log goes to (a file, not a pipe: a
/// pipe nobody reads while the test waits fills up and stalls the worker).
struct Worker {
    child: Child,
    log: PathBuf,
}

/// A test that fails leaves no worker running (they would load the
/// machine, and the tests after it, for ever).
impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Env {
    fn worker(&self, prefix: &str, id: &str) -> Worker {
        let log = self.dir.join(format!("worker-{prefix}-{id}.log"));
        let child = crate::support::bin()
            .arg("--data")
            .arg(self.data())
            .args(["worker", "--nats-url", NATS, "--bus-prefix", prefix, "--id", id, "--clock", "declared"])
            .args(["--lease-secs", "2", "--partitions", "4", "--batch", "200"])
            // Strict stream order; a stopped worker's partitions are taken
            // over (2 s lease) before the others stop waiting for them.
            .args(["--order-slack", "0", "--order-wait-ms", "20000"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { child, log }
    }
    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.data()).unwrap()
    }
    /// Declaration id → decision JSON without its timestamp-free fields removed.
    fn decisions(&self) -> BTreeMap<String, serde_json::Value> {
        let conn = rusqlite::Connection::open(self.data().join("riskgate.db")).unwrap();
        let mut st =
            conn.prepare("SELECT d.id, c.body FROM decisions c JOIN declarations d ON d.seq = c.decl").unwrap();
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (id, body) = r.unwrap();
                (id, serde_json::from_str(&body).unwrap())
            })
            .collect()
    }
    fn screened(&self) -> u64 {
        self.store().office_counts(None, None).unwrap().iter().map(|c| c.facts.screened as u64).sum()
    }
}

fn wait_for(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    wait_logged(what, timeout, done, &[]);
}

/// As [`wait_for`]; a timeout shows the end of the workers' logs.
fn wait_logged(what: &str, timeout: Duration, mut done: impl FnMut() -> bool, workers: &[&Worker]) {
    let t = Instant::now();
    while !done() {
        if t.elapsed() >= timeout {
            let logs: Vec<String> =
                workers.iter().map(|w| format!("{}:\n{}", w.log.display(), tail(&w.log()))).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last 3,000 characters of a log.
fn tail(l: &str) -> String {
    l.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect()
}

/// SIGTERM, then the worker's exit status and its log.
fn terminate(mut w: Worker) -> (bool, String) {
    let pid = w.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = w.child.wait().unwrap();
    (status.success(), w.log())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Captures `<prefix>.decision.>` in a stream, to count the events a run published.
fn capture_decisions(prefix: &str) {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        js.create_stream(async_nats::jetstream::stream::Config {
            name: format!("{}_EVENTS", prefix.to_uppercase()),
            subjects: vec![format!("{prefix}.decision.>")],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    });
}

fn captured(prefix: &str) -> u64 {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        let mut s = js.get_stream(format!("{}_EVENTS", prefix.to_uppercase())).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

/// Publishes raw bytes to a partition subject without a message id, so the
/// stream's de-duplication cannot catch it: only the worker's can.
fn publish_raw(subject: &str, body: &str) {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        js.publish(subject.to_string(), body.to_string().into()).await.unwrap().await.unwrap();
    });
}

fn without_time(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().unwrap().remove("decided_at");
    v
}

/// Two stores and world `seed` (generated in the first one's directory);
/// `None` when NATS is absent and its skip allowed.
fn two_stores_and_a_world(test: &str, seed: u64, scale: f64) -> Option<(Env, Env, PathBuf)> {
    if !crate::support::nats_available(test) {
        return None;
    }
    let (a, b) = (Env::new(), Env::new());
    let w = world(&a.dir, seed, scale);
    Some((a, b, w))
}

#[test]
fn one_partition_decides_exactly_like_screen_and_repeats_are_idempotent() {
    let test = "one_partition_decides_exactly_like_screen_and_repeats_are_idempotent";
    let Some((local, bus, w)) = two_stores_and_a_world(test, 3, 0.03) else { return };
    let live = w.join("live.jsonl");
    local.load(&w);
    bus.load(&w);
    local.ok(&["screen", "--clock", "declared", live.to_str().unwrap()]);

    let prefix = fresh_prefix("one");
    capture_decisions(&prefix);
    let submit =
        bus.run(&["submit", "--nats-url", NATS, "--bus-prefix", &prefix, "--partitions", "1", live.to_str().unwrap()]);
    assert!(submit.status.success(), "{}", String::from_utf8_lossy(&submit.stderr));
    let n = std::fs::read_to_string(&live).unwrap().lines().count();
    assert!(String::from_utf8_lossy(&submit.stderr).contains(&format!("{n} declarations published")));
    // The same file again: the stream drops every message as a duplicate.
    let again = bus.run(&["submit", "--nats-url", NATS, "--bus-prefix", &prefix, live.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("0 declarations published, {n} already")));

    let worker = bus.worker(&prefix, "w1");
    wait_for("every declaration decided", Duration::from_secs(120), || bus.screened() as usize >= n);
    // The first declaration once more, past the stream's de-duplication:
    // the worker finds it stored and leaves its decision alone.
    let first = std::fs::read_to_string(&live).unwrap().lines().next().unwrap().to_string();
    let first_id = serde_json::from_str::<serde_json::Value>(&first).unwrap()["id"].as_str().unwrap().to_string();
    let before = bus.decisions()[&first_id].clone();
    publish_raw(&format!("{prefix}.in.0"), &first);
    // A new declaration after it on the same partition: once it is decided,
    // the worker has handled the repeat (a partition is screened in order).
    let sentinel = first.replacen(&format!("\"{first_id}\""), "\"SENTINEL-1\"", 1);
    assert_ne!(sentinel, first);
    publish_raw(&format!("{prefix}.in.0"), &sentinel);
    wait_for("the declaration after the repeat decided", Duration::from_secs(60), || bus.screened() as usize > n);
    // A rule approved while the worker runs decides the next declaration:
    // the worker finds the approval in the action log and rebuilds its
    // engine before the batch.
    let rule = bus.dir.join("all.toml");
    std::fs::write(
        &rule,
        "id = \"R-ALL\"\ntitle = \"all\"\nchannel = \"red\"\nweight = 0.9\nwhen = \"total_value_cny > 0\"\n",
    )
    .unwrap();
    bus.account("alice", "risk_analyst", None);
    bus.account("bob", "risk_analyst", None);
    bus.ok_login("alice", &["rules", "add", rule.to_str().unwrap()]);
    bus.ok_login("bob", &["rules", "approve", "R-ALL"]);
    publish_raw(&format!("{prefix}.in.0"), &first.replacen(&format!("\"{first_id}\""), "\"SENTINEL-2\"", 1));
    wait_for("the declaration after the rule decided", Duration::from_secs(60), || bus.screened() as usize > n + 1);
    let (clean, log) = terminate(worker);
    assert!(clean && log.contains("stopped"), "graceful shutdown: {log}");
    assert!(log.contains("reference data changed (rule_approve R-ALL"), "{log}");

    let (a, mut b) = (local.decisions(), bus.decisions());
    assert!(b.remove("SENTINEL-1").is_some(), "the sentinel was decided");
    let ruled = b.remove("SENTINEL-2").expect("the declaration after the rule was decided");
    assert_eq!(ruled["channel"], "red", "{ruled}");
    assert!(ruled["reasons"].to_string().contains("R-ALL"), "the new rule fired: {ruled}");
    assert_eq!(b.len(), n, "one decision per declaration");
    assert_eq!(b[&first_id], before, "a repeated declaration keeps its first decision");
    let differ: Vec<&String> =
        a.keys().filter(|k| without_time(a[*k].clone()) != without_time(b[*k].clone())).collect();
    assert!(differ.is_empty(), "{} of {n} decisions differ from `screen`, e.g. {:?}", differ.len(), differ.first());
    // One decision event per declaration: the repeat was published again
    // (at-least-once) and dropped by its Nats-Msg-Id.
    assert_eq!(captured(&prefix), n as u64 + 2, "n declarations and the two sentinels");
}

/// Lanes and risk values of `run` that differ from `one`'s, in parts of
/// `one`'s decisions.
fn differ_from(one: &BTreeMap<String, serde_json::Value>, run: &BTreeMap<String, serde_json::Value>) -> (f64, f64) {
    let lanes = one.keys().filter(|k| one[*k]["channel"] != run[*k]["channel"]).count();
    let risk = one.keys().filter(|k| one[*k]["risk_value"] != run[*k]["risk_value"]).count();
    (lanes as f64 / one.len() as f64, risk as f64 / one.len() as f64)
}

/// Two workers share one context (every stored declaration and outcome is
/// folded in before each batch) and screen in stream order across
/// partitions (`--order-slack 0`), so they decide exactly like one process
/// screening the same file; a kill -9 of one of them loses and duplicates
/// nothing and changes no decision (the others wait for its partitions'
/// new holder). With a context per partition (before), 18% of the risk
/// values and 2.5% of the lanes differed from one process here. On a
/// loaded machine (CI) the leases churn; the fence (docs/bus.md) keeps a
/// holder that may have lost its lease from committing or announcing a
/// frontier: without it 1,855 of 4,213 decisions differed with three CPU
/// hogs running beside the test (session 19).
#[test]
fn kill_minus_nine_of_one_of_two_workers_loses_and_duplicates_nothing() {
    let test = "kill_minus_nine_of_one_of_two_workers_loses_and_duplicates_nothing";
    let Some((calm, killed, w)) = two_stores_and_a_world(test, 11, 0.1) else { return };
    let one = Env::new();
    let live = w.join("live.jsonl");
    let n = std::fs::read_to_string(&live).unwrap().lines().count();
    one.load(&w);
    one.ok(&["screen", "--clock", "declared", live.to_str().unwrap()]);
    let one_d = one.decisions();
    assert_eq!(one_d.len(), n);
    for (env, kill) in [(&calm, false), (&killed, true)] {
        env.load(&w);
        let prefix = fresh_prefix(if kill { "k" } else { "c" });
        env.ok(&["submit", "--nats-url", NATS, "--bus-prefix", &prefix, "--partitions", "4", live.to_str().unwrap()]);
        let mut a = env.worker(&prefix, "a");
        let b = env.worker(&prefix, "b");
        if kill {
            wait_logged("a third decided", Duration::from_secs(120), || env.screened() as usize >= n / 3, &[&a, &b]);
            a.child.kill().unwrap(); // SIGKILL: no chance to finish or release anything
        }
        let all = || env.screened() as usize >= n;
        wait_logged("every declaration decided", Duration::from_secs(240), all, &[&a, &b]);
        std::thread::sleep(Duration::from_millis(500));
        let log_a = if kill {
            a.child.wait().unwrap();
            a.log()
        } else {
            terminate(a).1
        };
        let (clean, log) = terminate(b);
        assert!(clean, "{log}");
        let d = env.decisions();
        assert_eq!((env.screened() as usize, d.len()), (n, n), "every declaration has exactly one decision");
        let (lanes, risk) = differ_from(&one_d, &d);
        eprintln!("{test}: kill {kill}: {n} decisions, lanes differ {lanes:.4}, risk values differ {risk:.4}");
        let differ: Vec<&String> =
            one_d.keys().filter(|k| without_time(one_d[*k].clone()) != without_time(d[*k].clone())).collect();
        // The workers' logs say whether one screened without waiting for a
        // partition whose frontier stood still (a worker starved for
        // `--order-wait-ms` on a loaded machine: seen once in CI).
        assert!(
            differ.is_empty(),
            "kill {kill}: {} of {n} decisions differ from one process (lanes {lanes:.4}, risk values {risk:.4}), \
             e.g. {:?}\nworker a: {}\nworker b: {}",
            differ.len(),
            differ.first(),
            tail(&log_a),
            tail(&log)
        );
    }
}

/// A one-connection-at-a-time HTTP server: answers 500 to the first
/// request and 200 after; hands every request (headers, body) to the test.
fn flaky_server() -> (String, std::sync::mpsc::Receiver<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                headers.push(line);
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let status = if i == 0 { "500 Internal Server Error" } else { "200 OK" };
            write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            let _ = tx.send((headers, String::from_utf8(body).unwrap()));
        }
    });
    (url, rx)
}

#[test]
fn webhooks_are_signed_retried_with_backoff_and_their_status_shown() {
    use hmac::{Hmac, Mac};
    let e = Env::new();
    let (url, requests) = flaky_server();
    let bad = e.run(&["webhooks", "add", "--kind", "integrity_warning", "--url", &url, "--department", "x"]);
    assert!(!bad.status.success(), "integrity warnings are for supervisors over NATS only");
    let out =
        e.ok(&["--user", "alice", "webhooks", "add", "--kind", "rule_change", "--url", &url, "--department", "audit"]);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let secret = out.lines().last().unwrap().trim().to_string();
    assert_eq!(secret.len(), 64, "{out}");
    assert!(e.ok(&["webhooks", "list"]).contains(&id));

    // A rule change is an event; its delivery fails once, then succeeds.
    let rule = e.dir.join("r.toml");
    std::fs::write(&rule, "id = \"R-WH\"\ntitle = \"phones\"\nwhen = \"any(item: item.hs4 == \\\"8517\\\")\"\n")
        .unwrap();
    e.account("alice", "risk_analyst", None);
    e.ok_login("alice", &["rules", "add", rule.to_str().unwrap()]);
    assert!(e.ok(&["webhooks", "deliver", "--once", "--backoff-secs", "2"]).contains("1 deliveries attempted"));
    let (_, first_body) = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let pending: serde_json::Value =
        serde_json::from_str(&e.ok(&["webhooks", "deliveries", "--format", "json"])).unwrap();
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["attempts"], 1);
    assert_eq!(pending[0]["last_status"], 500);
    // Not due yet: the back-off holds the retry.
    assert!(e.ok(&["webhooks", "deliver", "--once", "--backoff-secs", "2"]).contains("0 deliveries attempted"));
    std::thread::sleep(Duration::from_millis(3100));
    assert!(e.ok(&["webhooks", "deliver", "--once", "--backoff-secs", "2"]).contains("1 deliveries attempted"));
    let (headers, body) = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(body, first_body, "a retry sends the same bytes");
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header("X-Riskgate-Signature"), Some(format!("sha256={expected}")));
    assert_eq!(header("X-Riskgate-Event").as_deref(), Some("rule_change"));
    let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((payload["rule"].as_str(), payload["change"].as_str()), (Some("R-WH"), Some("added")));
    assert!(payload.get("when").is_none(), "rule logic is not broadcast");
    let done: serde_json::Value = serde_json::from_str(&e.ok(&["webhooks", "deliveries", "--format", "json"])).unwrap();
    assert_eq!((done[0]["status"].as_str(), done[0]["attempts"].as_u64()), (Some("delivered"), Some(2)));

    // Registration and removal are in the action log.
    e.ok(&["--user", "bob", "webhooks", "remove", &id, "--reason", "endpoint retired"]);
    let log = e.ok(&["audit", "log"]);
    assert!(log.contains("\"webhook_add\"") && log.contains("\"webhook_remove\""), "{log}");
    assert!(!log.contains(&secret), "the secret never reaches the action log");
}

/// The first message of a captured event stream: subject without the
/// prefix, its `Nats-Msg-Id` and its payload without the decision time.
fn first_event(prefix: &str) -> (String, String, serde_json::Value) {
    rt().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        let s = js.get_stream(format!("{}_EVENTS", prefix.to_uppercase())).await.unwrap();
        let m = s.get_raw_message(1).await.unwrap();
        let id = m.headers.get("Nats-Msg-Id").map(|v| v.to_string()).unwrap_or_default();
        let subject = m.subject.to_string().strip_prefix(prefix).unwrap().to_string();
        (subject, id, without_time(serde_json::from_slice(&m.payload).unwrap()))
    })
}

/// (kind, event id, payload without the decision time) of every webhook delivery.
fn deliveries(store: &dyn Store) -> Vec<(String, String, serde_json::Value)> {
    let mut v: Vec<_> = store
        .deliveries(None, 100)
        .unwrap()
        .into_iter()
        .map(|d| (d.kind, d.event_id, without_time(serde_json::from_str(&d.payload).unwrap())))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// A declaration screened through `serve` (the HTTP server's screening
/// thread with the NATS sink, as `riskgate serve` runs it) publishes the
/// same decision event and enqueues the same webhook delivery as one
/// screened by a bus worker.
#[test]
fn serve_and_a_worker_emit_the_same_decision_event_and_webhook_delivery() {
    if !crate::support::nats_available("serve_and_a_worker_emit_the_same_decision_event_and_webhook_delivery") {
        return;
    }
    let offices = r#"{"code":"0000","name":"HQ","level":"hq"}
{"code":"2200","name":"D","parent":"0000","level":"district"}
{"code":"2201","name":"O","parent":"2200","level":"office"}
"#;
    let decl = r#"{"id":"EV-1","declared_at":"2026-03-01T09:00:00+08:00","direction":"import","office":"2201","transport_mode":"sea","trade_mode":"0110","trader":{"id":"T1"},"declarant":{"id":"B1"},"currency":"CNY","items":[{"line":1,"hs_code":"8517130000","origin":"VN","quantity":10,"net_weight_kg":5.0,"value":1000.0,"duty_rate":0.1}]}"#;
    let (worker_env, serve_env) = (Env::new(), Env::new());
    for env in [&worker_env, &serve_env] {
        let f = env.dir.join("offices.jsonl");
        std::fs::write(&f, offices).unwrap();
        env.ok(&["import", "offices", f.to_str().unwrap()]);
        env.ok(&["webhooks", "add", "--kind", "decision", "--url", "http://127.0.0.1:9/h", "--department", "audit"]);
    }

    // A bus worker.
    let wp = fresh_prefix("ew");
    capture_decisions(&wp);
    let f = worker_env.dir.join("d.jsonl");
    std::fs::write(&f, format!("{decl}\n")).unwrap();
    worker_env.ok(&["submit", "--nats-url", NATS, "--bus-prefix", &wp, "--partitions", "1", f.to_str().unwrap()]);
    let w = worker_env.worker(&wp, "w1");
    wait_for("the worker's decision", Duration::from_secs(60), || worker_env.screened() == 1);
    let (clean, log) = terminate(w);
    assert!(clean, "{log}");

    // The HTTP server's screening path with the NATS sink.
    let sp = fresh_prefix("es");
    capture_decisions(&sp);
    let sink = std::sync::Arc::new(riskgate_bus::NatsSink::start(NATS));
    let at = riskgate_app::StoreAt::Sqlite(serve_env.data());
    let (state, writer) = riskgate_server::start(&at, riskgate_app::events::Emitter::new(&sp, sink.clone())).unwrap();
    let token = {
        let mut app = crate::support::add_account(&at, "admin", "machine", "long enough pw", "machine");
        riskgate_app::accounts::issue_token(&mut app, "machine", "t", vec!["declarations:write".into()]).unwrap().1
    };
    let router = riskgate_server::router(state);
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let status = multi.block_on(async {
        use tower::ServiceExt;
        let req = axum::http::Request::post("/api/v1/declarations")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(decl))
            .unwrap();
        router.oneshot(req).await.unwrap().status()
    });
    assert_eq!(status, 200);
    wait_for("the server's event", Duration::from_secs(10), || {
        riskgate_app::events::EventSink::flush(sink.as_ref());
        captured(&sp) >= 1
    });
    let _ = writer;

    let (from_worker, from_serve) = (first_event(&wp), first_event(&sp));
    assert_eq!(from_worker.0, ".decision.green.2201", "{from_worker:?}");
    assert_eq!(from_worker, from_serve, "worker (left) and serve (right) publish different decision events");
    let (dw, ds) = (deliveries(&worker_env.store()), deliveries(&serve_env.store()));
    assert_eq!(dw.len(), 1, "{dw:?}");
    assert_eq!(dw, ds, "worker (left) and serve (right) enqueue different webhook deliveries");
}

/// A webhook endpoint that answers with a redirect does not get its event
/// sent elsewhere: the delivery records the 3xx and waits for a retry.
#[test]
fn webhooks_never_follow_redirects() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let target = format!("http://{}/steal", elsewhere.local_addr().unwrap());
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", hook.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in hook.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            write!(stream, "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
        }
    });
    let e = Env::new();
    e.ok(&["--user", "alice", "webhooks", "add", "--kind", "rule_change", "--url", &url, "--department", "audit"]);
    let rule = e.dir.join("r.toml");
    std::fs::write(&rule, "id = \"R-RD\"\ntitle = \"phones\"\nwhen = \"any(item: item.hs4 == \\\"8517\\\")\"\n")
        .unwrap();
    e.account("alice", "risk_analyst", None);
    e.ok_login("alice", &["rules", "add", rule.to_str().unwrap()]);
    assert!(e.ok(&["webhooks", "deliver", "--once"]).contains("1 deliveries attempted"));
    let d: serde_json::Value = serde_json::from_str(&e.ok(&["webhooks", "deliveries", "--format", "json"])).unwrap();
    assert_eq!((d[0]["status"].as_str(), d[0]["last_status"].as_u64()), (Some("pending"), Some(307)), "{d}");
    assert!(elsewhere.accept().is_err(), "the redirect target got a connection");
}
