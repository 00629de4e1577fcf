//! Accounts and permissions: the roles and what each may do (one table,
//! mirrored in the README), token scopes, argon2 password hashes, token
//! secrets, office-subtree scoping. Transports authenticate; this module
//! decides.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use riskgate_core::Office;
use riskgate_store::{ApiToken, Store, User};
use sha2::{Digest, Sha256};

riskgate_core::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Role {
        FieldOfficer => "field_officer",
        RiskAnalyst => "risk_analyst",
        DistrictManager => "district_manager",
        HqManager => "hq_manager",
        IntegritySupervisor => "integrity_supervisor",
        DepartmentUser => "department_user",
        Admin => "admin",
        Machine => "machine",
    }
}

/// What a caller may do. Each handler asks for exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perm {
    /// POST declarations (screening).
    SubmitDeclarations,
    /// Offices, officers, enterprises.
    ImportReference,
    /// Forex payments, tax invoices.
    ImportExternal,
    /// Outcomes and releases in bulk (other systems).
    ImportOutcomes,
    /// Workforce records (disciplinary, inspections, assessments, litigation).
    ImportWorkforce,
    /// Declarations and decisions in the caller's office subtree.
    ReadDeclarations,
    /// The rules that fired (id, version, title) in an explanation.
    ReadRuleReasons,
    /// Open control tasks with instructions.
    ReadControls,
    /// Record a control outcome for a task in the caller's subtree.
    RecordOutcome,
    /// Override the lane of a declaration (with a reason).
    OverrideLane,
    /// The rule list with live statistics (no logic).
    ReadRuleStats,
    /// The same list limited to the rules of the caller's own department
    /// (a department user sees what its department's rules select and find).
    ReadDepartmentRules,
    /// Rule logic and every rule change: draft, test, back-test, approve, retire.
    RuleLogic,
    ReadModels,
    ChangeModels,
    ReadKpi,
    ReadEnterprises,
    ReadOfficers,
    /// The action log (integrity data).
    ReadActions,
    ManageAccounts,
    /// `/metrics`: request counts by route, lanes, rule hits (monitoring).
    ReadMetrics,
    /// Cases the caller may see, and taking the steps their role allows on
    /// them (the department's own steps, closing, notes: `cases::Actor`).
    ReadCases,
    /// Open a case by hand (integrity cases: integrity supervisors only).
    OpenCase,
    /// Escalate the overdue cases and controls of the caller's offices.
    Escalate,
    /// A department's own subscriptions (webhooks by event kind, office and HS chapter).
    ManageSubscriptions,
    /// Feedback and intelligence on an enterprise (a note; a department's
    /// user may also put it on the department's watch-list).
    SendFeedback,
    /// Record a trader's urgent-clearance request on an open control (at
    /// the counter, or relayed by the single window's system).
    MarkUrgent,
    /// Download a console table as XLSX (what the reader already sees).
    ExportTables,
    /// Money flow: traders' declared import values against their payments
    /// abroad and VAT invoices (financial data of enterprises).
    ReadMoneyFlow,
    /// Post-clearance audit selection: released declarations and traders
    /// ranked by expected recoverable duty, with reasons (payments abroad).
    SelectAudits,
    /// Make an audit plan: open post-clearance audit cases per unit.
    PlanAudits,
    /// Risk committees, their items, votes and minutes (M10).
    ReadCommittees,
    /// Vote on (or withdraw one's own) committee item; the committee's
    /// membership is checked by the use case.
    VoteCommittee,
    /// Create risk committees.
    ManageCommittees,
    /// Change a setting (budget, target rates, exploration, deadlines…);
    /// those a committee covers wait for its approval.
    ChangeSettings,
}

