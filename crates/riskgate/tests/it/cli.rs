//! End-to-end tests of the `riskgate` binary as outside harnesses drive it:
//! validation errors, idempotent re-submission, determinism, the rule
//! lifecycle, back-test figures and state surviving restarts.

use std::path::PathBuf;
use std::process::Output;

use crate::support::{Env, generate_world};

impl Env {
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    fn world(&self, seed: u64, scale: f64) -> PathBuf {
        generate_world(&self.dir, seed, scale)
    }
}

const OFFICES: &str = r#"{"code":"0000","name":"海关总署","level":"hq"}
{"code":"2200","name":"上海海关","parent":"0000","level":"district"}
{"code":"2201","name":"浦东海关","parent":"2200","level":"office"}
"#;

fn decl(id: &str, day: u32, trader: &str, hs: &str, value: f64, invoice: &str) -> String {
    format!(
        r#"{{"id":"{id}","declared_at":"2026-03-{day:02}T09:00:00+08:00","direction":"import","office":"2201","transport_mode":"sea","trade_mode":"0110","trader":{{"id":"{trader}"}},"declarant":{{"id":"D1"}},"country_of_departure":"VN","currency":"USD","items":[{{"line":1,"hs_code":"{hs}","origin":"VN","quantity":100,"net_weight_kg":50.0,"value":{value},"duty_rate":0.1}}],"documents":[{{"kind":"invoice","id":"{invoice}"}}]}}"#
    )
}

