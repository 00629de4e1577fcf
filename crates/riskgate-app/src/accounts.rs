//! Accounts and permissions: the roles and what each may do (one table,
//! mirrored in the README), token scopes, argon2 password hashes, token
//! secrets, office-subtree scoping. Transports authenticate; this module
//! decides.

use std::collections::HashSet;

use riskgate_core::Office;
use riskgate_store::{ApiToken, Store, User};
use sha2::{Digest, Sha256};

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

pub fn scope_allows(scopes: &[String], perm: Perm) -> bool {
    use Perm::*;
    let need = match perm {
        SubmitDeclarations => "declarations:write",
        ImportReference | ImportExternal | ImportOutcomes | ImportWorkforce => "imports:write",
        RecordOutcome | OverrideLane | RuleLogic | ChangeModels | ManageAccounts => return false,
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
