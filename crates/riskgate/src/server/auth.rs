//! Who is calling and what they may do: roles and their permissions (one
//! table, mirrored in the README), argon2 password hashes, session cookies
//! for people and scoped API tokens for machines, office-subtree scoping
//! and the CSRF check for cookie-authenticated changes.

use std::collections::HashSet;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use riskgate_core::Office;
use riskgate_store::{ApiToken, Session, Store, User};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiResult};

pub const SESSION_COOKIE: &str = "rg_session";
pub const SESSION_SECS: i64 = 12 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    FieldOfficer,
    RiskAnalyst,
    DistrictManager,
    HqManager,
    IntegritySupervisor,
    DepartmentUser,
    Admin,
    Machine,
}

impl Role {
    pub const ALL: [(&'static str, Role); 8] = [
        ("field_officer", Role::FieldOfficer),
        ("risk_analyst", Role::RiskAnalyst),
        ("district_manager", Role::DistrictManager),
        ("hq_manager", Role::HqManager),
        ("integrity_supervisor", Role::IntegritySupervisor),
        ("department_user", Role::DepartmentUser),
        ("admin", Role::Admin),
        ("machine", Role::Machine),
    ];
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, r)| *r)
    }
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, r)| *r == self).map(|(n, _)| *n).expect("every role is listed")
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
        ReadModels => matches!(role, RiskAnalyst | HqManager),
        ReadKpi => !matches!(role, Admin | Machine),
        ReadEnterprises => matches!(role, FieldOfficer | RiskAnalyst | DistrictManager | HqManager | DepartmentUser),
        ReadOfficers => matches!(role, DistrictManager | HqManager | IntegritySupervisor | Admin),
        ReadActions => matches!(role, IntegritySupervisor | Admin),
        ManageAccounts => matches!(role, Admin),
    }
}

/// Token scopes and the permissions each one lets through (a token can
/// never do more than its user's role allows).
pub const SCOPES: &[&str] = &["declarations:write", "imports:write", "read"];

fn scope_allows(scopes: &[String], perm: Perm) -> bool {
    use Perm::*;
    let need = match perm {
        SubmitDeclarations => "declarations:write",
        ImportReference | ImportExternal | ImportOutcomes | ImportWorkforce => "imports:write",
        RecordOutcome | OverrideLane | RuleLogic | ChangeModels | ManageAccounts => return false,
        _ => "read",
    };
    scopes.iter().any(|s| s == need)
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub office: Option<String>,
    pub department: Option<String>,
    /// Offices the caller may see (the subtree of `office`); `None` = all.
    pub scope: Option<HashSet<String>>,
    /// Set when the caller authenticated with an API token.
    pub token: Option<(String, Vec<String>)>,
}

impl Principal {
    pub fn may(&self, perm: Perm) -> bool {
        allows(self.role, perm) && self.token.as_ref().is_none_or(|(_, scopes)| scope_allows(scopes, perm))
    }
    pub fn require(&self, perm: Perm) -> ApiResult<()> {
        if self.may(perm) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the role {} may not do this ({perm:?})", self.role.as_str())))
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
        riskgate_store::Action {
            at: crate::app::now(),
            actor: self.username.clone(),
            office: self.office.clone(),
            action: action.to_string(),
            target: target.to_string(),
            before: None,
            after: None,
            reason: None,
        }
    }
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

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Cookie-authenticated changes must come from our own pages: browsers
/// send `Origin` (and `Sec-Fetch-Site`) on such requests, and the session
/// cookie is `SameSite=Strict` besides.
fn csrf_ok(parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let h = &parts.headers;
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), h.get(header::HOST).and_then(|v| v.to_str().ok())) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|o| o == host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