#[test]
fn bad_records_are_reported_by_line_and_field_and_good_ones_kept() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let good = decl("A1", 1, "T1", "8517130000", 1000.0, "I1");
    let bad_hs = good.replace("\"8517130000\"", "\"85A7\"").replace("\"A1\"", "\"A2\"");
    let bad_office = good.replace("\"2201\"", "\"9999\"").replace("\"A1\"", "\"A3\"");
    let no_items = good.replace(r#""items":[{"#, r#""items":[],"x":[{"#).replace("\"A1\"", "\"A4\"");
    let file = e.write("d.jsonl", &format!("{good}\n{bad_hs}\n{{not json\n{bad_office}\n{no_items}\n"));
    let out = e.run_as("admin", &["screen", &file, "--out", e.dir.join("dec.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a rejected record makes the exit code non-zero");
    let err = String::from_utf8_lossy(&out.stderr).replace(&file, "FILE");
    let lines: Vec<&str> = err.lines().collect();
    expect_test::expect![[r#"
        [
            "FILE line 2: items[0].hs_code: expected 6 to 10 digits, got \"85A7\"",
            "FILE line 3: not valid JSON: key must be a string at line 1 column 2",
            "FILE line 4: office: expected a field office code known to the registry, got \"9999\"",
            "FILE line 5: items: expected a non-empty array of item lines, got an empty array",
            "declarations: 1 accepted, 4 rejected, 0 duplicates",
        ]
    "#]]
    .assert_debug_eq(&lines);
    // One output line per input line, in order; the good declaration is stored.
    let dec = std::fs::read_to_string(e.dir.join("dec.jsonl")).unwrap();
    assert_eq!(dec.lines().count(), 5);
    assert!(dec.lines().next().unwrap().contains("\"channel\""));
    assert!(e.ok_as("admin", &["decision", "A1", "--format", "json"]).contains("\"declaration_id\": \"A1\""));
    let missing = e.run_as("admin", &["decision", "A2"]);
    assert!(!missing.status.success(), "a rejected declaration is not half-stored");
}

#[test]
fn resubmission_returns_the_first_decision_unchanged() {
    let e = Env::new();
    let w = e.world(5, 0.02);
    e.load_as("admin", &w);
    let live = w.join("live.jsonl");
    let (a, b) = (e.dir.join("a.jsonl"), e.dir.join("b.jsonl"));
    e.ok_as("admin", &["screen", live.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    let out = e.run_as("admin", &["screen", live.to_str().unwrap(), "--out", b.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 accepted, 0 rejected"), "{stderr}");
    // Wall-clock timestamps included: the stored decision comes back byte for byte.
    assert_eq!(std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap());
}

/// Screening the same world with the same seed gives the same decisions,
/// whether the live file is screened in one run or split over two runs
/// (state persists through the checkpoint and replay).
#[test]
fn decisions_are_deterministic_and_survive_restarts() {
    let e1 = Env::new();
    let e2 = Env::new();
    let e3 = Env::new();
    let w = e1.world(9, 0.03);
    let live = std::fs::read_to_string(w.join("live.jsonl")).unwrap();
    let lines: Vec<&str> = live.lines().collect();
    let half = lines.len() / 2;
    let first = e2.write("first.jsonl", &(lines[..half].join("\n") + "\n"));
    let second = e2.write("second.jsonl", &(lines[half..].join("\n") + "\n"));
    for e in [&e1, &e2, &e3] {
        e.ok_as("admin", &["config", "set", "seed", "42"]);
        e.load_as("admin", &w);
    }
    let one = e1.dir.join("one.jsonl");
    e1.ok_as(
        "admin",
        &["screen", w.join("live.jsonl").to_str().unwrap(), "--clock", "declared", "--out", one.to_str().unwrap()],
    );
    let whole = std::fs::read_to_string(one).unwrap();
    assert_eq!(whole.lines().count(), lines.len());
    assert!(whole.contains("\"channel\":\"red\"") || whole.contains("\"channel\":\"yellow\""), "some controls");
    // e2: the same traffic in two runs (checkpoint and replay between them);
    // e3: likewise, but with the checkpoint damaged between the runs — the
    // state is rebuilt by replaying the store, and decisions do not change.
    for (e, damage) in [(&e2, false), (&e3, true)] {
        let (p1, p2) = (e.dir.join("p1.jsonl"), e.dir.join("p2.jsonl"));
        e.ok_as("admin", &["screen", &first, "--clock", "declared", "--out", p1.to_str().unwrap()]);
        if damage {
            let conn = rusqlite::Connection::open(e.data().join("riskgate.db")).unwrap();
            assert_eq!(conn.execute("UPDATE checkpoint SET body = X'7b6e6f74'", []).unwrap(), 1);
        }
        let out = e.run_as("admin", &["screen", &second, "--clock", "declared", "--out", p2.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let warned = String::from_utf8_lossy(&out.stderr).contains("checkpoint does not decode");
        assert_eq!(warned, damage, "{}", String::from_utf8_lossy(&out.stderr));
        let split = std::fs::read_to_string(p1).unwrap() + &std::fs::read_to_string(p2).unwrap();
        assert!(whole == split, "split run differs from the single run (checkpoint damaged: {damage})");
    }
}

#[test]
fn rule_lifecycle_four_eyes_and_validity() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let rule = e.write(
        "r.toml",
        "id = \"R-1\"\ntitle = \"phones\"\nchannel = \"red\"\nweight = 0.5\ninstructions = \"open the box\"\nwhen = \"any(item: item.hs_code starts_with \\\"8517\\\")\"\n",
    );
    let expired = e.write(
        "old.toml",
        "id = \"R-OLD\"\ntitle = \"old\"\nchannel = \"red\"\nvalid_to = \"2026-01-31\"\nwhen = \"item_count >= 1\"\n",
    );
    let bad = e.write(
        "bad.toml",
        "id = \"R-BAD\"\ntitle = \"x\"\nwhen = \"\"\"\ntrade_mode == \"0110\" and\n  item.hs_code == 1\n\"\"\"\n",
    );
    // Writing and approving rules needs a proven identity: the local
    // operator (no credentials, whatever --user claims) is refused.
    for who in [None, Some("alice")] {
        let mut c = e.command();
        if let Some(w) = who {
            c.args(["--user", w]);
        }
        let out = c.args(["rules", "add", &rule]).output().unwrap();
        assert!(!out.status.success(), "{who:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs an authenticated user") && err.contains("RISKGATE_LOGIN_PASSWORD"), "{err}");
    }
    e.account("alice", "risk_analyst", None);
    e.account("bob", "risk_analyst", None);
    e.account("olga", "field_officer", Some("2201"));
    let wrong = e
        .command()
        .args(["--user", "alice", "rules", "add", &rule])
        .env("RISKGATE_LOGIN_PASSWORD", "not her password")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("authentication failed for alice"), "{wrong:?}");
    let officer = e.run_login("olga", &["rules", "add", &rule]);
    assert!(String::from_utf8_lossy(&officer.stderr).contains("may not do this (RuleLogic)"), "{officer:?}");
    // An API token acts as its user within its scopes (never rules); a
    // revoked or malformed one is refused.
    let token = e.ok(&["tokens", "issue", "--user", "alice", "--name", "cli", "--scope", "read"]).trim().to_string();
    let with = |t: &str, args: &[&str]| e.command().env("RISKGATE_TOKEN", t).args(args).output().unwrap();
    let scoped = with(&token, &["rules", "add", &rule]);
    assert!(String::from_utf8_lossy(&scoped.stderr).contains("an API token of alice"), "{scoped:?}");
    assert!(with(&token, &["kpi"]).status.success());
    let id = token.split('_').nth(1).unwrap();
    e.ok(&["tokens", "revoke", id]);
    let revoked = with(&token, &["kpi"]);
    assert!(String::from_utf8_lossy(&revoked.stderr).contains(&format!("authentication failed for token {id}")));
    assert!(
        String::from_utf8_lossy(&with("secret", &["kpi"]).stderr).contains("RISKGATE_TOKEN: expected an API token")
    );
    let out = e.run_login("alice", &["rules", "add", &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, column"), "parse errors give line and column: {err}");

    e.ok_login("alice", &["rules", "add", &rule]);
    e.ok_login("alice", &["rules", "add", &expired]);
    // A draft never fires.
    e.ok_as("admin", &["screen", &e.write("d1.jsonl", &(decl("P1", 2, "T1", "8517130000", 1000.0, "I1") + "\n"))]);
    let d = e.ok_as("admin", &["decision", "P1", "--format", "json"]);
    assert!(!d.contains("R-1"), "unapproved rule fired: {d}");
    // The author cannot approve their own rule.
    let own = e.run_login("alice", &["rules", "approve", "R-1"]);
    assert!(!own.status.success());
    assert!(String::from_utf8_lossy(&own.stderr).contains("four-eyes"));
    let claimed = e.run_as("bob", &["rules", "approve", "R-1"]);
    assert!(String::from_utf8_lossy(&claimed.stderr).contains("needs an authenticated user"), "{claimed:?}");
    e.ok_login("bob", &["rules", "approve", "R-1"]);
    e.ok_login("bob", &["rules", "approve", "R-OLD"]);
    e.ok_as("admin", &["screen", &e.write("d2.jsonl", &(decl("P2", 3, "T1", "8517130000", 1000.0, "I2") + "\n"))]);
    let d = e.ok_as("admin", &["decision", "P2", "--format", "json"]);
    assert!(d.contains("\"id\": \"R-1\"") && d.contains("\"channel\": \"red\""), "{d}");
    assert!(!d.contains("R-OLD"), "a rule past its validity fired: {d}");
    assert!(e.ok_as("admin", &["tasks"]).contains("open the box"));
    e.ok_login("bob", &["rules", "retire", "R-1", "--reason", "done"]);
    e.ok_as("admin", &["screen", &e.write("d3.jsonl", &(decl("P3", 4, "T1", "8517130000", 1000.0, "I3") + "\n"))]);
    assert!(!e.ok_as("admin", &["decision", "P3", "--format", "json"]).contains("R-1"), "a retired rule fired");
    // Every change is in the action log and the chain verifies.
    let log = e.ok_as("admin", &["audit", "log"]);
    for action in ["rule_add", "rule_approve", "rule_retire", "login_failed"] {
        assert!(log.contains(action), "{action} missing from the log");
    }
    // Local commands are logged as such.
    assert!(log.contains("local:admin") && !log.contains("\tadmin\t"), "{log}");
    // The same search as the API: filters, paging, and the read logged
    // first (reads shown only when asked for).
    let kinds = |log: &str| -> Vec<String> {
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]["action"].to_string())
            .collect()
    };
    assert!(!kinds(&log).iter().any(|k| k.contains("_read")), "reads are left out by default: {log}");
    assert_eq!(kinds(&e.ok_as("admin", &["audit", "log", "--reads", "--limit", "1"])), ["\"actions_read\""]);
    assert_eq!(kinds(&e.ok_as("admin", &["audit", "log", "--action", "rule_retire"])), ["\"rule_retire\""]);
    let approvals = e.ok_as("admin", &["audit", "log", "--action", "rule_approve"]);
    let second = e.ok_as("admin", &["audit", "log", "--action", "rule_approve", "--offset", "1"]);
    assert_eq!(second.lines().collect::<Vec<_>>(), approvals.lines().skip(1).collect::<Vec<_>>());
    assert_eq!(e.ok_as("admin", &["audit", "log", "--officer", "nobody"]), "");
    assert_eq!(e.ok_as("admin", &["audit", "log", "--to", "2000-01-01"]), "");
    let bad = e.run_as("admin", &["audit", "log", "--from", "2026-13-01"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("from"), "{bad:?}");
    assert!(e.ok_as("admin", &["audit", "verify"]).contains("intact"));
}

/// Four stored past declarations, two of them controlled; the draft rule
/// hits declarations 1, 2 and 4.
#[test]
fn backtest_figures_on_a_hand_checked_history() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let hist = [
        decl("H1", 1, "T1", "8517130000", 1000.0, "I1"),
        decl("H2", 1, "T2", "8517130000", 2000.0, "I2"),
        decl("H3", 2, "T3", "6203420000", 500.0, "I3"),
        decl("H4", 3, "T4", "8517120000", 800.0, "I4"),
    ]
    .join("\n");
    e.ok_as("admin", &["import", "declarations", "--historical", &e.write("h.jsonl", &(hist + "\n"))]);
    let outcomes = r#"{"declaration_id":"H1","officer":"E1","control":"physical","completed_at":"2026-03-01T12:00:00+08:00","result":"finding","findings":["undervaluation"],"additional_duty":300.0}
{"declaration_id":"H2","officer":"E1","control":"document","completed_at":"2026-03-01T13:00:00+08:00","result":"no_finding"}
{"declaration_id":"H3","officer":"E1","control":"document","completed_at":"2026-03-02T13:00:00+08:00","result":"finding","findings":["origin"],"additional_duty":50.0}
"#;
    e.ok_as("admin", &["import", "outcomes", &e.write("o.jsonl", outcomes)]);
    let rule = e.write("r.toml", "id = \"R-BT\"\ntitle = \"phones\"\nwhen = \"any(item: item.hs4 == \\\"8517\\\")\"\n");
    let out = e.ok_as("alice", &["rules", "backtest", &rule, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["declarations"], 4);
    assert_eq!(v["hits"], 3);
    assert_eq!(v["hits_controlled"], 2);
    assert_eq!(v["hits_with_finding"], 1);
    assert_eq!(v["hit_rate_on_controlled"], 0.5);
    assert_eq!(v["revenue_cny"], 300.0);
    assert_eq!(v["added_controls"], 1);
    assert_eq!(v["added_targeting_rate"], 0.25);
    assert_eq!(v["load_per_office"]["2201"][0], 3);
}

#[test]
fn outcomes_for_unknown_declarations_are_rejected() {
    let e = Env::new();
    let o = r#"{"declaration_id":"NOPE","officer":"E1","control":"physical","completed_at":"2026-03-01T12:00:00+08:00","result":"no_finding"}"#;
    let out = e.run_as("admin", &["import", "outcomes", &e.write("o.jsonl", &(o.to_string() + "\n"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("line 1: declaration_id: expected the id of a stored declaration, got \"NOPE\"")
    );
}

#[test]
fn kpis_roll_up_and_show_their_formulas() {
    let e = Env::new();
    let w = e.world(3, 0.02);
    e.load_as("admin", &w);
    e.ok_as("admin", &["screen", w.join("live.jsonl").to_str().unwrap(), "--clock", "declared"]);
    let v: serde_json::Value = serde_json::from_str(&e.ok_as("admin", &["kpi", "--format", "json"])).unwrap();
    let units = v["units"].as_array().unwrap();
    let hq = &units[0];
    assert_eq!(hq["level"], "hq");
    let fig = |u: &serde_json::Value, k: &str| {
        u["figures"].as_array().unwrap().iter().find(|f| f["key"] == k).unwrap().clone()
    };
    assert_eq!(fig(hq, "screened")["value"], 1.0);
    assert_eq!(
        fig(hq, "targeting_rate")["formula"],
        "declarations with a completed border control (engine, officer override or manual) ÷ declarations"
    );
    // No control has been carried out yet: the engine's own rate is there.
    assert_eq!(fig(hq, "targeting_rate")["value"], 0.0);
    // HQ's numerators are the sums of its districts'.
    let districts: Vec<&serde_json::Value> = units.iter().filter(|u| u["level"] == "district").collect();
    let sum: f64 = districts.iter().map(|d| fig(d, "engine_targeting_rate")["numerator"].as_f64().unwrap()).sum();
    assert_eq!(sum, fig(hq, "engine_targeting_rate")["numerator"].as_f64().unwrap());
    let rate = fig(hq, "engine_targeting_rate")["value"].as_f64().unwrap();
    assert!((0.02..0.07).contains(&rate), "targeting rate {rate}");
    assert_eq!(
        fig(hq, "estimated_finding_rate_uncontrolled")["formula"],
        "findings of random controls ÷ random controls completed"
    );

    // Risk levels of enterprises (M3): recomputed, highest first, with history.
    e.ok_as("analyst", &["levels", "recompute"]);
    e.ok_as("analyst", &["levels", "recompute"]);
    let levels: Vec<serde_json::Value> =
        serde_json::from_str(&e.ok_as("analyst", &["levels", "enterprises", "--format", "json", "--limit", "1000"]))
            .unwrap();
    assert!(!levels.is_empty());
    assert!(levels.windows(2).all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()), "highest first");
    assert!(levels.iter().all(|l| ["low", "medium", "high"].contains(&l["level"].as_str().unwrap())));
    let key = levels[0]["key"].as_str().unwrap();
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&e.ok_as("analyst", &["levels", "enterprises", "--key", key, "--format", "json"]))
            .unwrap();
    assert!(!history.is_empty() && history.iter().all(|h| h["key"] == key));
}

/// A legacy CSV export (one row per item) through a TOML column mapping;
/// bad rows are reported with their CSV line and field.
#[test]
fn csv_import_through_a_column_mapping() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let csv = "Declaration ID,Date,Office,Mode,Importer,Broker,HS,Origin,Qty,Kg,Price,Tax %\n\
               C1,2026-03-01,2201,10,T1,B1,851713,VN,10,5,1000,10\n\
               C1,2026-03-01,2201,10,T1,B1,847130,CN,2,4,800,0\n\
               C2,2026-03-02,2201,40,T2,B1,85A7,VN,1,1,10,0\n\
               C3,2026-03-03,2201,99,T3,B2,620342,BD,100,30,500,16\n";
    let mapping = r#"
group_by = "Declaration ID"
[header]
id = "Declaration ID"
declared_at = { column = "Date", format = "%Y-%m-%d", time = "09:00:00", offset = "+08:00" }
direction = { value = "import" }
office = "Office"
transport_mode = { column = "Mode", map = { "10" = "sea", "40" = "air" }, default = "other" }
trade_mode = { value = "0110" }
"trader.id" = "Importer"
"declarant.id" = "Broker"
currency = { value = "USD" }
[item]
hs_code = "HS"
origin = "Origin"
quantity = "Qty"
net_weight_kg = "Kg"
value = "Price"
duty_rate = { column = "Tax %", scale = 0.01 }
"#;
    let file = e.write("legacy.csv", csv);
    let out = e.run_as("admin", &["import", "csv", "--mapping", &e.write("map.toml", mapping), &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).replace(&file, "FILE");
    expect_test::expect![[r#"
        FILE line 4: items[0].hs_code: expected 6 to 10 digits, got "85A7"
        declarations (csv): 2 accepted, 1 rejected, 0 duplicates
    "#]]
    .assert_eq(&err);
    let d: serde_json::Value =
        serde_json::from_str(&e.ok_as("admin", &["decision", "C1", "--format", "json"])).unwrap();
    assert_eq!(d["declaration_id"], "C1");
    assert!(e.ok_as("admin", &["decision", "C3"]).contains("C3"));
}

/// A line that is not UTF-8 half-way through a file is refused like any
/// bad line, naming its line and the offset of the bad byte in the line
/// and the file; the lines before and after it are stored (the file used
/// to stop there, after earlier batches were stored). So for screening,
/// history, record imports and CSV alike.
#[test]
fn a_line_that_is_not_utf8_is_refused_by_line_and_the_others_kept() {
    let e = Env::new();
    // `"D1"` with a Latin-1 é (0xE9) for the 1: not UTF-8.
    let latin1 = |line: String| -> Vec<u8> {
        let at = line.find("\"D1\"").unwrap() + 2;
        let mut b = line.into_bytes();
        b[at] = 0xE9;
        b
    };
    let file_of = |name: &str, lines: Vec<Vec<u8>>| -> (String, usize, usize) {
        let bad = lines.iter().position(|l| std::str::from_utf8(l).is_err()).unwrap();
        let in_line = std::str::from_utf8(&lines[bad]).unwrap_err().valid_up_to();
        let before: usize = lines[..bad].iter().map(|l| l.len() + 1).sum();
        let p = e.dir.join(name);
        std::fs::write(&p, lines.join(&b'\n')).unwrap();
        (p.display().to_string(), in_line, before + in_line)
    };
    let stderr = |out: &Output, file: &str| {
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).replace(file, "FILE")
    };
    let not_utf8 = |line: usize, at: usize, offset: usize| {
        format!(
            "FILE line {line}: not UTF-8 text: byte 0xE9 at offset {at} of the line (offset {offset} of the file); the file must be UTF-8"
        )
    };

    // Offices: the third of four lines.
    let mut offices: Vec<Vec<u8>> = OFFICES.lines().map(|l| l.as_bytes().to_vec()).collect();
    offices.insert(2, latin1(r#"{"code":"2202","name":"D1","parent":"2200","level":"office"}"#.to_string()));
    let (file, at, offset) = file_of("offices.jsonl", offices);
    let err = stderr(&e.run_as("admin", &["import", "offices", &file]), &file);
    assert_eq!(err, format!("{}\noffices: 3 accepted, 1 rejected, 0 duplicates\n", not_utf8(3, at, offset)));

    // Screening: the second of three declarations.
    let lines = vec![
        decl("U1", 1, "T1", "8517130000", 1000.0, "I1").into_bytes(),
        latin1(decl("U2", 1, "T2", "8517130000", 1000.0, "I2")),
        decl("U3", 1, "T3", "8517130000", 1000.0, "I3").into_bytes(),
    ];
    let (file, at, offset) = file_of("live.jsonl", lines);
    let dec = e.dir.join("dec.jsonl");
    let err = stderr(&e.run_as("admin", &["screen", &file, "--out", dec.to_str().unwrap()]), &file);
    assert_eq!(err, format!("{}\ndeclarations: 2 accepted, 1 rejected, 0 duplicates\n", not_utf8(2, at, offset)));
    let out: Vec<serde_json::Value> =
        std::fs::read_to_string(&dec).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(out.len(), 3, "one output line per input line");
    assert_eq!(out[1]["error"]["code"], "invalid_field");
    for id in ["U1", "U3"] {
        assert!(e.ok_as("admin", &["decision", id]).contains(id));
    }

    // History: the first of two.
    let lines = vec![
        latin1(decl("H1", 1, "T1", "8517130000", 1000.0, "J1")),
        decl("H2", 1, "T2", "8517130000", 1000.0, "J2").into_bytes(),
    ];
    let (file, at, offset) = file_of("history.jsonl", lines);
    let err = stderr(&e.run_as("admin", &["import", "declarations", "--historical", &file]), &file);
    assert!(err.starts_with(&format!("{}\n", not_utf8(1, at, offset))), "{err}");
    assert!(err.contains("1 accepted, 1 rejected"), "{err}");

    // CSV: the second of three rows (a whole declaration) is refused.
    let mapping = e.write(
        "map.toml",
        r#"group_by = "ID"
[header]
id = "ID"
declared_at = { column = "Date", format = "%Y-%m-%d" }
direction = { value = "import" }
office = { value = "2201" }
transport_mode = { value = "sea" }
trade_mode = { value = "0110" }
"trader.id" = { value = "T1" }
"declarant.id" = "Broker"
currency = { value = "USD" }
[item]
hs_code = { value = "851713" }
origin = { value = "VN" }
quantity = { value = "1" }
net_weight_kg = { value = "1" }
value = { value = "100" }
duty_rate = { value = "0" }
"#,
    );
    let rows = vec![
        b"ID,Date,Broker".to_vec(),
        b"V1,2026-03-01,B1".to_vec(),
        latin1("V2,2026-03-01,\"D1\"".into()),
        b"V3,2026-03-01,B1".to_vec(),
    ];
    let (file, _, _) = file_of("legacy.csv", rows);
    let err = stderr(&e.run_as("admin", &["import", "csv", "--mapping", &mapping, &file]), &file);
    expect_test::expect![[r#"
        FILE line 3: not UTF-8 text: column "Broker" has a bad byte at offset 1 of the cell (the row starts at offset 32 of the file); the file must be UTF-8
        declarations (csv): 2 accepted, 1 rejected, 0 duplicates
    "#]]
    .assert_eq(&err);
    for id in ["V1", "V3"] {
        assert!(e.ok_as("admin", &["decision", id]).contains(id));
    }
}

/// A key given twice in one object of a record is refused by line, naming
/// the key's path, whatever the import; the other lines go on.
#[test]
fn a_repeated_json_key_is_refused_by_line_and_key() {
    let e = Env::new();
    let offices =
        OFFICES.to_string() + r#"{"code":"2202","name":"x","parent":"2200","parent":"0000","level":"office"}"# + "\n";
    let file = e.write("offices.jsonl", &offices);
    let out = e.run_as("admin", &["import", "offices", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).replace(&file, "FILE");
    let twice = decl("R1", 1, "T1", "8517130000", 1000.0, "I1").replacen(r#""id":"R1""#, r#""id":"R1","id":"R2""#, 1);
    let nested = decl("R3", 1, "T1", "8517130000", 1000.0, "I3").replacen(
        r#""origin":"VN""#,
        r#""origin":"VN","origin":"CN""#,
        1,
    );
    let good = decl("R4", 1, "T1", "8517130000", 1000.0, "I4");
    let live = e.write("live.jsonl", &format!("{twice}\n{nested}\n{good}\n"));
    let out = e.run_as("admin", &["import", "declarations", &live]);
    assert_eq!(out.status.code(), Some(1));
    let err = err + &String::from_utf8_lossy(&out.stderr).replace(&live, "FILE");
    expect_test::expect![[r#"
        FILE line 4: parent: expected each key at most once per object, got it repeated at line 1 column 50
        offices: 3 accepted, 1 rejected, 0 duplicates
        FILE line 1: id: expected each key at most once per object, got it repeated at line 1 column 15
        FILE line 2: items[0].origin: expected each key at most once per object, got it repeated at line 1 column 287
        declarations: 1 accepted, 2 rejected, 0 duplicates
    "#]]
    .assert_eq(&err);
    assert!(e.ok_as("admin", &["decision", "R4"]).contains("R4"));
    for id in ["R1", "R2", "R3"] {
        assert!(!e.run_as("admin", &["decision", id]).status.success(), "{id} stored");
    }
}

/// Payments are reloaded from their table on every start; a restart must
/// not count them twice (a declaration paid exactly as declared shows no
/// forex mismatch, however many commands ran before).
#[test]
fn forex_payments_are_not_double_counted_after_restarts() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let pay =
        r#"{"trader":"T1","paid_at":"2026-03-01T10:00:00+08:00","amount":1000.0,"currency":"USD","reference":"I9"}"#;
    e.ok_as("admin", &["import", "forex", &e.write("fx.jsonl", &(pay.to_string() + "\n"))]);
    let hist = decl("H1", 1, "T2", "8517130000", 500.0, "I1");
    e.ok_as("admin", &["import", "declarations", "--historical", &e.write("h.jsonl", &(hist + "\n"))]);
    e.ok_as("admin", &["kpi"]);
    e.ok_as("admin", &["screen", &e.write("d.jsonl", &(decl("P1", 2, "T1", "8517130000", 1000.0, "I9") + "\n"))]);
    let d = e.ok_as("admin", &["decision", "P1", "--format", "json"]);
    assert!(!d.contains("forex_paid_vs_declared"), "payment counted more than once: {d}");
    // And a real mismatch is still seen.
    let pay2 =
        r#"{"trader":"T1","paid_at":"2026-03-01T10:00:00+08:00","amount":2000.0,"currency":"USD","reference":"I8"}"#;
    e.ok_as("admin", &["import", "forex", &e.write("fx2.jsonl", &(pay2.to_string() + "\n"))]);
    e.ok_as("admin", &["screen", &e.write("d2.jsonl", &(decl("P2", 3, "T1", "8517130000", 1000.0, "I8") + "\n"))]);
    assert!(e.ok_as("admin", &["decision", "P2", "--format", "json"]).contains("forex_paid_vs_declared"));
}

/// Workforce records (DATA.md): each kind validated, tied to the registry,
/// stored once; a litigation case's outcome can move on.
#[test]
fn workforce_records_are_validated_and_stored_once() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let officers = r#"{"id":"E1","name":"王一","office":"2201","post":"inspection"}"#;
    e.ok_as("admin", &["import", "officers", &e.write("officers.jsonl", &(officers.to_string() + "\n"))]);
    let cases = [
        (
            "disciplinary",
            r#"{"officer":"E1","opened_at":"2026-02-01","kind":"bribery","status":"substantiated"}
{"officer":"E9","opened_at":"2026-02-01","kind":"bribery","status":"open"}
{"officer":"E1","opened_at":"2026-02-01","kind":"bribery","status":"substantiated"}"#,
        ),
        (
            "inspections",
            r#"{"unit":"2201","inspected_at":"2026-03-01T10:00:00+08:00","passed":true}
{"unit":"2201","inspected_at":"2026-03-01T10:00:00+08:00","passed":"yes"}"#,
        ),
        (
            "assessments",
            r#"{"unit":"2200","year":2026,"passed":false}
{"unit":"9999","year":2026,"passed":true}"#,
        ),
        (
            "litigation",
            r#"{"id":"L1","office":"2201","filed_at":"2026-01-10","outcome":"pending"}
{"id":"L1","office":"2201","filed_at":"2026-01-10","outcome":"withdrawn"}
{"id":"L2","office":"2201","filed_at":"2026-01-10","outcome":"settled"}"#,
        ),
    ];
    let mut report = String::new();
    for (kind, text) in cases {
        let file = e.write(&format!("{kind}.jsonl"), &(text.to_string() + "\n"));
        let out = e.run_as("admin", &["import", kind, &file]);
        report.push_str(&String::from_utf8_lossy(&out.stderr).replace(&file, kind));
    }
    expect_test::expect![[r#"
        disciplinary line 2: officer: expected an officer id known to the registry, got "E9"
        disciplinary cases: 1 accepted, 1 rejected, 1 duplicates
        inspections line 2: passed: expected true or false, got "yes"
        inspections: 1 accepted, 1 rejected, 0 duplicates
        assessments line 2: unit: expected an office code known to the registry, got "9999"
        assessments: 1 accepted, 1 rejected, 0 duplicates
        litigation line 3: outcome: expected one of "won", "lost", "withdrawn", "pending", got "settled"
        litigation cases: 2 accepted, 1 rejected, 0 duplicates
    "#]]
    .assert_eq(&report);

    // Workforce KPIs (M9) inside `kpi`, rolled up office → district → HQ.
    let lit = r#"{"id":"L3","office":"2201","filed_at":"2026-02-10","outcome":"lost"}
{"id":"L4","office":"2201","filed_at":"2026-02-11","outcome":"won"}
"#;
    e.ok_as("admin", &["import", "litigation", &e.write("lit2.jsonl", lit)]);
    e.ok_as(
        "admin",
        &["screen", &e.write("d.jsonl", &(decl("220120260000000001", 2, "T1", "8471300000", 900.0, "I1") + "\n"))],
    );
    let v: serde_json::Value = serde_json::from_str(
        &e.ok_as("admin", &["kpi", "--format", "json", "--from", "2026-01-01", "--to", "2026-12-31"]),
    )
    .unwrap();
    let mut rows = Vec::new();
    for u in v["units"].as_array().unwrap() {
        for f in u["figures"].as_array().unwrap() {
            let key = f["key"].as_str().unwrap();
            if [
                "litigation_win_rate",
                "internal_affairs_pass_rate",
                "leadership_assessment_pass_rate",
                "misconduct_case_rate",
            ]
            .contains(&key)
            {
                rows.push(format!(
                    "{} {key} {}/{:.3} = {}",
                    u["code"].as_str().unwrap(),
                    f["numerator"],
                    f["denominator"].as_f64().unwrap(),
                    f["value"]
                ));
            }
        }
    }
    expect_test::expect![[r#"
        0000 litigation_win_rate 2.0/3.000 = 0.6666666666666666
        0000 internal_affairs_pass_rate 1.0/1.000 = 1.0
        0000 leadership_assessment_pass_rate 0.0/1.000 = 0.0
        0000 misconduct_case_rate 1.0/0.999 = 1.0006849315068493
        2200 litigation_win_rate 2.0/3.000 = 0.6666666666666666
        2200 internal_affairs_pass_rate 1.0/1.000 = 1.0
        2200 leadership_assessment_pass_rate 0.0/1.000 = 0.0
        2200 misconduct_case_rate 1.0/0.999 = 1.0006849315068493
        2201 litigation_win_rate 2.0/3.000 = 0.6666666666666666
        2201 internal_affairs_pass_rate 1.0/1.000 = 1.0
        2201 leadership_assessment_pass_rate 0.0/0.000 = null
        2201 misconduct_case_rate 1.0/0.999 = 1.0006849315068493"#]]
    .assert_eq(&rows.join("\n"));
    let table = e.ok_as("admin", &["kpi"]);
    assert!(table.contains("违纪违法涉案率 staff misconduct case rate (per year) = substantiated disciplinary cases ÷ (officers × years covered); open, dismissed and cleared cases are not counted"), "{table}");
}

/// A model in shadow scores every declaration but never changes a lane:
/// two stores, one with a shadow model, decide identically.
#[test]
fn a_shadow_model_never_changes_a_lane() {
    let holder = Env::new();
    let w = holder.world(21, 0.25);
    let (plain, shadowed) = (Env::new(), Env::new());
    for e in [&plain, &shadowed] {
        e.ok_as("admin", &["config", "set", "seed", "5"]);
        e.load_as("admin", &w);
    }
    let out = shadowed.ok_as("analyst", &["model", "train", "--iterations", "40", "--format", "json"]);
    let trained = serde_json::from_str::<serde_json::Value>(&out).unwrap();
    let id = trained["id"].as_str().unwrap().to_string();
    // The model put into service is trained again on every outcome, the
    // evaluation window's included; `--no-refit` keeps the evaluated one.
    let e = &trained["evaluation"];
    let rows = |e: &serde_json::Value, k: &str| e[k].as_u64().unwrap();
    assert_eq!(rows(e, "deployed_rows"), rows(e, "train_rows") + rows(e, "eval_rows"), "{e}");
    assert!(rows(e, "deployed_findings") > rows(e, "train_findings"), "{e}");
    let kept = plain.ok_as(
        "analyst",
        &["model", "train", "--iterations", "40", "--no-refit", "--half-life", "30", "--format", "json"],
    );
    let kept = &serde_json::from_str::<serde_json::Value>(&kept).unwrap()["evaluation"];
    assert_eq!(rows(kept, "deployed_rows"), rows(kept, "train_rows"), "{kept}");
    assert_eq!(kept["half_life_days"], serde_json::json!(30.0), "{kept}");
    let refused = plain.run_as("analyst", &["model", "train", "--half-life", "0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--half-life"), "{refused:?}");
    shadowed.account("analyst", "risk_analyst", None);
    shadowed.ok_login("analyst", &["model", "shadow", &id]);
    let live = w.join("live.jsonl");
    let (a, b) = (plain.dir.join("a.jsonl"), shadowed.dir.join("b.jsonl"));
    plain.ok_as("admin", &["screen", live.to_str().unwrap(), "--clock", "declared", "--out", a.to_str().unwrap()]);
    shadowed.ok_as("admin", &["screen", live.to_str().unwrap(), "--clock", "declared", "--out", b.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), std::fs::read_to_string(&b).unwrap());
    // The shadow model did score: its comparison is shown once outcomes exist.
    let truth = w.join("truth.jsonl");
    let outs = shadowed.dir.join("o.jsonl");
    shadowed.ok_as(
        "admin",
        &[
            "simulate",
            "--truth",
            truth.to_str().unwrap(),
            "--decisions",
            b.to_str().unwrap(),
            "--out",
            outs.to_str().unwrap(),
        ],
    );
    shadowed.ok_as("admin", &["import", "outcomes", outs.to_str().unwrap()]);
    assert!(shadowed.ok_as("admin", &["model", "show", &id]).contains("shadow comparison"));
    model_over_http(&shadowed.data(), &id);
}

/// A trained model's detail and status change over HTTP, each answer
/// validated against the OpenAPI document.
fn model_over_http(data: &std::path::Path, id: &str) {
    use riskgate_server::testing::{call, check_answer};
    let at = riskgate_app::StoreAt::Sqlite(data.to_path_buf());
    drop(crate::support::add_account(&at, "setup", "ana", "correct horse", "risk_analyst"));
    let sink = std::sync::Arc::new(riskgate_app::events::NoSink);
    let (state, writer) = riskgate_server::start(&at, riskgate_app::events::Emitter::new("t", sink)).unwrap();
    let router = riskgate_server::router(state);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let login = serde_json::json!({"username": "ana", "password": "correct horse"});
        let cookie = call(&router, "POST", "/api/v1/session", "none", Some(login)).await.cookie.unwrap();
        let doc = call(&router, "GET", "/api/v1/openapi.json", "none", None).await.body;
        let m = call(&router, "GET", &format!("/api/v1/models/{id}"), &cookie, None).await;
        assert_eq!(m.status, 200, "{}", m.body);
        assert!(m.body["shadow_comparison"]["controlled_with_outcome"].as_u64() > Some(0), "{}", m.body);
        check_answer(&doc, "get", "/api/v1/models/{id}", 200, &m.body).unwrap();
        let retire = serde_json::json!({"status": "retired"});
        let s = call(&router, "POST", &format!("/api/v1/models/{id}/status"), &cookie, Some(retire)).await;
        assert_eq!((s.status.as_u16(), s.body["status"].as_str()), (200, Some("retired")), "{}", s.body);
        check_answer(&doc, "post", "/api/v1/models/{id}/status", 200, &s.body).unwrap();
    });
    drop(router);
    writer.join().unwrap();
}

#[test]
fn durability_is_chosen_by_environment_and_checked() {
    let e = Env::new();
    let run = |v: &str| {
        crate::support::bin()
            .env("RISKGATE_DURABILITY", v)
            .arg("--data")
            .arg(e.data())
            .args(["config", "show"])
            .output()
            .unwrap()
    };
    assert!(run("power").status.success());
    assert!(run("process").status.success());
    let bad = run("sometimes");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RISKGATE_DURABILITY: expected \"process\" or \"power\""));
}

/// A small world with its history loaded and its live traffic screened;
/// returns the decisions written.
fn screened_world(e: &Env, seed: u64, scale: f64, colluders: usize) -> (PathBuf, Vec<serde_json::Value>) {
    let w = e.dir.join(format!("world-{seed}-{colluders}"));
    let out = crate::support::bin()
        .args(["generate", "--seed", &seed.to_string(), "--scale", &scale.to_string()])
        .args(["--colluders", &colluders.to_string()])
        .arg(&w)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    e.load_as("admin", &w);
    let decisions = e.dir.join("decisions.jsonl");
    let live = w.join("live.jsonl");
    e.ok_as("admin", &["screen", live.to_str().unwrap(), "--clock", "declared", "--out", decisions.to_str().unwrap()]);
    let values = std::fs::read_to_string(&decisions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    (w, values)
}

/// The latest entry of the action log before the read that shows it (the
/// first line: that read's own `actions_read`).
fn last_action(e: &Env) -> serde_json::Value {
    let log = e.ok_as("admin", &["audit", "log", "--reads", "--limit", "2"]);
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["action"]["action"], "actions_read", "the read is logged first: {log}");
    serde_json::from_str(log.lines().nth(1).unwrap()).unwrap()
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    let e = Env::new();
    for seed in ["3", "4", "5"] {
        e.ok_as("admin", &["config", "set", "seed", seed]);
    }
    assert!(e.ok_as("admin", &["audit", "verify"]).contains("action log intact"));
    let conn = rusqlite::Connection::open(e.data().join("riskgate.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER action_log_no_update; UPDATE action_log SET after = '\"9\"', actor = 'mallory' WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let out = e.run_as("admin", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("action log broken at entry 2: "), "{text}");
    assert!(text.contains("mallory setting seed"), "{text}");
}

/// `audit anchor` writes the signed head outside the database; `audit verify
/// --anchors` passes while the log only grows and fails (exit 2, naming the
/// anchor) once the log is rewritten and its chain recomputed.
#[test]
fn anchors_outside_the_database_reveal_a_recomputed_chain() {
    let e = Env::new();
    for seed in ["3", "4"] {
        e.ok_as("admin", &["config", "set", "seed", seed]);
    }
    let key = e.dir.join("anchor.key");
    std::fs::write(&key, [42u8; 32]).unwrap();
    let short = e.dir.join("short.key");
    std::fs::write(&short, [1u8; 8]).unwrap();
    let anchors = e.dir.join("anchors.jsonl");
    let (k, a) = (key.to_str().unwrap(), anchors.to_str().unwrap());
    let out = e.run_as("admin", &["audit", "anchor", "--key", short.to_str().unwrap(), "--out", a]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"));
    assert!(e.ok_as("admin", &["audit", "anchor", "--key", k, "--out", a]).contains("anchored entry 2"));
    e.ok_as("admin", &["config", "set", "seed", "5"]);
    let ok = e.ok_as("admin", &["audit", "verify", "--anchors", a, "--key", k]);
    assert!(ok.contains("action log intact") && ok.contains("1 anchors match"), "{ok}");
    // Rewrite entry 2 and recompute the chain from it on, as someone with
    // write access to the database could.
    let conn = rusqlite::Connection::open(e.data().join("riskgate.db")).unwrap();
    conn.execute_batch("DROP TRIGGER action_log_no_update;").unwrap();
    let entries = {
        let store = riskgate_store::SqliteStore::open(&e.data()).unwrap();
        let mut v = riskgate_store::Store::actions(&store, 10).unwrap();
        v.sort_by_key(|l| l.seq);
        v
    };
    let mut prev = entries[0].hash.clone();
    for l in &entries[1..] {
        let mut act = l.action.clone();
        if l.seq == 2 {
            act.actor = "mallory".into();
        }
        let hash = riskgate_store::chain_hash(&prev, l.seq, &act);
        conn.execute(
            "UPDATE action_log SET actor = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![l.seq, act.actor, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
    drop(conn);
    assert!(e.ok_as("admin", &["audit", "verify"]).contains("action log intact"), "the chain alone is fooled");
    let out = e.run_as("admin", &["audit", "verify", "--anchors", a, "--key", k]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("anchors.jsonl:1: entry 2 has another hash") && text.contains("1 of 1 anchors"), "{text}");
}

#[test]
fn overrides_require_a_reason_are_checked_and_logged() {
    let e = Env::new();
    let (w, decisions) = screened_world(&e, 31, 0.03, 0);
    let officers = std::fs::read_to_string(w.join("officers.jsonl")).unwrap();
    let officer = serde_json::from_str::<serde_json::Value>(officers.lines().next().unwrap()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id_of = |channel: &str| {
        decisions.iter().find(|d| d["channel"] == channel).unwrap()["declaration_id"].as_str().unwrap().to_string()
    };
    let (red, green) = (id_of("red"), id_of("green"));
    let ovr = |id: &str, lane: &str, reason: &str| {
        e.run_as("chief", &["tasks", "override", id, "--lane", lane, "--officer", &officer, "--reason", reason])
    };
    let err = |o: Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err(ovr(&red, "green", "  ")).contains("reason: a reason is required"));
    assert!(err(ovr(&red, "green", &"长".repeat(2001))).contains("reason: at most 2000 characters"));
    assert!(err(ovr(&red, "red", "x")).contains("channel: already red"));
    assert!(err(ovr(&green, "red", "x")).contains("the goods were released at"));
    assert!(err(ovr("nope", "green", "x")).contains("no declaration \"nope\" is stored"));
    let out = ovr(&red, "yellow", "舱单与申报一致，改为审单");
    assert!(out.status.success(), "{}", err(out));
    let a = last_action(&e);
    assert_eq!(a["action"]["action"], "override");
    assert_eq!(a["action"]["actor"], officer.as_str());
    let out = e.run_as("chief", &["tasks", "override", &red, "--lane", "green", "--officer", "E0", "--reason", "x"]);
    assert!(err(out).contains("officer: expected an officer id known to the registry, got \"E0\""));
    assert_eq!(a["action"]["target"], red.as_str());
    assert_eq!(a["action"]["before"]["channel"], "red");
    assert_eq!(a["action"]["after"]["channel"], "yellow");
    assert_eq!(a["action"]["after"]["entered_by"], "local:chief", "entered by the local operator, logged as such");
    assert_eq!(a["action"]["reason"], "舱单与申报一致，改为审单");
    // To green: the task leaves the open list and the goods are released.
    assert!(e.ok_as("admin", &["tasks", "--limit", "100000"]).contains(&red));
    let out = ovr(&red, "green", "资料齐全");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("yellow → green by {officer}, released")));
    assert!(!e.ok_as("admin", &["tasks", "--limit", "100000"]).contains(&red));
    // A completed control can no longer be overridden.
    let yellow = id_of("yellow");
    let outcome = format!(
        r#"{{"declaration_id":"{yellow}","officer":"{officer}","control":"document","completed_at":"2026-09-01T10:00:00+08:00","result":"no_finding","findings":[],"additional_duty":0,"seizure":false}}"#
    );
    e.ok_as("admin", &["import", "outcomes", &e.write("o.jsonl", &outcome)]);
    assert!(err(ovr(&yellow, "green", "x")).contains("its control is already completed"));
    assert!(e.ok_as("admin", &["audit", "verify"]).contains("intact"));
}

#[test]
fn reading_integrity_data_is_logged_and_lists_rank_by_score() {
    let e = Env::new();
    let (w, _) = screened_world(&e, 32, 0.03, 0);
    for (kind, file) in [("disciplinary", "disciplinary.jsonl"), ("litigation", "litigation.jsonl")] {
        e.ok_as("admin", &["import", kind, w.join(file).to_str().unwrap()]);
    }
    let out = e.ok_as("supervisor", &["integrity", "officers", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["officers"].as_array().unwrap();
    assert!(rows.len() > 30, "{}", rows.len());
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|p| p[0] >= p[1]), "highest first");
    for key in ["officer", "score", "level", "indicators", "rank"] {
        assert!(rows[0].get(key).is_some(), "{key} in {}", rows[0]);
    }
    let a = last_action(&e);
    assert_eq!(a["action"]["action"], "integrity_read");
    assert_eq!(a["action"]["actor"], "local:supervisor");
    assert_eq!(a["action"]["target"], "officers office=*");
    let id = rows[0]["officer"].as_str().unwrap().to_string();
    let profile = e.ok_as("supervisor", &["integrity", "officer", &id]);
    assert!(profile.contains("indicators (value vs peers)"), "{profile}");
    assert_eq!(last_action(&e)["action"]["target"], format!("officer {id}"));
    e.ok_as("supervisor", &["integrity", "units", "--office", "2200"]);
    e.ok_as("supervisor", &["integrity", "warnings"]);
    assert_eq!(last_action(&e)["action"]["target"], "warnings");
    let bad = e.write("bad.toml", "warning_p = 0.5\nwatch_p = 0.1\n");
    let out = e.run_as("supervisor", &["integrity", "officers", "--config", &bad]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning_p: must not exceed watch_p"));
}

/// Officers complete the live controls of a screened world (with the
/// overrides they make first); returns the ranked officers.
/// The planted colluders, the ranked officers, and what the scheduled
/// notification of `serve --integrity-every` did: warnings pushed by a first
/// run, by a second run, and the subjects of the events sent.
type IntegrityRun = (Vec<String>, Vec<serde_json::Value>, (usize, usize, Vec<String>));

fn integrity_of_world(seed: u64, colluders: usize) -> IntegrityRun {
    let e = Env::new();
    // Scale 0.2 (about 1,000 completed controls): at 0.1 a loud colluder may
    // have two or three bent controls, and the time indicators no longer
    // take a couple of extreme times for proof (they are capped by exact
    // count tests, docs/integrity.md).
    let (w, _) = screened_world(&e, seed, 0.2, colluders);
    let p = |f: &str| e.dir.join(f).to_str().unwrap().to_string();
    let truth = w.join("truth.jsonl");
    e.ok_as(
        "admin",
        &["simulate", "--truth", truth.to_str().unwrap(), "--decisions", &p("decisions.jsonl"), "--out", &p("o.jsonl")]
            .into_iter()
            .chain(["--overrides", &p("ov.jsonl")])
            .collect::<Vec<_>>(),
    );
    e.ok_as("admin", &["import", "overrides", &p("ov.jsonl")]);
    e.ok_as("admin", &["import", "outcomes", &p("o.jsonl")]);
    let planted: Vec<String> = std::fs::read_to_string(w.join("colluders.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["officer"].as_str().unwrap().to_string())
        .collect();
    let v: serde_json::Value =
        serde_json::from_str(&e.ok_as("supervisor", &["integrity", "officers", "--format", "json"])).unwrap();
    (planted, v["officers"].as_array().unwrap().clone(), scheduled_notification(&e.data()))
}

/// Two runs of the scheduled integrity notification on the store at `data`,
/// with the server's threads in process and a recording event sink.
fn scheduled_notification(data: &std::path::Path) -> (usize, usize, Vec<String>) {
    let at = riskgate_app::StoreAt::Sqlite(data.to_path_buf());
    let events = std::sync::Arc::new(riskgate_app::events::Recorder::default());
    let (state, writer) = riskgate_server::start(&at, riskgate_app::events::Emitter::new("t", events.clone())).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = rt.block_on(riskgate_server::retrain::notify_once(&state)).unwrap();
    let second = rt.block_on(riskgate_server::retrain::notify_once(&state)).unwrap();
    drop(state);
    writer.join().unwrap();
    (first, second, events.take().into_iter().map(|e| e.subject).collect())
}

#[test]
fn planted_colluders_rank_at_the_top_and_an_honest_world_raises_no_warning() {
    let (planted, ranked, (first, second, subjects)) = integrity_of_world(6, 4);
    assert_eq!(planted.len(), 4);
    let top: Vec<&str> = ranked.iter().take(10).map(|r| r["officer"].as_str().unwrap()).collect();
    // Three of four: one of the four has only a few bent controls in this
    // small world, and two or three extreme times are no longer proof.
    let found = planted.iter().filter(|c| top.contains(&c.as_str())).count();
    assert!(found >= 3, "{found} of {planted:?} in the top 10 {top:?}");
    let warned: Vec<&str> =
        ranked.iter().filter(|r| r["level"] == "warning").map(|r| r["officer"].as_str().unwrap()).collect();
    assert!(warned.iter().all(|w| planted.iter().any(|c| c == w)), "honest officers warned: {warned:?}");
    assert!(warned.len() >= 2, "{warned:?}");
    // `serve --integrity-every`: the first run pushes every warning (officers,
    // posts, units) once, on the supervisors' namespace only; the next run
    // finds nothing new.
    assert!(first >= warned.len() && second == 0, "first run {first}, second {second}, {warned:?}");
    assert_eq!(subjects.len(), first, "{subjects:?}");
    assert!(subjects.iter().all(|s| s == "t-supervisor.integrity.warning"), "{subjects:?}");
    let (none, ranked, (first, _, subjects)) = integrity_of_world(6, 0);
    assert!(none.is_empty());
    assert!(ranked.iter().all(|r| r["level"] != "warning"), "{:#?}", ranked[0]);
    assert!(first == 0 && subjects.is_empty(), "an honest world pushes no warning: {subjects:?}");
}

/// `serve --retrain-every` trains on a thread of its own and registers the
/// new model as the shadow one, logged in the scheduler's name, while the
/// server keeps answering.
#[test]
fn serve_retrains_on_a_schedule_into_shadow() {
    use std::io::{BufRead, BufReader, Read, Write};
    let e = Env::new();
    let w = e.world(22, 0.25);
    e.load_as("admin", &w);
    let mut child = crate::support::bin()
        .arg("--data")
        .arg(e.data())
        .args(["serve", "--addr", "127.0.0.1:0", "--retrain-every", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    // `/readyz` goes through the screening thread: it answers while the
    // first scheduled training runs (it starts at once and takes seconds).
    let ready = |addr: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut probes_while_training = 0;
    let listed = loop {
        let out = e.ok_as("admin", &["model", "list"]);
        if out.lines().any(|l| l.contains("\tshadow\t") && l.ends_with("by scheduler")) {
            break out;
        }
        let resp = ready(&addr);
        assert!(resp.starts_with("HTTP/1.1 200"), "screening paused while training: {resp}");
        probes_while_training += 1;
        assert!(std::time::Instant::now() < deadline, "no scheduled model after 300 s: {out}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let after = ready(&addr);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(probes_while_training > 0, "the model appeared before any probe: nothing was shown");
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert_eq!(
        listed.lines().filter(|l| l.contains("\tactive\t")).count(),
        0,
        "a scheduled model is never made active by default: {listed}"
    );
    let log = e.ok_as("admin", &["audit", "log", "--limit", "50"]);
    assert!(log.contains("scheduler") && log.contains("model_shadow"), "{log}");
}

#[test]
fn demo_never_replaces_a_store_unasked() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let out = e.run_as("admin", &["demo", "--scale", "0.01"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a store: `demo --fresh` replaces it"));
    assert!(e.ok_as("admin", &["audit", "log"]).contains("import_offices"), "the store is untouched");
}

/// `riskgate … | head`: a reader that stops early ends the command quietly.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let e = Env::new();
    let mut child = crate::support::bin()
        .arg("--data")
        .arg(e.data())
        .args(["rules", "fields"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

/// The budget settings are checked before they are stored, and the engine
/// reads them.
#[test]
fn budget_settings_are_checked_and_read() {
    let e = Env::new();
    let show = e.ok_as("admin", &["config", "show"]);
    assert!(show.contains(r#""budget": "national""#), "one national budget by default: {show}");
    let table: [(&[&str], bool, &str); 6] = [
        (&["budget", "office"], true, "budget = office"),
        (&["budget", "planet"], false, "budget: expected office, district or national"),
        (&["budget.floor", "2"], false, "budget.floor: expected 0 to 1"),
        (&["budget.ceiling", "0.5"], false, "budget.ceiling: expected 1 to 25"),
        (&["budget.ceiling", "NaN"], false, "budget.ceiling: expected a finite number"),
        (&["budget.ceiling", "4"], true, "budget.ceiling = 4"),
    ];
    // A committee setting needs a proven identity allowed to change settings.
    let local = e.run_as("admin", &["config", "set", "budget", "office"]);
    assert!(String::from_utf8_lossy(&local.stderr).contains("needs an authenticated user"), "{local:?}");
    e.account("chen", "risk_analyst", None);
    e.account("root", "admin", None);
    let admin = e.run_login("root", &["config", "set", "budget", "office"]);
    assert!(String::from_utf8_lossy(&admin.stderr).contains("(ChangeSettings)"), "{admin:?}");
    for (kv, ok, says) in table {
        let out = e.run_login("chen", &[&["config", "set"][..], kv].concat());
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.success(), ok, "{kv:?}: {text}");
        assert!(text.contains(says), "{kv:?}: {text}");
    }
    let show = e.ok_as("admin", &["config", "show"]);
    assert!(show.contains(r#""budget": "office""#) && show.contains(r#""ceiling": 4.0"#), "{show}");
}

/// `generate --collusion …`: the quiet preset and single figures reach the
/// ground truth; bad values are refused by flag name.
#[test]
fn generate_plants_quiet_collusion_and_refuses_bad_figures() {
    let e = Env::new();
    let run = |extra: &[&str], dir: &str| {
        crate::support::bin()
            .args(["generate", "--seed", "3", "--scale", "0.02", "--colluders", "2"])
            .args(extra)
            .arg(e.dir.join(dir))
            .output()
            .unwrap()
    };
    let out = run(&["--collusion", "quiet", "--collusion-pick-up", "0.5", "--collusion-start-day", "30"], "q");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let truth = std::fs::read_to_string(e.dir.join("q/colluders.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(truth.lines().next().unwrap()).unwrap();
    assert_eq!(first["params"]["pick_up"], 0.5);
    assert_eq!(first["params"]["hide"], 0.5);
    assert_eq!(first["params"]["start_day"], 30);
    assert_eq!(first["starts_at"], "2026-02-04T00:00:00+08:00");
    let out = run(&[], "loud");
    assert!(out.status.success());
    let truth = std::fs::read_to_string(e.dir.join("loud/colluders.jsonl")).unwrap();
    assert!(!truth.contains("params") && !truth.contains("starts_at"), "default worlds are unchanged: {truth}");
    for (flags, message) in [
        (&["--collusion", "noisy"][..], "--collusion: expected `loud` or `quiet`, got \"noisy\""),
        (&["--collusion-hide", "1.5"], "--collusion-hide: expected a share in [0, 1], got 1.5"),
        (&["--collusion-tenure", "3"], "--collusion-tenure: expected MIN..MAX in years (e.g. 1..3), got \"3\""),
        (&["--collusion-tenure", "5..2"], "--collusion-tenure: expected 0 ≤ min ≤ max ≤ 40 years, got 5..2"),
        (&["--collusion-speed", "0"], "--collusion-speed: expected a factor in (0, 10], got 0"),
        (
            &["--collusion-start-day", "400"],
            "collusion start day: expected a day before the world's end (250), got 400",
        ),
    ] {
        let out = run(flags, "bad");
        assert!(!out.status.success(), "{flags:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{flags:?}: {err}");
    }
}

/// `backup` copies the store while `serve` runs; `restore` brings it back
/// elsewhere with the same decisions, KPIs and an intact action-log chain,
/// and never replaces a store unasked.
#[test]
fn a_backup_taken_while_serving_restores_the_same_store() {
    let e = Env::new();
    e.ok_as("admin", &["import", "offices", &e.write("offices.jsonl", OFFICES)]);
    let ids: Vec<String> = (1..=12).map(|i| format!("BK{i}")).collect();
    let lines: Vec<String> =
        ids.iter().enumerate().map(|(i, id)| decl(id, 2 + i as u32 % 5, "T1", "8517130000", 900.0, id)).collect();
    e.ok_as("admin", &["import", "declarations", &e.write("decls.jsonl", &(lines.join("\n") + "\n"))]);
    let mut serve =
        e.command().args(["serve", "--addr", "127.0.0.1:0"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(serve.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let backup = e.dir.join("backup.db");
    e.ok_as("admin", &["backup", "--out", backup.to_str().unwrap()]);
    let again = e.run_as("admin", &["backup", "--out", backup.to_str().unwrap()]);
    assert!(!again.status.success(), "an existing file is never overwritten");
    let _ = serve.kill();
    let _ = serve.wait();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let state = |env: &Env| {
        let kpi = env.ok_as("admin", &["kpi", "--format", "json"]);
        let decisions: Vec<String> =
            ids.iter().map(|id| env.ok_as("admin", &["decision", id, "--format", "json"])).collect();
        (kpi, decisions)
    };
    let other = Env::new();
    other.ok_as("admin", &["restore", backup.to_str().unwrap()]);
    assert_eq!(state(&other), state(&e), "the restored store answers alike");
    assert!(other.ok_as("admin", &["audit", "verify"]).contains("action log intact"));
    let log = other.ok_as("admin", &["audit", "log", "--limit", "5"]);
    assert!(log.contains("\"restore\""), "the restore is logged: {log}");
    let out = other.run_as("admin", &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("restore --force"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    other.ok_as("admin", &["restore", "--force", backup.to_str().unwrap()]);
    // A damaged backup is refused before anything is replaced.
    let bad = e.write("bad.db", "not a database");
    let out = other.run_as("admin", &["restore", "--force", &bad]);
    assert!(!out.status.success());
    assert!(other.ok_as("admin", &["audit", "verify"]).contains("action log intact"));
}

/// Passwords follow the policy for every role, and an administrator resets
/// one with `users passwd` (logged, never the password).
#[test]
fn passwords_follow_the_policy_and_can_be_reset() {
    let e = Env::new();
    let run = |args: &[&str], password: &str| {
        e.command().arg("--user").arg("root").args(args).env("RISKGATE_PASSWORD", password).output().unwrap()
    };
    // (args, password, accepted)
    #[rustfmt::skip]
    let table: [(&[&str], &str, bool); 5] = [
        (&["users", "add", "boss", "--role", "admin"], "        ", false),
        (&["users", "add", "boss", "--role", "admin"], "eleven-char", false),
        (&["users", "add", "boss", "--role", "admin"], "a long passphrase", true),
        (&["users", "passwd", "boss"], "            ", false),
        (&["users", "passwd", "boss"], "another long one", true),
    ];
    for (args, password, ok) in table {
        let out = run(args, password);
        assert_eq!(out.status.success(), ok, "{args:?} {password:?}: {}", String::from_utf8_lossy(&out.stderr));
        if !ok {
            assert!(String::from_utf8_lossy(&out.stderr).contains("password: expected 12 to 1024 characters"));
        }
    }
    assert!(!run(&["users", "passwd", "nobody"], "another long one").status.success());
    let log = e.ok_as("root", &["audit", "log"]);
    assert!(log.contains("password_set") && !log.contains("another long one"), "{log}");
}

/// Cases, urgent requests and the release gate at the command line, as the
/// README documents them: `tasks urgent` puts a control first, `cases
/// open|list --format json|step|show`, a step not allowed names those that
/// are, a case's audit result leaves the border control open, and a release
/// of a declaration whose control is open is refused by record and field.
#[test]
fn cases_urgent_requests_and_the_release_gate_at_the_command_line() {
    let e = Env::new();
    let (_, decisions) = screened_world(&e, 31, 0.03, 0);
    let reds: Vec<String> = decisions
        .iter()
        .filter(|d| d["channel"] == "red")
        .map(|d| d["declaration_id"].as_str().unwrap().to_string())
        .collect();
    assert!(reds.len() >= 2, "{} red decisions", reds.len());
    let red = reds.last().unwrap();
    let err = |o: Output| String::from_utf8_lossy(&o.stderr).into_owned();

    assert!(err(e.run(&["tasks", "urgent", red, "--kind", "fresh", "--note", "x"])).contains("kind: expected one of"));
    let out = e.ok(&["tasks", "urgent", red, "--kind", "medical", "--note", "医院急需 / urgent medical supplies"]);
    assert!(out.contains("urgent (medical: "), "{out}");
    let first = e.ok(&["tasks", "--limit", "100000"]);
    assert!(first.lines().next().unwrap().starts_with(red.as_str()), "urgent first: {first}");
    assert!(first.lines().next().unwrap().contains("加急/urgent"), "{first}");
    // Paging: `--offset` skips tasks of the same order.
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines.len() >= 3, "{first}");
    let page = e.ok(&["tasks", "--limit", "2", "--offset", "1"]);
    assert_eq!(page.lines().collect::<Vec<_>>(), lines[1..3], "{page}");

    e.ok(&["cases", "open", "--kind", "tariff", "--title", "归类存疑", "--declaration", red]);
    let list: serde_json::Value =
        serde_json::from_str(&e.ok(&["cases", "list", "--kind", "tariff", "--format", "json"])).unwrap();
    let c = &list[0];
    assert_eq!(
        (c["kind"].as_str(), c["department"].as_str(), c["status"].as_str(), c["declaration_id"].as_str()),
        (Some("tariff"), Some("tariff"), Some("opened"), Some(red.as_str())),
        "{list}"
    );
    let id = c["id"].as_i64().unwrap().to_string();
    let bad = err(e.run(&["cases", "step", &id, "close"]));
    assert!(bad.contains("the step close is not allowed from there (allowed: accept, return, reject)"), "{bad}");
    e.ok_as("tariff.user", &["cases", "step", &id, "accept"]);
    let out = e.ok_as(
        "tariff.user",
        &[
            "cases",
            "step",
            &id,
            "conclude",
            "--findings",
            "misclassification",
            "--additional-duty",
            "800",
            "--summary",
            "归类错误",
        ],
    );
    assert!(out.contains("concluded"), "{out}");
    let shown = e.ok(&["cases", "show", &id]);
    assert!(shown.contains("result: findings [misclassification], additional duty 800.00 CNY"), "{shown}");
    assert!(e.ok(&["tasks", "--limit", "100000"]).contains(red.as_str()), "the audit result leaves the control open");

    let release = format!(r#"{{"declaration_id":"{red}","released_at":"2026-09-01T10:00:00+08:00"}}"#);
    let out = e.run(&["import", "releases", &e.write("r.jsonl", &release)]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("line 1") && text.contains("declaration_id") && text.contains("still open"), "{text}");
    assert!(e.ok(&["audit", "verify"]).contains("intact"));
}

/// `riskgate kpi` and `GET /api/v1/kpis` carry the same eleven KPIs (and
/// the engine's targeting rate and the hit rates by source) for every unit
/// with the same figures; `riskgate analysis` and `GET /api/v1/analysis`
/// give the same breakdowns; drilling HQ → district → office → goods
/// chapter → heading keeps the figures consistent (the units below add up
/// to the unit; a chapter's headings hold at least its declarations).
#[test]
fn kpis_and_breakdowns_agree_between_the_cli_and_the_api() {
    use riskgate_server::testing::{call, check_answer};
    let e = Env::new();
    let w = e.world(5, 0.03);
    e.load_as("admin", &w);
    let decisions = e.dir.join("decisions.jsonl");
    e.ok_as(
        "admin",
        &[
            "screen",
            w.join("live.jsonl").to_str().unwrap(),
            "--clock",
            "declared",
            "--out",
            decisions.to_str().unwrap(),
        ],
    );
    let outs = e.dir.join("o.jsonl");
    let ovs = e.dir.join("ov.jsonl");
    let truth = w.join("truth.jsonl");
    e.ok_as(
        "admin",
        &[
            "simulate",
            "--truth",
            truth.to_str().unwrap(),
            "--decisions",
            decisions.to_str().unwrap(),
            "--out",
            outs.to_str().unwrap(),
            "--overrides",
            ovs.to_str().unwrap(),
        ],
    );
    e.ok_as("admin", &["import", "overrides", ovs.to_str().unwrap()]);
    e.ok_as("admin", &["import", "outcomes", outs.to_str().unwrap()]);
    let json = |args: &[&str]| serde_json::from_str::<serde_json::Value>(&e.ok_as("admin", args)).unwrap();
    // By officer: the overrides each made, as the action log has them.
    let mut made: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for l in std::fs::read_to_string(&ovs).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *made.entry(v["officer"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(!made.is_empty(), "the simulated officers override some lanes");
    let by_officer = json(&["analysis", "--dim", "officer", "--limit", "1000", "--format", "json"]);
    let officer_rows = by_officer["rows"].as_array().unwrap();
    assert!(officer_rows.iter().any(|r| r["overrides"].as_u64() > Some(0)));
    for r in officer_rows {
        let id = r["key"].as_str().unwrap();
        assert_eq!(r["overrides"].as_u64(), Some(made.get(id).copied().unwrap_or(0)), "overrides of {id}");
    }
    let kpi = json(&["kpi", "--format", "json"]);
    const ELEVEN: [&str; 11] = [
        "screened",
        "targeting_rate",
        "hit_rate",
        "revenue_collection_rate",
        "smuggling_deterrence_rate",
        "same_day_release_sea",
        "same_day_release_other",
        "litigation_win_rate",
        "internal_affairs_pass_rate",
        "leadership_assessment_pass_rate",
        "misconduct_case_rate",
    ];
    let units = kpi["units"].as_array().unwrap();
    for u in units {
        let keys: Vec<&str> = u["figures"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
        for k in ELEVEN.iter().chain(&["engine_targeting_rate"]) {
            assert!(keys.contains(k), "{k} missing for unit {}", u["code"]);
        }
    }
    let hq = &units[0];
    let fig = |u: &serde_json::Value, k: &str| {
        u["figures"].as_array().unwrap().iter().find(|f| f["key"] == k).unwrap().clone()
    };
    assert!(fig(hq, "targeting_rate")["numerator"].as_f64().unwrap() > 0.0, "controls were carried out");
    assert!(fig(hq, "revenue_collection_rate")["value"].as_f64().is_some(), "random controls were completed");
    let hq_code = hq["code"].as_str().unwrap().to_string();
    let district = units.iter().find(|u| u["level"] == "district").unwrap()["code"].as_str().unwrap().to_string();
    let cli_units = json(&["analysis", "--format", "json"]);
    let cli_district = json(&["analysis", "--office", &district, "--format", "json"]);
    let office = cli_district["rows"][0]["key"].as_str().unwrap().to_string();
    let cli_goods = json(&["analysis", "--office", &office, "--dim", "hs2", "--format", "json"]);
    let chapter = cli_goods["rows"][0]["key"].as_str().unwrap().to_string();
    let cli_heads =
        json(&["analysis", "--office", &office, "--dim", "hs4", "--key", &format!("{chapter}*"), "--format", "json"]);
    // Units below add up to the unit.
    let sum: u64 = cli_units["rows"].as_array().unwrap().iter().map(|r| r["declarations"].as_u64().unwrap()).sum();
    assert_eq!(sum, cli_units["total"]["declarations"].as_u64().unwrap());
    assert_eq!(cli_units["total"]["declarations"].as_f64(), fig(hq, "targeting_rate")["denominator"].as_f64());
    assert_eq!(cli_district["rows"][0]["next"]["dim"], "hs2", "an office leads to its goods");
    assert_eq!(cli_goods["rows"][0]["next"]["key"], format!("{chapter}*"));
    let in_heads: u64 = cli_heads["rows"].as_array().unwrap().iter().map(|r| r["declarations"].as_u64().unwrap()).sum();
    assert!(in_heads >= cli_goods["rows"][0]["declarations"].as_u64().unwrap());
    assert!(cli_heads["rows"].as_array().unwrap().iter().all(|r| r["key"].as_str().unwrap().starts_with(&chapter)));

    let cli_trend = json(&["analysis", "--dim", "source", "--key", "score", "--trend", "--format", "json"]);
    let months = cli_trend["months"].as_array().unwrap();
    assert!(!months.is_empty());
    let by_score: u64 = months.iter().map(|m| m["figures"]["completed"].as_u64().unwrap()).sum();
    assert_eq!(
        by_score as f64,
        fig(hq, "hit_rate_score")["denominator"].as_f64().unwrap(),
        "the model's controls, month by month"
    );
    e.ok_as("admin", &["levels", "recompute"]);
    let at = riskgate_app::StoreAt::Sqlite(e.data());
    drop(crate::support::add_account(&at, "setup", "hq1", "correct horse", "hq_manager"));
    let sink = std::sync::Arc::new(riskgate_app::events::NoSink);
    let (state, writer) = riskgate_server::start(&at, riskgate_app::events::Emitter::new("t", sink)).unwrap();
    let router = riskgate_server::router(state);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let login = serde_json::json!({"username": "hq1", "password": "correct horse"});
        let cookie = call(&router, "POST", "/api/v1/session", "none", Some(login)).await.cookie.unwrap();
        let doc = call(&router, "GET", "/api/v1/openapi.json", "none", None).await.body;
        let k = call(&router, "GET", "/api/v1/kpis", &cookie, None).await;
        assert_eq!(k.status, 200, "{}", k.body);
        assert_eq!(k.body["units"], kpi["units"], "the CLI and the API give the same KPIs");
        for (uri, cli) in [
            (format!("/api/v1/analysis?office={hq_code}"), &cli_units),
            (format!("/api/v1/analysis?office={district}"), &cli_district),
            (format!("/api/v1/analysis?office={office}&dim=hs2"), &cli_goods),
            (format!("/api/v1/analysis?office={office}&dim=hs4&key={chapter}*"), &cli_heads),
        ] {
            let a = call(&router, "GET", &uri, &cookie, None).await;
            assert_eq!(a.status, 200, "{uri}: {}", a.body);
            check_answer(&doc, "get", "/api/v1/analysis", 200, &a.body).unwrap();
            assert_eq!(&a.body, cli, "{uri}: the CLI and the API give the same breakdown");
        }
        let t = call(&router, "GET", "/api/v1/analysis/trend?dim=source&key=score", &cookie, None).await;
        check_answer(&doc, "get", "/api/v1/analysis/trend", 200, &t.body).unwrap();
        assert_eq!(t.body, cli_trend, "the CLI and the API give the same trend");
        // Enterprises by risk level; goods levels with their history.
        let all = call(&router, "GET", "/api/v1/enterprises?limit=1000", &cookie, None).await.body;
        // The riskiest enterprise's level, as a filter.
        let top = all["enterprises"][0]["risk_level"].as_str().unwrap().to_string();
        let some =
            call(&router, "GET", &format!("/api/v1/enterprises?level={top}&limit=1000"), &cookie, None).await.body;
        let n = |v: &serde_json::Value, l: &str| {
            v["enterprises"].as_array().unwrap().iter().filter(|e| l.is_empty() || e["risk_level"] == l).count()
        };
        assert!(n(&some, "") > 0 && n(&some, "") == n(&some, &top) && n(&some, "") == n(&all, &top), "{top}");
        assert!(n(&some, "") < n(&all, ""), "the filter leaves the other levels out");
        let goods = call(&router, "GET", &format!("/api/v1/goods?hs={chapter}&limit=1000"), &cookie, None).await;
        check_answer(&doc, "get", "/api/v1/goods", 200, &goods.body).unwrap();
        let codes = goods.body["goods"].as_array().unwrap();
        assert!(!codes.is_empty() && codes.iter().all(|g| g["key"].as_str().unwrap().starts_with(&chapter)));
        let first = codes[0]["key"].as_str().unwrap();
        let one = call(&router, "GET", &format!("/api/v1/goods/{first}"), &cookie, None).await;
        check_answer(&doc, "get", "/api/v1/goods/{hs6}", 200, &one.body).unwrap();
        assert_eq!(one.body["risk_level"], codes[0], "the current level is the newest of the history");
    });
    drop(router);
    writer.join().unwrap();
}

/// Post-clearance audit through the CLI: `post-clearance select` ranks the
/// released live declarations by expected duty with reasons (JSON rows with
/// `declaration_id`, `score`, `expected_duty`, `reasons`); `post-clearance
/// plan` opens audit cases with their selection probability; `simulate
/// --audits` concludes them as the audit department would; the audited
/// declarations are not candidates again and their results are outcomes
/// of control `audit` carrying the probability.
#[test]
fn post_clearance_selection_plan_and_audits_through_the_cli() {
    let e = Env::new();
    let (w, decisions) = screened_world(&e, 11, 0.02, 0);
    let period = ["--from", "2026-06-01", "--to", "2026-09-30"];
    let select = |e: &Env| -> serde_json::Value {
        let mut args = vec!["post-clearance", "select", "--limit", "20", "--format", "json"];
        args.extend(period);
        serde_json::from_str(&e.ok_as("chen", &args)).unwrap()
    };
    let s = select(&e);
    let rows = s["declarations"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "{s}");
    let considered = s["considered"].as_u64().unwrap();
    assert!(considered > 100, "{s}");
    for r in rows {
        assert!(r["declaration_id"].is_string() && r["score"].is_number() && r["expected_duty"].is_number(), "{r}");
        assert!(!r["reasons"].as_array().unwrap().is_empty(), "{r}");
    }
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked by score: {scores:?}");
    assert!(s["traders"].as_array().unwrap().iter().all(|t| t["trader"].is_string() && t["score"].is_number()));
    // A control still open is not released; overridden to green it is, and
    // becomes a candidate.
    let red = decisions.iter().find(|d| d["channel"] == "red").unwrap()["declaration_id"].as_str().unwrap().to_string();
    let officers = std::fs::read_to_string(w.join("officers.jsonl")).unwrap();
    let officer = serde_json::from_str::<serde_json::Value>(officers.lines().next().unwrap()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok(&["tasks", "override", &red, "--lane", "green", "--officer", &officer, "--reason", "放行 / release"]);
    let s = select(&e);
    assert_eq!(s["considered"].as_u64().unwrap(), considered + 1, "the overridden declaration is a candidate");
    let considered = considered + 1;

    let mut args = vec!["post-clearance", "plan", "--capacity", "0000=6", "--explore", "0.5", "--name", "cli-plan"];
    args.extend(period);
    args.extend(["--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&e.ok_as("chen", &args)).unwrap();
    let audits = plan["audits"].as_array().unwrap();
    assert_eq!(audits.len(), 6, "{plan}");
    assert_eq!(audits.iter().filter(|a| a["drawn"] == "random").count(), 3);
    assert!(audits.iter().all(|a| a["case_id"].is_i64() && a["selection_probability"].as_f64().unwrap() > 0.0));
    let logged = last_action(&e);
    assert_eq!(logged["action"]["action"], "audit_plan", "the plan is logged: {logged}");
    let bad = e.run_as("chen", &["post-clearance", "plan", "--capacity", "0000"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("expected UNIT=N"));

    let truth = w.join("truth.jsonl");
    let done = e.run_as("audit", &["simulate", "--truth", truth.to_str().unwrap(), "--audits"]);
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("6 audit cases concluded"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let cases: serde_json::Value = serde_json::from_str(
        &e.ok_as("chen", &["cases", "list", "--kind", "post_clearance_audit", "--format", "json"]),
    )
    .unwrap();
    let cases = cases.as_array().cloned().unwrap_or_else(|| cases["cases"].as_array().unwrap().clone());
    assert_eq!(cases.len(), 6);
    assert!(cases.iter().all(|c| c["status"] == "concluded" && c["origin"] == "audit_plan"), "{cases:?}");
    assert_eq!(
        select(&e)["considered"].as_u64().unwrap(),
        considered - 6,
        "audited declarations are not candidates again"
    );
}

/// Specialised audit selection (专业审计) through the CLI: on a world whose
/// live controls were completed (with overrides) and audited after release,
/// `post-clearance specialised` ranks units and posts by score, each row
/// with its reasons and figures; the read of integrity data is logged; a
/// bad `--by` is refused naming the flag's values.
#[test]
fn specialised_audit_selection_through_the_cli() {
    let e = Env::new();
    let (w, _) = screened_world(&e, 13, 0.05, 3);
    let truth = w.join("truth.jsonl");
    let decisions = e.dir.join("decisions.jsonl");
    let (outs, ovs) = (e.dir.join("o.jsonl"), e.dir.join("ov.jsonl"));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    e.ok_as(
        "admin",
        &[
            "simulate",
            "--truth",
            &path(&truth),
            "--decisions",
            &path(&decisions),
            "--out",
            &path(&outs),
            "--overrides",
            &path(&ovs),
        ],
    );
    e.ok_as("admin", &["import", "overrides", &path(&ovs)]);
    e.ok_as("admin", &["import", "outcomes", &path(&outs)]);
    let period = ["--from", "2026-06-01", "--to", "2026-09-30"];
    let mut args = vec!["post-clearance", "plan", "--capacity", "0000=40", "--name", "specialised-test"];
    args.extend(period);
    e.ok_as("chen", &args);
    e.ok_as("audit", &["simulate", "--truth", &path(&truth), "--audits"]);
    let run = |by: &str| -> serde_json::Value {
        let mut args = vec!["post-clearance", "specialised", "--by", by, "--limit", "50", "--format", "json"];
        args.extend(period);
        serde_json::from_str(&e.ok_as("chen", &args)).unwrap()
    };
    let units = run("unit");
    assert_eq!(units["by"], "unit");
    assert_eq!(units["integrity"], true, "the operator reads integrity data at the command line");
    let rows = units["rows"].as_array().unwrap();
    assert!(rows.len() >= 2, "{units}");
    for r in rows {
        assert!(r["unit"].is_string() && r["post"].is_null() && r["score"].is_number(), "{r}");
        assert!(!r["reasons"].as_array().unwrap().is_empty(), "{r}");
        assert!(r["controls"].is_u64() && r["audited_releases"].is_u64() && r["integrity_level"].is_string(), "{r}");
    }
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by score: {scores:?}");
    assert!(scores[0] > 0.0, "{units}");
    assert!(rows.iter().map(|r| r["controls"].as_u64().unwrap()).sum::<u64>() > 0, "controls counted: {units}");
    assert!(rows.iter().map(|r| r["audited_releases"].as_u64().unwrap()).sum::<u64>() > 0, "audits counted: {units}");
    let logged = last_action(&e);
    assert_eq!(
        (logged["action"]["action"].as_str(), logged["action"]["target"].as_str()),
        (Some("integrity_read"), Some("specialised_audit")),
        "{logged}"
    );
    let posts = run("post");
    let rows = posts["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{posts}");
    assert!(rows.iter().all(|r| r["office"].is_string() && r["post"].is_string() && r["unit"].is_null()), "{posts}");
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by score: {scores:?}");
    let bad = e.run_as("chen", &["post-clearance", "specialised", "--by", "district"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("by: expected unit or post"), "{err}");
}