/// The permission table. The README's per-role table and the table-driven
/// API test (tests/api.rs) follow it cell by cell.
pub fn allows(role: Role, perm: Perm) -> bool {
    use Perm::*;
    use Role::*;
    match perm {
        SubmitDeclarations => matches!(role, Machine),
        ImportReference | ImportExternal | ImportOutcomes => matches!(role, Admin | Machine),
        ImportWorkforce => matches!(role, Admin | IntegritySupervisor),
        ReadDeclarations => !matches!(role, Admin),
        ReadRuleReasons | RuleLogic | ChangeModels => matches!(role, RiskAnalyst),
        ReadControls => matches!(role, FieldOfficer | RiskAnalyst | DistrictManager | HqManager),
        RecordOutcome => matches!(role, FieldOfficer),
        OverrideLane => matches!(role, FieldOfficer | DistrictManager),
        ReadRuleStats => matches!(role, RiskAnalyst | DistrictManager | HqManager),
        ReadDepartmentRules => matches!(role, DepartmentUser),
        ReadModels => matches!(role, RiskAnalyst | HqManager),
        ReadKpi => !matches!(role, Admin | Machine),
        ReadEnterprises => matches!(role, FieldOfficer | RiskAnalyst | DistrictManager | HqManager | DepartmentUser),
        ReadOfficers => matches!(role, DistrictManager | HqManager | IntegritySupervisor | Admin),
        ReadActions => matches!(role, IntegritySupervisor | Admin),
        ManageAccounts => matches!(role, Admin),
        ReadMetrics => matches!(role, Admin | Machine),
        ReadCases => !matches!(role, Admin | Machine),
        OpenCase => {
            matches!(
                role,
                FieldOfficer | RiskAnalyst | DistrictManager | HqManager | IntegritySupervisor | DepartmentUser
            )
        }
        Escalate => matches!(role, DistrictManager | HqManager),
        MarkUrgent => matches!(role, FieldOfficer | DistrictManager | Machine),
        ManageSubscriptions => matches!(role, DepartmentUser),
        SendFeedback => matches!(role, FieldOfficer | RiskAnalyst | DistrictManager | HqManager | DepartmentUser),
        ExportTables => !matches!(role, Machine),
        ReadMoneyFlow => matches!(role, RiskAnalyst | DistrictManager | HqManager | DepartmentUser),
        SelectAudits => matches!(role, RiskAnalyst | DistrictManager | HqManager | DepartmentUser),
        PlanAudits => matches!(role, RiskAnalyst | DistrictManager | HqManager),
        ReadCommittees => matches!(role, RiskAnalyst | DistrictManager | HqManager | Admin),
        VoteCommittee => matches!(role, RiskAnalyst | DistrictManager | HqManager),
        ManageCommittees => matches!(role, Admin),
        ChangeSettings => matches!(role, RiskAnalyst | HqManager),
    }
}

/// Token scopes and the permissions each one lets through (a token can
/// never do more than its user's role allows).
pub const SCOPES: &[&str] = &["declarations:write", "imports:write", "read"];

pub fn scope_allows(scopes: &[String], perm: Perm) -> bool {
    use Perm::*;
    let need = match perm {
        SubmitDeclarations | MarkUrgent => "declarations:write",
        ImportReference | ImportExternal | ImportOutcomes | ImportWorkforce => "imports:write",
        RecordOutcome | OverrideLane | RuleLogic | ChangeModels | ManageAccounts | OpenCase | Escalate
        | SendFeedback | ManageSubscriptions | PlanAudits | VoteCommittee | ManageCommittees | ChangeSettings => {
            return false;
        }
        _ => "read",
    };
    scopes.iter().any(|s| s == need)
}

/// An office and every office under it.
pub fn subtree(offices: &[Office], root: &str) -> HashSet<String> {
    let mut keep = HashSet::from([root.to_string()]);
    loop {
        let before = keep.len();
        for o in offices {
            if o.parent.as_ref().is_some_and(|p| keep.contains(p)) {
                keep.insert(o.code.clone());
            }
        }
        if keep.len() == before {
            return keep;
        }
    }
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the operating system's random source");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
        .to_string())
}

/// A proven identity: the account behind a session, an API token or a
/// password, with what its role (and, for a token, its scopes) allows and
/// the offices it sees. Every transport authenticates through
/// [`authenticate`]: the HTTP server for each request, the CLI once per
/// command (`RISKGATE_TOKEN`, or `--user` with `RISKGATE_LOGIN_PASSWORD`).
#[derive(Debug, Clone)]
pub struct Identity {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub office: Option<String>,
    pub department: Option<String>,
    /// Offices the caller may see (the subtree of `office`); `None` = all.
    pub scope: Option<HashSet<String>>,
    /// Set when the caller authenticated with an API token: its id and scopes.
    pub token: Option<(String, Vec<String>)>,
}

