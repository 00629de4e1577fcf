//! Who is calling and what they may do: roles and their permissions (one
//! table, mirrored in the README), argon2 password hashes, session cookies
//! for people and scoped API tokens for machines, office-subtree scoping
//! and the CSRF check for cookie-authenticated changes.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use riskgate_app::accounts::*;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "rg_session";
pub const SESSION_SECS: i64 = 12 * 3600;

/// The authenticated caller: the identity `riskgate_app::accounts::authenticate`
/// proved, with the refusal as an HTTP answer.
#[derive(Debug, Clone)]
pub struct Principal(pub Identity);

impl std::ops::Deref for Principal {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl Principal {
    /// 403 `forbidden` unless the role and token scopes allow `perm`
    /// (`Identity::require`, the refusal the CLI gives too).
    pub fn require(&self, perm: Perm) -> ApiResult<()> {
        self.0.require(perm).map_err(ApiError::from)
    }
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
fn same_origin(method: &Method, h: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
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

fn csrf_error() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "a change with a session cookie must come from the console's own origin",
    )
}

/// The state and the authenticated caller: what every API handler takes.
pub struct Caller(pub AppState, pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Caller(state.clone(), Principal::from_request_parts(parts, state).await?))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let cred = if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let s = auth.to_str().unwrap_or("");
            let tok = s.strip_prefix("Bearer ").ok_or_else(ApiError::unauthenticated)?;
            Credential::token(tok).ok_or_else(ApiError::unauthenticated)?
        } else if let Some(c) = cookie(&parts.headers, SESSION_COOKIE) {
            if !same_origin(&parts.method, &parts.headers) {
                return Err(csrf_error());
            }
            Credential::Session(c.to_string())
        } else {
            return Err(ApiError::unauthenticated());
        };
        let offices = state.offices();
        state
            .read(move |store| authenticate(store, cred, &offices, riskgate_app::now().timestamp()))
            .await?
            .map(Principal)
            .ok_or_else(ApiError::unauthenticated)
    }
}

pub fn me_json(p: &Identity) -> crate::answers::Me {
    crate::answers::Me {
        username: p.username.clone(),
        display_name: p.display_name.clone(),
        role: p.role.as_str().to_string(),
        office: p.office.clone(),
        department: p.department.clone(),
        permissions: ALL_PERMS.iter().filter(|x| p.may(**x)).map(|x| format!("{x:?}")).collect(),
    }
}

pub const ALL_PERMS: [Perm; 35] = [
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
    Perm::ReadDepartmentRules,
    Perm::RuleLogic,
    Perm::ReadModels,
    Perm::ChangeModels,
    Perm::ReadKpi,
    Perm::ReadEnterprises,
    Perm::ReadOfficers,
    Perm::ReadActions,
    Perm::ManageAccounts,
    Perm::ReadMetrics,
    Perm::ReadCases,
    Perm::OpenCase,
    Perm::Escalate,
    Perm::MarkUrgent,
    Perm::SendFeedback,
    Perm::ManageSubscriptions,
    Perm::ExportTables,
    Perm::ReadMoneyFlow,
    Perm::SelectAudits,
    Perm::PlanAudits,
    Perm::ReadCommittees,
    Perm::VoteCommittee,
    Perm::ManageCommittees,
    Perm::ChangeSettings,
];

/// Log in: sets the HttpOnly, SameSite=Strict session cookie.
///
/// The same answer, in the same time, for an unknown user, a wrong password
/// and a disabled account. A username with 5 failed logins in 15 minutes,
/// or a client address with 20, is refused with 429 `too_many_attempts`
/// and `Retry-After` until the oldest failure leaves the window. The body
/// must be JSON and a browser's `Origin`, when sent, our own (no login
/// CSRF). Who: anyone.
#[utoipa::path(post, path = "/session", tag = "session", request_body = crate::answers::Login, security(()),
    responses((status = 200, body = crate::answers::Me, description = "Logged in; `Set-Cookie` carries the session"),
        (status = 401, body = crate::answers::ErrorAnswer, description = "Invalid username or password (unauthenticated)"),
        (status = 403, body = crate::answers::ErrorAnswer, description = "From another origin (csrf)"),
        (status = 429, body = crate::answers::ErrorAnswer,
            description = "Too many failed logins (too_many_attempts); `Retry-After` gives the seconds to wait")))]
