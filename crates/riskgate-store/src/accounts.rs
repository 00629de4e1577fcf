//! Accounts and the API's read queries: users (argon2 password hashes made by
//! the caller), sessions for people, API tokens for machines (stored hashed),
//! and declaration search. Kept as supertraits of `Store` so that every
//! backend implements them beside the rest.

use serde::{Deserialize, Serialize};

use crate::{Action, Result};

/// A named account. The password hash is a PHC string (argon2id) made by
/// the caller; the store never sees a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub display_name: String,
    /// `field_officer`, `risk_analyst`, `district_manager`, `hq_manager`,
    /// `integrity_supervisor`, `department_user`, `admin` or `machine`.
    pub role: String,
    /// The office whose subtree the user may see; `None` for national scope.
    pub office: Option<String>,
    /// For department users: `tariff`, `audit`, `anti_smuggling`, …
    pub department: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    #[serde(skip)]
    pub password_hash: String,
}

/// A person's login session. Only the SHA-256 of the cookie value is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: String,
    pub username: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The client address it was opened from.
    pub address: Option<String>,
}

impl Session {
    /// The session's public id: the first 16 hex digits of the cookie's
    /// hash (names it in lists and revocations; useless as a cookie).
    pub fn id(&self) -> &str {
        &self.token_hash[..self.token_hash.len().min(16)]
    }
}

/// A machine's API token: `id` is public (it names the token in logs and
/// revocations); only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub username: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(skip)]
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Users, sessions and tokens. Changes to users and tokens are logged in
/// the same transaction as the change.
pub trait Accounts {
    /// User error if the username is taken.
    fn insert_user(&mut self, user: &User, action: &Action) -> Result<()>;
    fn user(&self, username: &str) -> Result<Option<User>>;
    fn users(&self) -> Result<Vec<User>>;
    /// Disabling also ends the user's sessions and revokes their tokens.
    fn set_user_disabled(&mut self, username: &str, disabled: bool, at: i64, action: &Action) -> Result<()>;
    /// A new password hash; the user's sessions end (tokens stay).
    fn set_password(&mut self, username: &str, password_hash: &str, action: &Action) -> Result<()>;
    fn insert_session(&mut self, session: &Session) -> Result<()>;
    fn session(&self, token_hash: &str) -> Result<Option<Session>>;
    fn delete_session(&mut self, token_hash: &str) -> Result<()>;
    /// A user's sessions not expired at `now`, newest first.
    fn sessions(&self, username: &str, now: i64) -> Result<Vec<Session>>;
    /// Ends one session of `username` by its public id ([`Session::id`]),
    /// logged in the same transaction; user error if there is none.
    fn end_session(&mut self, username: &str, id: &str, action: &Action) -> Result<()>;
    fn insert_token(&mut self, token: &ApiToken, action: &Action) -> Result<()>;
    fn token(&self, id: &str) -> Result<Option<ApiToken>>;
    fn tokens(&self) -> Result<Vec<ApiToken>>;
    /// User error if there is no such token or it is already revoked.
    fn revoke_token(&mut self, id: &str, at: i64, action: &Action) -> Result<()>;
}

/// A declaration search (all filters optional; `offices` limits to a set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclarationQuery {
    pub offices: Option<Vec<String>>,
    /// Declaration id prefix, or exact trader id.
    pub q: Option<String>,
    /// Exactly this trader.
    pub trader: Option<String>,
    /// A trader by its id, the start of its id, or part of its registered
    /// name (the search box).
    pub trader_match: Option<String>,
    pub channel: Option<String>,
    /// The decision's disposal measure (`transfer`: post-clearance audit candidates, …).
    pub disposal: Option<String>,
    /// Declared time in seconds since the epoch, `[from, to)`.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: usize,
    /// Rows skipped before the first returned (paging, newest first).
    pub offset: usize,
    /// Sent to control by the decision (yellow or red), or not (green).
    pub controlled: Option<bool>,
    /// With a finding among its outcomes, or without one.
    pub finding: Option<bool>,
    /// What selected it (`none`, `rule`, `score`, `random`, `manual`).
    pub source: Option<String>,
    /// `low`, `medium` or `high`.
    pub risk_level: Option<String>,
    /// The control task's status (`open`, `closed`, `overridden`), or
    /// `none`: no control task.
    pub status: Option<String>,
    /// Goods: an item's HS code starts with this (chapter, heading, …).
    pub hs: Option<String>,
    /// An item's country of origin.
    pub origin: Option<String>,
    /// An outcome recorded by this officer (the analysis's officer rows).
    pub officer: Option<String>,
    /// This rule fired on it (the analysis's rule rows).
    pub rule: Option<String>,
}

/// One row of a search result, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclarationSummary {
    pub id: String,
    pub office: String,
    pub trader: String,
    pub declared_at: chrono::DateTime<chrono::FixedOffset>,
    pub value_cny: f64,
    pub historical: bool,
    pub channel: Option<String>,
    pub risk_value: Option<f64>,
    pub risk_level: Option<String>,
    pub task_status: Option<String>,
    /// The lane in force now: the control task's (an officer's override
    /// changes it), else the decision's.
    pub channel_in_force: Option<String>,
    /// An officer changed the lane at least once (`override` in the action log).
    pub overridden: bool,
}

/// The control task of one declaration, open or closed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaskOutcomes {
    pub task: Option<crate::ControlTask>,
    pub outcomes: Vec<riskgate_core::Outcome>,
}

pub trait Search {
    fn search_declarations(&self, q: &DeclarationQuery) -> Result<Vec<DeclarationSummary>>;
    /// The task and outcomes of a stored declaration.
    fn task_outcomes(&self, declaration_id: &str) -> Result<TaskOutcomes>;
    /// The action-log entries of every lane override of a declaration, oldest first.
    fn overrides(&self, declaration_id: &str) -> Result<Vec<crate::LoggedAction>>;
}
