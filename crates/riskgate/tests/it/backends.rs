//! The same world screened on SQLite and on PostgreSQL gives identical
//! decisions, field by field (issue 6). Runs when PostgreSQL answers at
//! `postgres://root@127.0.0.1:5432/test` (or `RISKGATE_TEST_PG_URL`); an absent
//! PostgreSQL fails the test unless RISKGATE_SKIP_PG=1 (then `SKIPPED:`).

use std::path::{Path, PathBuf};

use riskgate_store::PgStore;

/// One store: SQLite under `dir/data`, or a fresh PostgreSQL schema.
struct Env {
    dir: PathBuf,
    pg: Option<(String, String)>,
}

impl Env {
    fn run(&self, args: &[&str]) -> String {
        self.run_as("admin", args)
    }

    fn command(&self) -> std::process::Command {
        let mut c = crate::support::bin();
        c.arg("--data").arg(self.dir.join("data"));
        if let Some((url, schema)) = &self.pg {
            c.args(["--database-url", url, "--database-schema", schema]);
        }
        c
    }

    fn ok(&self, mut c: std::process::Command, args: &[&str]) -> String {
        let backend = if self.pg.is_some() { "postgres" } else { "sqlite" };
        crate::support::succeeded(&c.args(args).output().unwrap(), format_args!("{args:?} on {backend}"))
    }

    fn run_as(&self, user: &str, args: &[&str]) -> String {
        let mut c = self.command();
        c.args(["--user", user]);
        self.ok(c, args)
    }

    /// Logged in as `user`, an account added first with `role`.
    fn run_login(&self, user: &str, role: &str, args: &[&str]) -> String {
        let mut add = self.command();
        add.env("RISKGATE_PASSWORD", crate::support::TEST_PASSWORD);
        if !self.run(&["users", "list"]).lines().any(|l| l.split('\t').next() == Some(user)) {
            self.ok(add, &["users", "add", user, "--role", role]);
        }
        let mut c = self.command();
        crate::support::as_account(&mut c, user);
        self.ok(c, args)
    }

    fn load(&self, w: &Path) {
        crate::support::load_world(w, |args| {
            self.run(args);
        });
    }

    fn screen(&self, file: &Path, out: &Path) -> Vec<serde_json::Value> {
        self.run(&["screen", file.to_str().unwrap(), "--clock", "declared", "--out", out.to_str().unwrap()]);
        std::fs::read_to_string(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg {
            let _ = PgStore::drop_schema(url, schema);
        }
    }
}

/// The first difference between two JSON values, as a field path. Two
/// numbers that are not integers agree to 12 significant digits: sums of
/// money are added in the order each database reads its rows.
fn diff(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                diff(&format!("{path}.{k}"), va, vb)
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (va, vb))| diff(&format!("{path}[{i}]"), va, vb))
        }
        _ if a == b => None,
        (Value::Number(x), Value::Number(y))
            if x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs())) =>
        {
            None
        }
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

const RULES: &[(&str, &str)] = &[
    (
        "uv.toml",
        "id = \"R-UV\"\ntitle = \"unit value\"\nweight = 0.35\ninstructions = \"check\"\nwhen = \"any(item: item.ref.count >= 5 and item.unit_value < 0.5 * item.ref.median)\"\n",
    ),
    (
        "dis.toml",
        "id = \"R-DIS\"\ntitle = \"dishonest\"\nchannel = \"red\"\nweight = 0.2\ninstructions = \"inspect\"\nwhen = \"trader.credit_class == \\\"dishonest\\\"\"\n",
    ),
];

