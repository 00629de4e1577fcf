//! Versioned schema migrations for the SQLite store, applied in order and
//! recorded in `PRAGMA user_version`. Never edit a released migration; add one.

pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE offices (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent TEXT,
    level TEXT NOT NULL
);
CREATE TABLE officers (
    id TEXT PRIMARY KEY,
    office TEXT NOT NULL,
    post TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    credit_class TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE forex (
    rowid INTEGER PRIMARY KEY,
    trader TEXT NOT NULL,
    paid_at INTEGER NOT NULL,
    amount_cny REAL NOT NULL,
    reference TEXT,
    body TEXT NOT NULL
);
CREATE INDEX forex_reference ON forex(reference);
CREATE TABLE invoices (
    rowid INTEGER PRIMARY KEY,
    trader TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    amount_cny REAL NOT NULL,
    body TEXT NOT NULL
);
-- seq: one sequence shared with outcomes, the order in which events were
-- applied to the screening context (replayed after a checkpoint).
CREATE TABLE declarations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    declared_at INTEGER NOT NULL,
    tz INTEGER NOT NULL,
    office TEXT NOT NULL,
    direction TEXT NOT NULL,
    transport_mode TEXT NOT NULL,
    trader TEXT NOT NULL,
    declarant TEXT NOT NULL,
    value_cny REAL NOT NULL,
    historical INTEGER NOT NULL,
    released_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX declarations_declared_at ON declarations(declared_at);
CREATE INDEX declarations_trader ON declarations(trader);
CREATE TABLE items (
    decl INTEGER NOT NULL,
    line INTEGER NOT NULL,
    hs_code TEXT NOT NULL,
    origin TEXT NOT NULL,
    quantity REAL NOT NULL,
    net_weight_kg REAL NOT NULL,
    value REAL NOT NULL,
    duty_rate REAL NOT NULL,
    PRIMARY KEY (decl, line)
) WITHOUT ROWID;
-- Decisions are immutable: see the triggers below.
CREATE TABLE decisions (
    decl INTEGER PRIMARY KEY,
    decided_at INTEGER NOT NULL,
    office TEXT NOT NULL,
    channel TEXT NOT NULL,
    risk_value REAL NOT NULL,
    risk_level TEXT NOT NULL,
    source TEXT NOT NULL,
    random INTEGER NOT NULL,
    propensity REAL NOT NULL,
    ranking REAL NOT NULL,
    mandatory INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are immutable'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are immutable'); END;
CREATE TABLE rule_hits (
    decl INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX rule_hits_rule ON rule_hits(rule_id, version);
CREATE INDEX rule_hits_decl ON rule_hits(decl);
CREATE TABLE control_tasks (
    id INTEGER PRIMARY KEY,
    decl INTEGER NOT NULL UNIQUE,
    office TEXT NOT NULL,
    channel TEXT NOT NULL,
    disposal TEXT NOT NULL,
    instructions TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    officer TEXT
);
CREATE INDEX control_tasks_open ON control_tasks(office, status);
CREATE TABLE outcomes (
    seq INTEGER PRIMARY KEY,
    decl INTEGER NOT NULL,
    officer TEXT NOT NULL,
    control TEXT NOT NULL,
    completed_at INTEGER NOT NULL,
    finding INTEGER NOT NULL,
    additional_duty REAL NOT NULL,
    seizure INTEGER NOT NULL,
    smuggling INTEGER NOT NULL,
    released_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX outcomes_decl ON outcomes(decl);
CREATE TABLE rules (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at INTEGER,
    retired_at INTEGER,
    body TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE lists (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, value)
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Append-only, hash-chained log of human actions that change risk outcomes.
CREATE TABLE action_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    office TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER action_log_no_update BEFORE UPDATE ON action_log
BEGIN SELECT RAISE(ABORT, 'the action log is append-only'); END;
CREATE TRIGGER action_log_no_delete BEFORE DELETE ON action_log
BEGIN SELECT RAISE(ABORT, 'the action log is append-only'); END;
CREATE TABLE checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    as_of_seq INTEGER NOT NULL,
    body BLOB NOT NULL
);
"#,
    ),
    (
        2,
        r#"
-- Nothing reads declarations by trader yet; the index cost a fifth of the
-- screening commit. Restore it with the query that needs it.
DROP INDEX declarations_trader;
"#,
    ),
    (
        3,
        r#"
-- Workforce records (DATA.md): disciplinary cases, internal-affairs
-- inspections, leadership assessments, litigation. A litigation case is
-- kept once per id (its outcome moves on); the others once per content.
CREATE TABLE workforce (
    rowid INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    unit TEXT,
    officer TEXT,
    at INTEGER,
    year INTEGER,
    passed INTEGER,
    outcome TEXT,
    key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE INDEX workforce_kind ON workforce(kind, unit);
"#,
    ),
    (
        4,
        r#"
-- Learned models: every version kept with its evaluation; at most one is
-- active and one in shadow.
CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    bytes BLOB NOT NULL
);
-- What the shadow model said about each declaration it saw.
CREATE TABLE shadow_scores (
    decl INTEGER NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (decl, model)
) WITHOUT ROWID;
-- Recomputed risk levels of enterprises and goods (M3), with history.
CREATE TABLE risk_levels (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    level TEXT NOT NULL,
    score REAL NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (kind, key, computed_at)
);
"#,
    ),
    (
        5,
        r#"
-- Integrity reads the action log by time window (overrides, reads, outcome
-- entries of a period).
CREATE INDEX action_log_at ON action_log(at);
"#,
    ),
    (
        6,
        r#"
-- Accounts (issue 4): people log in with a password (argon2id PHC string)
-- and get a session; machines use API tokens. Only hashes of session
-- cookies and token secrets are stored.
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    office TEXT,
    department TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_username ON sessions(username);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
"#,
    ),
];
