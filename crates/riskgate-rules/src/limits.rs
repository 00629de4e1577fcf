//! Size limits every rule text must respect, so that no input can exhaust the
//! stack or make compiling and evaluating slow. See "Limits" in the crate docs.

/// Longest rule text, in bytes (64 KiB).
pub const MAX_SOURCE_LEN: usize = 64 * 1024;

/// Deepest nesting. Each parenthesised group, `not`, unary `-` and the
/// arguments of a call or quantifier (`abs(`, `min(`, `any(item:` ...) open a
/// level, and the syntax tree may be no higher than this either: every
/// operator sits one level above its operands, except that a chain of `and`
/// (or of `or`) of any length is a single level. The parser checks this
/// before it descends, and compiling and evaluating recurse no deeper than
/// the tree, so the limit bounds the stack all three use.
pub const MAX_DEPTH: usize = 64;

/// Most syntax-tree nodes in one rule: every operand, operator, call and
/// quantifier is one node, and so is every element of a `[...]` set.
pub const MAX_NODES: usize = 16 * 1024;

/// Most elements in one `[...]` set literal. Longer lists belong in a named
/// list: `x in list("name")`.
pub const MAX_SET_LEN: usize = 10_000;

/// Longest string literal, in bytes after unescaping.
pub const MAX_STRING_LEN: usize = 1024;