impl Identity {
    /// The identity of an enabled account with a known role; a user at the
    /// root of the office tree (HQ) sees everything, including records
    /// that name no office.
    pub fn of(u: User, token: Option<(String, Vec<String>)>, offices: &[Office]) -> Option<Identity> {
        let role = Role::parse(&u.role)?;
        let root = |o: &str| offices.iter().any(|x| x.code == o && x.parent.is_none());
        let scope = u.office.as_deref().filter(|o| !root(o)).map(|o| subtree(offices, o));
        Some(Identity {
            username: u.username,
            display_name: u.display_name,
            role,
            office: u.office,
            department: u.department,
            scope,
            token,
        })
    }
    pub fn may(&self, perm: Perm) -> bool {
        allows(self.role, perm) && self.token.as_ref().is_none_or(|(_, scopes)| scope_allows(scopes, perm))
    }
    /// Refused (403 `forbidden`) unless the role and scopes allow `perm`.
    pub fn require(&self, perm: Perm) -> anyhow::Result<()> {
        if self.may(perm) {
            Ok(())
        } else {
            let how = if self.token.is_some() { "an API token" } else { "the role" };
            Err(crate::error::AppError::forbidden(
                "forbidden",
                format!("{how} of {} ({}) may not do this ({perm:?})", self.username, self.role.as_str()),
            )
            .into())
        }
    }
    pub fn sees_office(&self, office: &str) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(office))
    }
    /// The offices to filter by, `None` meaning no filter.
    pub fn office_filter(&self) -> Option<Vec<String>> {
        self.scope.as_ref().map(|s| {
            let mut v: Vec<String> = s.iter().cloned().collect();
            v.sort();
            v
        })
    }
    /// A new action-log entry by this caller.
    pub fn action(&self, action: &str, target: &str) -> riskgate_store::Action {
        crate::app::new_action(&self.username, self.office.clone(), action, target)
    }
}

/// What a caller presents.
#[derive(Clone)]
pub enum Credential {
    /// A console session cookie's value.
    Session(String),
    /// An API token `rgt_<id>_<secret>`.
    Token { id: String, secret: String },
    /// A username and its password (the CLI).
    Password { username: String, password: String },
}

impl Credential {
    /// An API token as handed out (`rgt_<id>_<secret>`); `None` when it is
    /// not shaped like one.
    pub fn token(s: &str) -> Option<Credential> {
        let (id, secret) = s.trim().strip_prefix("rgt_")?.split_once('_')?;
        Some(Credential::Token { id: id.to_string(), secret: secret.to_string() })
    }
}

/// The identity a credential proves at `now`, or `None`: an unknown,
/// expired or revoked session or token, a wrong password, a disabled
/// account or an unknown role. A password is verified in the same time
/// whether the account exists or not.
pub fn authenticate(
    store: &dyn Store,
    cred: Credential,
    offices: &[Office],
    now: i64,
) -> anyhow::Result<Option<Identity>> {
    let (user, token) = match cred {
        Credential::Session(c) => {
            let Some(s) = store.session(&sha256_hex(&c))? else { return Ok(None) };
            if s.expires_at <= now {
                return Ok(None);
            }
            (store.user(&s.username)?, None)
        }
        Credential::Token { id, secret } => {
            let Some(t) = store.token(&id)? else { return Ok(None) };
            let expired = t.expires_at.is_some_and(|e| e <= now);
            if t.revoked_at.is_some() || expired || t.secret_hash != sha256_hex(&secret) {
                return Ok(None);
            }
            (store.user(&t.username)?, Some((t.id, t.scopes)))
        }
        Credential::Password { username, password } => {
            let user = if check_username(&username).is_ok() { store.user(&username)? } else { None };
            let ok = verify_password(&password, hash_to_verify(user.as_ref()));
            if !login_allowed(user.as_ref(), ok) {
                return Ok(None);
            }
            (user, None)
        }
    };
    Ok(user.filter(|u| !u.disabled).and_then(|u| Identity::of(u, token, offices)))
}

