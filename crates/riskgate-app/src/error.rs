//! Typed refusals. A use case that refuses returns an [`AppError`] (inside
//! an `anyhow::Error`, so `?` keeps working); transports map its [`Kind`]
//! to an HTTP status or an exit code and show its message and field. Every
//! other error is internal: 500 over HTTP, never 409.

use riskgate_store::StoreError;

/// What kind of refusal: decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is malformed or a field is out of range (400).
    Invalid,
    /// The caller may not do this (403).
    Forbidden,
    /// No such record, or not visible to the caller (404).
    NotFound,
    /// The request conflicts with the stored state (409).
    Conflict,
    /// The record is valid but the rule language refuses it (422).
    Unprocessable,
    /// Too many attempts: try again after `retry_after` seconds (429).
    Throttled,
}

/// A refusal with a stable machine-readable code, the field it concerns
/// (empty for the whole request) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub kind: Kind,
    pub code: &'static str,
    pub field: String,
    pub message: String,
    /// More members for the error object (a rule error's `line`, `column`, `kind`).
    pub extra: Option<serde_json::Value>,
}

impl AppError {
    pub fn new(kind: Kind, code: &'static str, field: &str, message: impl Into<String>) -> AppError {
        AppError { kind, code, field: field.to_string(), message: message.into(), extra: None }
    }
    pub fn with_extra(mut self, extra: serde_json::Value) -> AppError {
        self.extra = Some(extra);
        self
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::new(Kind::Invalid, "invalid_field", field, message)
    }
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(Kind::NotFound, "not_found", "", message)
    }
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(Kind::Conflict, "conflict", "", message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(Kind::Forbidden, code, "", message)
    }
    /// Throttled: `retry_after` seconds until the window lets the caller in again.
    pub fn throttled(retry_after: u64, message: impl Into<String>) -> AppError {
        AppError::new(Kind::Throttled, "too_many_attempts", "", message)
            .with_extra(serde_json::json!({ "retry_after": retry_after }))
    }
}

/// The refusal inside an error, if it is one: an [`AppError`], or a store
/// refusal of a request that conflicts with its state (a duplicate, a lane
/// already set). `None` means an internal failure.
pub fn classify(e: &anyhow::Error) -> Option<AppError> {
    if let Some(a) = e.downcast_ref::<AppError>() {
        return Some(a.clone());
    }
    match e.downcast_ref::<StoreError>() {
        Some(StoreError::User(m)) => Some(AppError::conflict(m.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_failures_are_told_apart() {
        let refusal = |e: anyhow::Error| classify(&e).map(|a| (a.kind, a.code));
        assert_eq!(refusal(AppError::invalid("office", "office: …").into()), Some((Kind::Invalid, "invalid_field")));
        assert_eq!(refusal(StoreError::User("channel: already red".into()).into()), Some((Kind::Conflict, "conflict")));
        // The database is down or its data is damaged: ours to fix, not the caller's.
        assert_eq!(refusal(StoreError::Unavailable("cannot connect to PostgreSQL at …".into()).into()), None);
        assert_eq!(refusal(StoreError::Corrupt("stored record does not validate: …".into()).into()), None);
        assert_eq!(refusal(anyhow::anyhow!("disk full")), None);
        // Context added on the way up keeps the refusal visible.
        let wrapped = anyhow::Error::from(AppError::not_found("no rule")).context("approving");
        assert_eq!(refusal(wrapped), Some((Kind::NotFound, "not_found")));
    }
}