#[test]
fn sqlite_and_postgres_decide_identically() {
    let Some(url) = crate::support::pg_url(module_path!()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let w = crate::support::generate_world(tmp.path(), 11, 0.08);
    let live = std::fs::read_to_string(w.join("live.jsonl")).unwrap();
    let lines: Vec<&str> = live.lines().collect();
    let half = lines.len() / 2;
    let first = tmp.path().join("first.jsonl");
    let second = tmp.path().join("second.jsonl");
    std::fs::write(&first, lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(&second, lines[half..].join("\n") + "\n").unwrap();

    let schema = format!("rg_test_backends_{}", std::process::id());
    let envs =
        [Env { dir: tmp.path().join("sqlite"), pg: None }, Env { dir: tmp.path().join("pg"), pg: Some((url, schema)) }];
    let mut runs = Vec::new();
    for e in &envs {
        std::fs::create_dir_all(&e.dir).unwrap();
        e.run(&["config", "set", "seed", "42"]);
        e.load(&w);
        for (name, text) in RULES {
            let p = e.dir.join(name);
            std::fs::write(&p, text).unwrap();
            e.run_login("analyst", "risk_analyst", &["rules", "add", p.to_str().unwrap()]);
        }
        e.run_login("chief", "risk_analyst", &["rules", "approve", "R-UV"]);
        e.run_login("chief", "risk_analyst", &["rules", "approve", "R-DIS"]);
        // First half, officers complete its controls, then the second half
        // (each command a restart: checkpoint plus replay).
        let mut decisions = e.screen(&first, &e.dir.join("d1.jsonl"));
        let outs = e.dir.join("o1.jsonl");
        e.run(&[
            "simulate",
            "--truth",
            w.join("truth.jsonl").to_str().unwrap(),
            "--decisions",
            e.dir.join("d1.jsonl").to_str().unwrap(),
            "--out",
            outs.to_str().unwrap(),
        ]);
        e.run(&["import", "outcomes", outs.to_str().unwrap()]);
        decisions.extend(e.screen(&second, &e.dir.join("d2.jsonl")));
        let kpi: serde_json::Value = serde_json::from_str(&e.run(&["kpi", "--format", "json"])).unwrap();
        let rules: serde_json::Value = serde_json::from_str(&e.run(&["rules", "list", "--format", "json"])).unwrap();
        assert!(e.run(&["audit", "verify"]).contains("intact"));
        runs.push((decisions, kpi, rules));
    }
    let (sqlite, pg) = (&runs[0], &runs[1]);
    assert_eq!(sqlite.0.len(), lines.len());
    assert_eq!(sqlite.0.len(), pg.0.len());
    let controls = sqlite.0.iter().filter(|d| d["channel"] != "green").count();
    let rule_hits = sqlite.0.iter().filter(|d| d.to_string().contains("R-UV")).count();
    assert!(controls > 0 && rule_hits > 0, "the world exercises controls ({controls}) and rules ({rule_hits})");
    for (a, b) in sqlite.0.iter().zip(&pg.0) {
        let (mut a, mut b) = (a.clone(), b.clone());
        // Timestamps apart (with --clock declared they agree anyway).
        for v in [&mut a, &mut b] {
            v.as_object_mut().unwrap().remove("decided_at");
        }
        if let Some(d) = diff(a["declaration_id"].as_str().unwrap_or("?"), &a, &b) {
            panic!("SQLite and PostgreSQL decided differently: {d}");
        }
    }
    assert_eq!(diff("kpi", &sqlite.1, &pg.1), None, "KPIs differ");
    assert_eq!(diff("rules", &sqlite.2, &pg.2), None, "rule statistics differ");
}

#[test]
fn the_database_url_is_checked_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out =
            crate::support::bin().arg("--data").arg(tmp.path()).args(args).args(["config", "show"]).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(
        run(&["--database-url", "mysql://u:secret@h/db"])
            .contains("--database-url: expected postgres://USER@HOST:PORT/DATABASE"),
        "other schemes are refused"
    );
    assert!(!run(&["--database-url", "mysql://u:secret@h/db"]).contains("secret"), "no password in messages");
    assert!(run(&["--database-schema", "x"]).contains("--database-schema: only meaningful with --database-url"));
    let err = run(&["--database-url", "postgres://u:secret@127.0.0.1:1/db"]);
    assert!(err.contains("cannot connect to PostgreSQL at postgres://u:***@127.0.0.1:1/db"), "{err}");
    let bad_schema = run(&["--database-url", "postgres://u@127.0.0.1:1/db", "--database-schema", "a;drop"]);
    assert!(bad_schema.contains("--database-schema: expected up to 63 letters"), "{bad_schema}");
}