/// Who acts in a command run without credentials: whoever has the store
/// (the SQLite file or the database URL) — the local administrator's
/// bootstrap. Logged as `local:NAME` (`NAME` as claimed by `--user`, or
/// `cli`); no account can be named so (usernames hold no `:`).
pub const LOCAL_PREFIX: &str = "local:";

/// The actor name of an unauthenticated local command.
pub fn local_actor(claimed: &str) -> String {
    format!("{LOCAL_PREFIX}{}", loggable_username(claimed))
}

/// The person an actor names, as an officer id in a record (an outcome's
/// `officer`): the local operator's claimed name without `local:`.
pub fn person(actor: &str) -> &str {
    actor.strip_prefix(LOCAL_PREFIX).unwrap_or(actor)
}

/// Refused (403 `authentication_required`) when the acting user is a local,
/// unauthenticated operator: authoring, approving and retiring rules,
/// changing a model's status, committee settings and votes need a proven
/// identity, so four-eyes and committee rules hold on every path.
pub fn require_identity(actor: &str, what: &str) -> anyhow::Result<()> {
    if actor.starts_with(LOCAL_PREFIX) || actor.is_empty() {
        return Err(crate::error::AppError::forbidden(
            "authentication_required",
            format!(
                "{what} needs an authenticated user (four-eyes and committee rules): set RISKGATE_TOKEN to an API \
                 token, or give --user NAME with RISKGATE_LOGIN_PASSWORD (or --login to be asked for it)"
            ),
        )
        .into());
    }
    Ok(())
}

/// A hash of no one's password with the same parameters as every stored
/// one: an unknown username is verified against it, so a failed login
/// takes as long whether the account exists or not.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)).expect("hashing a random password"))
}

/// The hash a login attempt is verified against: the account's, or the
/// dummy one when there is no such account (a disabled account is verified
/// against its own and refused afterwards, in the same time).
pub fn hash_to_verify(user: Option<&User>) -> &str {
    match user {
        Some(u) => &u.password_hash,
        None => dummy_hash(),
    }
}

/// Whether a login with a verified (`password_ok`) password opens a session.
pub fn login_allowed(user: Option<&User>, password_ok: bool) -> bool {
    password_ok && user.is_some_and(|u| !u.disabled)
}

/// A username as it may be logged and used as a throttling key: at most 64
/// characters, control characters replaced.
pub fn loggable_username(u: &str) -> String {
    u.chars().take(64).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// The action-log entry of a failed login: who was tried and from where,
/// never the password.
pub fn login_failed_action(username: &str, address: &str) -> riskgate_store::Action {
    let mut a = cli_action(&loggable_username(username), "login_failed", &loggable_username(username));
    a.after = Some(serde_json::json!({ "address": address }));
    a
}

/// Failed logins allowed per username within [`LOGIN_WINDOW_SECS`].
pub const LOGIN_FAILURES_PER_USER: usize = 5;
/// Failed logins allowed per client address within [`LOGIN_WINDOW_SECS`]
/// (higher: several people may share an office's address).
pub const LOGIN_FAILURES_PER_ADDRESS: usize = 20;
/// The throttling window, in seconds.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;

/// Failed logins per username and per client address in a sliding window
/// (kept in the serving process: a restart forgets them). A username or
/// address with as many failures as its limit within the window is refused
/// until the oldest of them leaves the window; a successful login clears
/// the username's failures (not the address's).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    users: HashMap<String, VecDeque<i64>>,
    addresses: HashMap<String, VecDeque<i64>>,
}

