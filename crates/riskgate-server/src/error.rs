//! The API's one error type: a stable code, a message, the offending field,
//! and the HTTP status that goes with the code. 5xx bodies never carry the
//! cause; it goes to the server log with an incident number instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Boxed: handlers return `Result<_, ApiError>` everywhere and the happy path stays small.
#[derive(Debug)]
pub struct ApiError(pub Box<ErrorBody>);

#[derive(Debug)]
pub struct ErrorBody {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra members of the error object (e.g. `line`, `column`, `index`).
    pub extra: Option<Value>,
}

/// The public error codes and their statuses (documented in the OpenAPI document).
pub const CODES: &[(&str, u16, &str)] = &[
    ("invalid_json", 400, "the body is not valid JSON or not the expected shape"),
    ("invalid_field", 422, "a field of a record is invalid; `field` names its path"),
    ("invalid_query", 400, "a query parameter is invalid; `field` names it"),
    ("rule_syntax", 422, "a rule does not compile; `line` and `column` locate the error"),
    ("unauthenticated", 401, "no valid session cookie or API token"),
    ("forbidden", 403, "the role or token scope does not allow this"),
    (
        "four_eyes",
        403,
        "a rule must be approved by another user than its author; a committee item decided by others than its proposer",
    ),
    ("not_a_member", 403, "only the committee's members vote on its items"),
    ("not_the_proposer", 403, "only the proposer withdraws a committee item"),
    ("csrf", 403, "a state-changing request from another origin"),
    ("not_found", 404, "no such object in the caller's scope"),
    ("conflict", 409, "the request conflicts with the stored state"),
    ("historical", 409, "the declaration is stored as history and was never screened"),
    ("method_not_allowed", 405, "the route does not answer this method; `Allow` lists those it does"),
    ("payload_too_large", 413, "the body is over the limit"),
    ("unsupported_media_type", 415, "the body must be application/json"),
    ("too_many_attempts", 429, "too many failed logins; `Retry-After` and `retry_after` give the seconds to wait"),
    ("not_implemented", 501, "not available in this build"),
    ("internal", 500, "an internal error; the server log has the details under the incident number"),
    ("unavailable", 503, "the store or the screening thread is not available"),
    ("overloaded", 503, "too many requests in flight; `Retry-After` gives the seconds to wait"),
];

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorBody { status, code, message: message.into(), field: None, extra: None }))
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }
    pub fn extra(mut self, extra: Value) -> Self {
        self.0.extra = Some(extra);
        self
    }
    /// The same error again (to answer several waiting requests).
    pub fn copy(&self) -> Self {
        let b = &self.0;
        ApiError(Box::new(ErrorBody {
            status: b.status,
            code: b.code,
            message: b.message.clone(),
            field: b.field.clone(),
            extra: b.extra.clone(),
        }))
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field(field)
    }
    pub fn query(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", message).field(field)
    }
    /// A use case's refusal of a query parameter: 400 `invalid_query`.
    pub fn query_refusal(e: anyhow::Error) -> Self {
        match riskgate_app::classify(&e) {
            Some(r) => Self::query(&r.field, r.message),
            None => e.into(),
        }
    }
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "log in or send an API token")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the screening service is not available")
    }
    /// Logs the cause with an incident number; the body names only the number.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        eprintln!("incident {n}: {cause:#}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error (incident {n})"))
    }
    /// A validation error from the domain core, `prefix` naming the record (e.g. `[3]`).
    pub fn validation(e: &riskgate_core::ValidationError, prefix: &str) -> Self {
        let field = if prefix.is_empty() { e.path.clone() } else { format!("{prefix}.{}", e.path) };
        Self::invalid(&field, format!("{field}: expected {}, got {}", e.expected, e.got))
    }
}

impl From<riskgate_app::AppError> for ApiError {
    fn from(e: riskgate_app::AppError) -> Self {
        use riskgate_app::Kind;
        let status = match e.kind {
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        };
        let mut a = ApiError::new(status, e.code, e.message);
        if !e.field.is_empty() {
            a = a.field(e.field);
        }
        if let Some(x) = e.extra {
            a = a.extra(x);
        }
        a
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        // A store that cannot answer yet (the KPI aggregates catching up,
        // PostgreSQL unreachable) is a 503 the caller may retry.
        if let Some(riskgate_store::StoreError::Unavailable(m)) = e.downcast_ref::<riskgate_store::StoreError>() {
            eprintln!("unavailable: {m}");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.clone())
                .extra(json!({"retry_after": 60}));
        }
        // A refusal is the caller's to fix; anything else is ours (500).
        match riskgate_app::classify(&e) {
            Some(refusal) => refusal.into(),
            None => ApiError::internal(&format!("{e:#}")),
        }
    }
}

impl From<riskgate_store::StoreError> for ApiError {
    fn from(e: riskgate_store::StoreError) -> Self {
        anyhow::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let b = *self.0;
        let retry_after = b.extra.as_ref().and_then(|x| x["retry_after"].as_u64());
        let mut err = json!({"code": b.code, "message": b.message});
        if let Some(f) = b.field {
            err["field"] = Value::String(f);
        }
        if let Some(Value::Object(extra)) = b.extra {
            for (k, v) in extra {
                err[k] = v;
            }
        }
        let mut resp = (b.status, axum::Json(json!({ "error": err }))).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
