//! The one error type a rule author sees: where in the rule text, and what went wrong.

use std::fmt;

/// What kind of mistake a [`RuleError`] reports; stable, so callers can map it to codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleErrorKind {
    /// The text does not follow the grammar (bad token, missing parenthesis, ...).
    Syntax,
    /// A field name that the schema does not declare.
    UnknownField,
    /// `list("...")` names a list that does not exist at compile time.
    UnknownList,
    /// Operands of the wrong type, or a rule that is not a condition.
    Type,
    /// An item field outside a quantifier, or nested quantifiers.
    Scope,
    /// The rule exceeds one of the size limits in [`crate::limits`]: too
    /// long, nested too deep, too many nodes, too long a string or list.
    Limit,
}

impl RuleErrorKind {
    /// A stable machine-readable code, e.g. `"rule.unknown_field"`.
    pub fn code(self) -> &'static str {
        match self {
            RuleErrorKind::Syntax => "rule.syntax",
            RuleErrorKind::UnknownField => "rule.unknown_field",
            RuleErrorKind::UnknownList => "rule.unknown_list",
            RuleErrorKind::Type => "rule.type",
            RuleErrorKind::Scope => "rule.scope",
            RuleErrorKind::Limit => "rule.limit",
        }
    }
}

impl fmt::Display for RuleErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A compile error in a rule, positioned at the offending token or expression.
///
/// Lines and columns are 1-based; columns count characters, not bytes, so that
/// positions stay right in rules containing Chinese text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct RuleError {
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub kind: RuleErrorKind,
}

/// A position in the rule source (1-based line and character column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl RuleError {
    /// Errors are the rare path: every one is made here, out of line, so
    /// the callers' hot paths stay small (the thin per-kind wrappers need
    /// no attributes of their own).
    #[cold]
    #[inline(never)]
    pub(crate) fn new(kind: RuleErrorKind, pos: Pos, message: impl Into<String>) -> Self {
        RuleError { line: pos.line, column: pos.column, message: message.into(), kind }
    }
}