pub async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    crate::state::require_json(&headers)?;
    if !same_origin(&Method::POST, &headers) {
        return Err(csrf_error());
    }
    let login: crate::answers::Login = crate::state::parse_json(&body)?;
    let address = client_address(&extensions);
    let username = loggable_username(&login.username);
    let now = riskgate_app::now().timestamp();
    state.login_throttle().check(&username, &address, now)?;
    let key = username.clone();
    let user = state.read(move |store| Ok(store.user(&key)?)).await?;
    let ok = verify_in_turn(&state, user.as_ref().map(|u| hash_to_verify(Some(u)).to_string()), login.password).await?;
    let offices = state.offices();
    let opened = match user.filter(|u| login_allowed(Some(u), ok)) {
        Some(u) => {
            state.login_throttle().succeeded(&username);
            let addr = address.clone();
            state
                .read(move |store| {
                    let value = open_session(store, &u, &addr, SESSION_SECS)?;
                    Ok(Identity::of(u, None, &offices).map(|p| (value, me_json(&p))))
                })
                .await?
        }
        None => None,
    };
    let Some((cookie_value, me)) = opened else {
        failed_attempt(&state, &username, &address, now).await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "invalid username or password"));
    };
    let mut resp = axum::Json(me).into_response();
    let c = format!("{SESSION_COOKIE}={cookie_value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ascii cookie"));
    Ok(resp)
}

/// Log out: the session ends.
///
/// Who: any session.
#[utoipa::path(delete, path = "/session", tag = "session", responses((status = 204, description = "Logged out")))]
pub async fn logout(State(state): State<AppState>, p: Principal, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        let h = sha256_hex(c);
        state.read(move |store| Ok(store.delete_session(&h)?)).await?;
    }
    let _ = p;
    Ok(ended_session())
}

/// The caller: username, role, office, department, permissions.
///
/// Who: any caller.
#[utoipa::path(get, path = "/me", tag = "session", responses((status = 200, body = crate::answers::Me)))]
pub async fn me(p: Principal) -> axum::Json<crate::answers::Me> {
    axum::Json(me_json(&p))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Whose sessions (administrators only; default: the caller's own).
    username: Option<String>,
}

/// Whose sessions a caller may list or end: their own, or anyone's for an
/// administrator.
fn session_owner(p: &Principal, username: Option<String>) -> ApiResult<String> {
    match username {
        Some(u) if u != p.username => {
            p.require(Perm::ManageAccounts)?;
            Ok(u)
        }
        _ => Ok(p.username.clone()),
    }
}

/// Open sessions: the caller's own (the one this request came with is
/// `current`), or any user's for an administrator (`?username=`). Never
/// the cookie or its hash, only a public id.
///
/// Who: any caller (own sessions); admin (anyone's).
#[utoipa::path(get, path = "/sessions", tag = "session", params(SessionQuery),
    responses((status = 200, body = crate::answers::SessionList)))]
pub async fn list_sessions(
    Caller(state, p): Caller,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<SessionQuery>,
) -> ApiResult<axum::Json<crate::answers::SessionList>> {
    let owner = session_owner(&p, q.username)?;
    let current = cookie(&headers, SESSION_COOKIE).map(sha256_hex);
    let sessions = state.read(move |store| riskgate_app::accounts::sessions(store, &owner, current.as_deref())).await?;
    Ok(axum::Json(crate::answers::SessionList { sessions }))
}

/// Ends one session by its id (e.g. one left open on another computer);
/// logged as `session_end`.
///
/// Who: any caller (own sessions); admin (anyone's, `?username=`).
#[utoipa::path(delete, path = "/sessions/{id}", tag = "session", params(("id" = String, Path), SessionQuery),
    responses((status = 204, description = "The session ended")))]