enum Credential {
    Session(String),
    Token { id: String, secret: String },
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let cred = if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let s = auth.to_str().unwrap_or("");
            let tok = s.strip_prefix("Bearer ").ok_or_else(ApiError::unauthenticated)?;
            let rest = tok.strip_prefix("rgt_").ok_or_else(ApiError::unauthenticated)?;
            let (id, secret) = rest.split_once('_').ok_or_else(ApiError::unauthenticated)?;
            Credential::Token { id: id.to_string(), secret: secret.to_string() }
        } else if let Some(c) = cookie(&parts.headers, SESSION_COOKIE) {
            if !csrf_ok(parts) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "a change with a session cookie must come from the console's own origin",
                ));
            }
            Credential::Session(c.to_string())
        } else {
            return Err(ApiError::unauthenticated());
        };
        let offices = state.offices();
        state
            .read(move |store| {
                let now = crate::app::now().timestamp();
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
                };
                Ok(user.filter(|u| !u.disabled).and_then(|u| principal(u, token, &offices)))
            })
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }
}

fn principal(u: User, token: Option<(String, Vec<String>)>, offices: &[Office]) -> Option<Principal> {
    let role = Role::parse(&u.role)?;
    // A user at the root of the tree (HQ) sees everything, including
    // records that name no office.
    let root = |o: &str| offices.iter().any(|x| x.code == o && x.parent.is_none());
    let scope = u.office.as_deref().filter(|o| !root(o)).map(|o| subtree(offices, o));
    Some(Principal {
        username: u.username,
        display_name: u.display_name,
        role,
        office: u.office,
        department: u.department,
        scope,
        token,
    })
}

pub fn me_json(p: &Principal) -> serde_json::Value {
    let perms: Vec<String> = ALL_PERMS.iter().filter(|x| p.may(**x)).map(|x| format!("{x:?}")).collect();
    json!({
        "username": p.username,
        "display_name": p.display_name,
        "role": p.role.as_str(),
        "office": p.office,
        "department": p.department,
        "permissions": perms,
    })
}

pub const ALL_PERMS: [Perm; 19] = [
    Perm::SubmitDeclarations,
    Perm::ImportReference,
    Perm::ImportExternal,
    Perm::ImportOutcomes,
    Perm::ImportWorkforce,
    Perm::ReadDeclarations,
    Perm::ReadRuleReasons,
    Perm::ReadControls,
    Perm::RecordOutcome,
    Perm::OverrideLane,
    Perm::ReadRuleStats,
    Perm::RuleLogic,
    Perm::ReadModels,
    Perm::ChangeModels,
    Perm::ReadKpi,
    Perm::ReadEnterprises,
    Perm::ReadOfficers,
    Perm::ReadActions,
    Perm::ManageAccounts,
];

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/session`: same answer for an unknown user, a wrong
/// password and a disabled account.
pub async fn login(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let login: Login = super::parse_json(&body)?;
    let offices = state.offices();
    let (cookie_value, me) = state
        .read(move |store| {
            let Some(u) = store.user(&login.username)? else { return Ok(None) };
            if u.disabled || !verify_password(&login.password, &u.password_hash) {
                return Ok(None);
            }
            let now = crate::app::now().timestamp();
            let value = random_hex(32);
            store.insert_session(&Session {
                token_hash: sha256_hex(&value),
                username: u.username.clone(),
                created_at: now,
                expires_at: now + SESSION_SECS,
            })?;
            let mut a = riskgate_store::Action {
                at: crate::app::now(),
                actor: u.username.clone(),
                office: u.office.clone(),
                action: "login".into(),
                target: u.username.clone(),
                before: None,
                after: None,
                reason: None,
            };
            a.after = Some(json!({"role": u.role}));
            store.append_action(&a)?;
            Ok(principal(u, None, &offices).map(|p| (value, me_json(&p))))
        })
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "invalid username or password"))?;
    let mut resp = axum::Json(me).into_response();
    let c = format!("{SESSION_COOKIE}={cookie_value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ascii cookie"));
    Ok(resp)
}

/// `DELETE /api/v1/session`.
pub async fn logout(State(state): State<AppState>, p: Principal, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        let h = sha256_hex(c);
        state.read(move |store| Ok(store.delete_session(&h)?)).await?;
    }
    let _ = p;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let c = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ascii cookie"));
    Ok(resp)
}

pub async fn me(p: Principal) -> axum::Json<serde_json::Value> {
    axum::Json(me_json(&p))
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
    anyhow::ensure!(password.chars().count() >= 8, "password: expected at least 8 characters");
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
