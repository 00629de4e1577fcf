//! Validation errors: user errors that name the field path and what was expected.

use std::fmt;

/// One bad field in one record. The reader that knows the file line wraps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub path: String,
    pub expected: String,
    pub got: String,
}

impl ValidationError {
    pub fn new(path: &str, expected: &str, got: impl Into<String>) -> Self {
        ValidationError { path: path.to_string(), expected: expected.to_string(), got: got.into() }
    }

    /// Stable error code for APIs and logs.
    pub fn code(&self) -> &'static str {
        "invalid_field"
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, got {}", self.path, self.expected, self.got)
    }
}

impl std::error::Error for ValidationError {}