pub async fn end_session(
    Caller(state, p): Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<SessionQuery>,
) -> ApiResult<StatusCode> {
    let owner = session_owner(&p, q.username)?;
    let (actor, office) = (p.username.clone(), p.office.clone());
    state.read(move |store| riskgate_app::accounts::end_session(store, &actor, office, &owner, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's own password: the current password is checked
/// (failures count towards the login throttle of the username), the new
/// one must follow the policy; every session of the user ends, this one
/// included (log in again), logged as `password_set`. Not with a token.
///
/// Who: any session.
#[utoipa::path(post, path = "/me/password", tag = "session", request_body = crate::answers::PasswordChange,
    responses((status = 204, description = "Changed; the user's sessions ended"),
        (status = 429, body = crate::answers::ErrorAnswer,
            description = "Too many failed attempts (too_many_attempts); `Retry-After` gives the seconds to wait")))]
pub async fn change_password(
    Caller(state, p): Caller,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    if p.token.is_some() {
        return Err(ApiError::forbidden("a token cannot change its user's password"));
    }
    crate::state::require_json(&headers)?;
    let change: crate::answers::PasswordChange = crate::state::parse_json(&body)?;
    check_password(&change.new_password).map_err(ApiError::from)?;
    let address = client_address(&extensions);
    let username = p.username.clone();
    let now = riskgate_app::now().timestamp();
    state.login_throttle().check(&username, &address, now)?;
    let key = username.clone();
    let user = state.read(move |store| Ok(store.user(&key)?)).await?;
    let ok = verify_in_turn(&state, user.as_ref().map(|u| u.password_hash.clone()), change.current_password).await?;
    if !ok {
        failed_attempt(&state, &username, &address, now).await?;
        return Err(ApiError::invalid("current_password", "current_password: not the user's password"));
    }
    state.login_throttle().succeeded(&username);
    let new = change.new_password;
    state.read(move |store| riskgate_app::accounts::set_password(store, &username, &username, &new)).await?;
    Ok(ended_session())
}

/// Sets another user's password (a reset by an administrator): the policy
/// applies, the user's sessions end, logged as `password_set`.
///
/// Who: admin (a session, never a token).
#[utoipa::path(post, path = "/users/{username}/password", tag = "session", params(("username" = String, Path)),
    request_body = crate::answers::PasswordReset,
    responses((status = 204, description = "Set; the user's sessions ended")))]
pub async fn reset_password(
    Caller(state, p): Caller,
    axum::extract::Path(username): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    p.require(Perm::ManageAccounts)?;
    crate::state::require_json(&headers)?;
    let reset: crate::answers::PasswordReset = crate::state::parse_json(&body)?;
    let actor = p.username.clone();
    state.read(move |store| riskgate_app::accounts::set_password(store, &actor, &username, &reset.password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A wrong password (at login or for a password change): counted by the
/// throttle and logged as `login_failed`.
async fn failed_attempt(state: &AppState, username: &str, address: &str, now: i64) -> ApiResult<()> {
    state.login_throttle().failed(username, address, now);
    let a = login_failed_action(username, address);
    state.read(move |store| Ok(store.append_action(&a)?)).await
}

fn client_address(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// Verifies `password` against `hash` (or the dummy hash of the same cost
/// when there is none) on the blocking pool, a few at a time: a flood of
/// attempts waits here and never occupies the reader threads or the runtime.
async fn verify_in_turn(state: &AppState, hash: Option<String>, password: String) -> ApiResult<bool> {
    let permit = tokio::time::timeout(std::time::Duration::from_secs(10), state.verifications().acquire())
        .await
        .map_err(|_| ApiError::unavailable())?
        .map_err(|_| ApiError::unavailable())?;
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            // Same time as a real check, same answer as a wrong password.
            verify_password(&password, hash_to_verify(None));
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    drop(permit);
    Ok(ok)
}

/// 204 with the session cookie cleared.
fn ended_session() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let c = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ascii cookie"));
    resp
}