impl LoginThrottle {
    /// Refuses (`too_many_attempts`, with the seconds to wait) when the
    /// username or the address is over its limit at `now`.
    pub fn check(&mut self, username: &str, address: &str, now: i64) -> anyhow::Result<()> {
        let wait = |m: &mut HashMap<String, VecDeque<i64>>, key: &str, limit: usize| -> Option<u64> {
            let q = m.get_mut(key)?;
            q.retain(|t| now - t < LOGIN_WINDOW_SECS);
            (q.len() >= limit).then(|| (q[q.len() - limit] + LOGIN_WINDOW_SECS - now).max(1) as u64)
        };
        let user = wait(&mut self.users, &loggable_username(username), LOGIN_FAILURES_PER_USER);
        let addr = wait(&mut self.addresses, address, LOGIN_FAILURES_PER_ADDRESS);
        match user.into_iter().chain(addr).max() {
            Some(secs) => {
                Err(crate::AppError::throttled(secs, format!("too many failed logins: try again in {secs} seconds"))
                    .into())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn failed(&mut self, username: &str, address: &str, now: i64) {
        self.prune(now);
        let push = |m: &mut HashMap<String, VecDeque<i64>>, key: String, limit: usize| {
            let q = m.entry(key).or_default();
            q.push_back(now);
            while q.len() > limit {
                q.pop_front();
            }
        };
        push(&mut self.users, loggable_username(username), LOGIN_FAILURES_PER_USER);
        push(&mut self.addresses, address.to_string(), LOGIN_FAILURES_PER_ADDRESS);
    }

    /// A successful login clears the username's failures.
    pub fn succeeded(&mut self, username: &str) {
        self.users.remove(&loggable_username(username));
    }

    /// Forgets what left the window once the tables grow (a flood of
    /// made-up usernames cannot grow them for longer than the window).
    fn prune(&mut self, now: i64) {
        for m in [&mut self.users, &mut self.addresses] {
            if m.len() > 10_000 {
                m.retain(|_, q| q.back().is_some_and(|t| now - t < LOGIN_WINDOW_SECS));
            }
        }
    }
}

/// Opens a session for `user` (the caller checked the password): stores
/// the session's hash and logs `login`; returns the cookie value.
pub fn open_session(store: &mut dyn Store, user: &User, address: &str, secs: i64) -> anyhow::Result<String> {
    let now = crate::app::now();
    let value = random_hex(32);
    store.insert_session(&riskgate_store::Session {
        token_hash: sha256_hex(&value),
        username: user.username.clone(),
        created_at: now.timestamp(),
        expires_at: now.timestamp() + secs,
        address: Some(address.to_string()),
    })?;
    let mut a = cli_action(&user.username, "login", &user.username);
    a.office = user.office.clone();
    a.after = Some(serde_json::json!({ "role": user.role, "address": address }));
    store.append_action(&a)?;
    Ok(value)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new token: the record to store and the secret to hand out once
/// (`rgt_<id>_<secret>`).
pub fn new_token(username: &str, name: &str, scopes: Vec<String>, now: i64) -> (ApiToken, String) {
    let id = random_hex(6);
    let secret = random_hex(24);
    let t = ApiToken {
        id: id.clone(),
        username: username.to_string(),
        name: name.to_string(),
        scopes,
        secret_hash: sha256_hex(&secret),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    (t, format!("rgt_{id}_{secret}"))
}

pub fn check_username(u: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !u.is_empty()
            && u.len() <= 64
            && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'),
        "username: expected 1 to 64 letters, digits, '.', '_' or '-', got {u:?}"
    );
    Ok(())
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest (argon2 hashes whatever it is given).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The password policy: 12 to 1024 characters, not only whitespace.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) || password.trim().is_empty() {
        return Err(crate::AppError::invalid(
            "password",
            format!(
                "password: expected {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters, not only spaces, got {n}"
            ),
        )
        .into());
    }
    Ok(())
}

/// Sets a user's password (a reset by an administrator, or the user's
/// own change): checked against the policy, the user's sessions end,
/// logged as `password_set` (never the password or its hash).
pub fn set_password(store: &mut dyn Store, actor: &str, username: &str, password: &str) -> anyhow::Result<()> {
    check_password(password)?;
    if store.user(username)?.is_none() {
        return Err(crate::AppError::not_found(format!("no user {username:?}")).into());
    }
    let a = cli_action(actor, "password_set", username);
    store.set_password(username, &hash_password(password)?, &a)?;
    Ok(())
}

/// A session as its owner and administrators see it: never the cookie or
/// its hash, only the public id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Public id (16 hex digits): names the session to end it.
    pub id: String,
    pub username: String,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
    pub expires_at: chrono::DateTime<chrono::FixedOffset>,
    /// The client address it was opened from.
    pub address: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

fn at(secs: i64) -> chrono::DateTime<chrono::FixedOffset> {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    t.with_timezone(&crate::app::now().timezone())
}

/// `username`'s open sessions, newest first; `current` is the hash of the
/// caller's own cookie, if any.
pub fn sessions(store: &dyn Store, username: &str, current: Option<&str>) -> anyhow::Result<Vec<SessionInfo>> {
    if store.user(username)?.is_none() {
        return Err(crate::AppError::not_found(format!("no user {username:?}")).into());
    }
    let now = crate::app::now().timestamp();
    Ok(store
        .sessions(username, now)?
        .into_iter()
        .map(|s| SessionInfo {
            id: s.id().to_string(),
            current: current == Some(s.token_hash.as_str()),
            username: s.username,
            created_at: at(s.created_at),
            expires_at: at(s.expires_at),
            address: s.address,
        })
        .collect())
}

/// Ends one session of `username` (by its owner, or an administrator),
/// logged as `session_end` with the session's id and address.
pub fn end_session(
    store: &mut dyn Store,
    actor: &str,
    actor_office: Option<String>,
    username: &str,
    id: &str,
) -> anyhow::Result<()> {
    let found = sessions(store, username, None)?.into_iter().find(|s| s.id == id);
    let Some(s) = found else {
        return Err(crate::AppError::not_found(format!("no open session {id:?} of {username:?}")).into());
    };
    let mut a = crate::app::new_action(actor, actor_office, "session_end", username);
    a.before = Some(serde_json::json!({ "session": s.id, "address": s.address, "created_at": s.created_at }));
    store.end_session(username, id, &a)?;
    Ok(())
}

/// A user to create (CLI and demo).
#[derive(Debug, Default)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: &'a str,
    pub office: Option<String>,
    pub department: Option<String>,
    pub display_name: Option<String>,
}

/// Checks and stores a new user, logged as `user_add` by `actor`.
pub fn add_user(store: &mut dyn Store, actor: &str, n: NewUser<'_>) -> anyhow::Result<User> {
    let NewUser { username, password, role, office, department, display_name } = n;
    check_username(username)?;
    anyhow::ensure!(
        Role::parse(role).is_some(),
        "role: expected one of {}, got {role:?}",
        Role::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    );
    check_password(password)?;
    if let Some(o) = &office {
        anyhow::ensure!(
            store.offices()?.iter().any(|x| &x.code == o),
            "office: expected an office code known to the registry, got {o:?}"
        );
    }
    anyhow::ensure!(
        role != "department_user" || department.is_some(),
        "department: a department_user needs a department (tariff, audit, anti_smuggling, …)"
    );
    let u = User {
        username: username.to_string(),
        display_name: display_name.unwrap_or_else(|| username.to_string()),
        role: role.to_string(),
        office,
        department,
        disabled: false,
        created_at: crate::app::now().timestamp(),
        password_hash: hash_password(password)?,
    };
    let mut a = cli_action(actor, "user_add", username);
    a.after = Some(serde_json::to_value(&u)?);
    store.insert_user(&u, &a)?;
    Ok(u)
}

pub fn cli_action(actor: &str, action: &str, target: &str) -> riskgate_store::Action {
    riskgate_store::Action {
        at: crate::app::now(),
        actor: actor.to_string(),
        office: None,
        action: action.to_string(),
        target: target.to_string(),
        before: None,
        after: None,
        reason: None,
    }
}

/// Issues an API token to an active user, logged as `token_issue` (the
/// record without its secret); returns it with the secret, shown once.
pub fn issue_token(
    app: &mut crate::App,
    username: &str,
    name: &str,
    scopes: Vec<String>,
) -> anyhow::Result<(ApiToken, String)> {
    use crate::error::AppError;
    let u =
        app.store.user(username)?.ok_or_else(|| AppError::invalid("user", format!("user: no user {username:?}")))?;
    if u.disabled {
        return Err(AppError::conflict(format!("user: {username} is disabled")).into());
    }
    if let Some(s) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(AppError::invalid("scope", format!("scope: expected {}, got {s:?}", SCOPES.join(", "))).into());
    }
    let (t, secret) = new_token(username, name, scopes, crate::now().timestamp());
    let mut a = app.action("token_issue", &t.id);
    a.after = Some(serde_json::to_value(&t)?);
    app.store.insert_token(&t, &a)?;
    Ok((t, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (step, username, address, seconds since start, expected: None = let in,
    /// Some(secs) = refused with that Retry-After)
    #[test]
    fn login_throttle_per_user_and_address_by_window() {
        let w = LOGIN_WINDOW_SECS;
        let mut t = LoginThrottle::default();
        for i in 0..LOGIN_FAILURES_PER_USER as i64 {
            assert!(t.check("ana", "10.0.0.1", i).is_ok(), "failure {i} still lets in");
            t.failed("ana", "10.0.0.1", i);
        }
        #[rustfmt::skip]
        let table: [(&str, &str, i64, Option<u64>); 5] = [
            ("ana", "10.0.0.1", 10,    Some((w - 10) as u64)), // five failures: refused until the first leaves
            ("ana", "10.0.0.2", 10,    Some((w - 10) as u64)), // from any address
            ("bob", "10.0.0.1", 10,    None),                  // another user from that address: 5 < 20
            ("ana", "10.0.0.1", w - 1, Some(1)),
            ("ana", "10.0.0.1", w,     None),                  // the first failure left the window
        ];
        for (user, addr, at, expect) in table {
            let got = t.check(user, addr, at).err().map(|e| {
                let e = crate::classify(&e).expect("a refusal");
                assert_eq!((e.kind, e.code), (crate::Kind::Throttled, "too_many_attempts"));
                e.extra.unwrap()["retry_after"].as_u64().unwrap()
            });
            assert_eq!(got, expect, "{user} from {addr} at {at}");
        }
        // A success clears the user's failures, not the address's.
        let mut t = LoginThrottle::default();
        for i in 0..4 {
            t.failed("carl", "10.0.0.9", i);
        }
        t.succeeded("carl");
        for i in 0..4 {
            t.failed("carl", "10.0.0.9", 10 + i);
        }
        assert!(t.check("carl", "10.0.0.9", 20).is_ok(), "the success reset the count: 4 since");
        // Many usernames from one address: the address is throttled.
        let mut t = LoginThrottle::default();
        for i in 0..LOGIN_FAILURES_PER_ADDRESS {
            t.failed(&format!("guess{i}"), "10.6.6.6", 0);
        }
        assert!(t.check("someone", "10.6.6.6", 1).is_err());
        assert!(t.check("someone", "10.6.6.7", 1).is_ok());
    }

    #[test]
    fn the_password_policy() {
        #[rustfmt::skip]
        let table: [(&str, bool); 7] = [
            ("        ", false),                  // eight spaces (found accepted for an admin)
            ("            ", false),              // twelve
            ("\t\t\t\t\t\t\t\t\t\t\t\t", false),
            ("short-pass1", false),               // 11
            ("correct horse", true),              // 13, spaces inside are fine
            ("口令口令口令口令口令口令", true),     // 12 characters, not bytes
            (&"x".repeat(1025), false),
        ];
        for (p, ok) in table {
            assert_eq!(check_password(p).is_ok(), ok, "{p:?}");
        }
    }

    #[test]
    fn an_unknown_user_is_verified_against_a_hash_of_the_same_cost() {
        use argon2::password_hash::PasswordHash;
        let real = hash_password("correct horse battery").unwrap();
        let params = |h: &str| {
            let p = PasswordHash::new(h).unwrap();
            (p.algorithm.to_string(), p.version, p.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>())
        };
        let user = |disabled: bool| User {
            username: "u".into(),
            display_name: "u".into(),
            role: "field_officer".into(),
            office: None,
            department: None,
            disabled,
            created_at: 0,
            password_hash: real.clone(),
        };
        let (known, disabled) = (user(false), user(true));
        for (who, u, ok, allowed) in [
            ("unknown", None, true, false),
            ("known", Some(&known), true, true),
            ("known, wrong password", Some(&known), false, false),
            ("disabled", Some(&disabled), true, false),
        ] {
            assert_eq!(params(hash_to_verify(u)), params(&real), "{who}: the same argon2 cost");
            assert_eq!(login_allowed(u, ok), allowed, "{who}");
        }
        assert!(!verify_password("correct horse battery", dummy_hash()));
        let a = login_failed_action("ana\u{1b}[2J", "10.0.0.1");
        assert_eq!((a.action.as_str(), a.target.as_str()), ("login_failed", "ana\u{fffd}[2J"));
        assert_eq!(a.after, Some(serde_json::json!({"address": "10.0.0.1"})));
    }
}
