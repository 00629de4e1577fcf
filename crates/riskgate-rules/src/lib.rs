//! A small typed rule language for risk profiles, compiled once and evaluated fast.
//!
//! The crate knows nothing about customs. A caller declares a [`Schema`] of
//! fields (header or item scoped; number, text or bool), fills [`Facts`] for
//! each subject, and compiles rule texts with [`compile`] into
//! [`CompiledRule`]s. Many rules go into a [`RuleSet`], which indexes them so
//! that matching a subject against thousands of rules costs about as much as
//! against a hundred.
//!
//! ```
//! use riskgate_rules::{compile, Facts, Lists, Schema, Scope, Type};
//!
//! let mut schema = Schema::new();
//! let mode = schema.field("trade_mode", Scope::Header, Type::Text);
//! let hs = schema.field("item.hs_code", Scope::Item, Type::Text);
//! let rule = compile(
//!     r#"trade_mode == "0110" and any(item: item.hs_code starts_with "8517")"#,
//!     &schema,
//!     &Lists::new(),
//! )
//! .unwrap();
//!
//! let mut facts = Facts::new(&schema);
//! facts.set_text(mode, "0110");
//! let line = facts.push_item();
//! facts.set_item_text(line, hs, "8517120000");
//! assert!(rule.eval(&facts));
//! ```
//!
//! # The language
//!
//! A rule is one boolean expression, which may span several lines. `#`
//! starts a comment that runs to the end of the line.
//!
//! ```text
//! rule        = or EOF
//! or          = and ( "or" and )*
//! and         = not ( "and" not )*
//! not         = "not" not | test
//! test        = sum [ cmp_op sum
//!                   | "in" set | "not" "in" set
//!                   | "starts_with" ( STRING | set ) ]    # at most one, no chaining
//! cmp_op      = "<" | "<=" | ">" | ">=" | "==" | "!="
//! set         = "[" [ literal ( "," literal )* [ "," ] ] "]"
//!             | "list" "(" STRING ")"
//! literal     = STRING | [ "-" ] NUMBER
//! sum         = product ( ( "+" | "-" ) product )*
//! product     = unary ( ( "*" | "/" ) unary )*
//! unary       = "-" unary | primary
//! primary     = NUMBER | STRING | "true" | "false" | FIELD | "(" or ")"
//!             | ( "abs" "(" or ")" ) | ( ( "min" | "max" ) "(" or "," or ")" )
//!             | ( "any" | "all" | "count" | "sum" ) "(" "item" ":" or ")"
//!             | ( "missing" | "present" ) "(" FIELD ")"
//! FIELD       = NAME ( "." NAME )*        # as declared in the schema
//! NAME        = [A-Za-z_][A-Za-z0-9_]*
//! NUMBER      = digits [ "." digits ] [ ( "e" | "E" ) [ "+" | "-" ] digits ]
//!                                         # digits may contain "_": 100_000
//! STRING      = '"' ( any character but '"', '\' or newline | '\"' | '\\' )* '"'
//! ```
//!
//! Precedence, loosest first: `or`, `and`, `not`, the tests (`<` ... `!=`,
//! `in`, `not in`, `starts_with`), `+ -`, `* /`, unary `-`. So
//! `not a < 3 and b` means `(not (a < 3)) and b`.
//!
//! ## Types
//!
//! Every expression is a number, text or bool (a *condition*); types are
//! checked at compile time and mistakes are reported with line and column.
//!
//! | construct | operands | result |
//! |---|---|---|
//! | `+ - * /`, unary `-`, `abs(x)`, `min(a, b)`, `max(a, b)` | numbers | number |
//! | `< <= > >=` | numbers | condition |
//! | `== !=` | two numbers, two texts or two conditions | condition |
//! | `and`, `or`, `not` | conditions | condition |
//! | `x in [..]`, `x not in [..]` | number with number literals, or text with text literals | condition |
//! | `x in list("name")`, `x not in list("name")` | text | condition |
//! | `x starts_with "p"`, `starts_with [..]`, `starts_with list("name")` | text | condition, true if any element is a prefix of `x` |
//! | `any(item: c)`, `all(item: c)` | condition over one item line | condition |
//! | `count(item: c)` | condition over one item line | number |
//! | `sum(item: x)` | number over one item line | number |
//! | `missing(f)`, `present(f)` | a field | condition |
//!
//! A bool field can be used directly as a condition. The whole rule must be a
//! condition.
//!
//! ## Fields, items and lists
//!
//! Fields are named exactly as declared in the [`Schema`]; an unknown name is
//! an error that suggests the closest declared name. Item fields (`item.*`)
//! have one value per item line and may only appear inside a quantifier
//! (`any`, `all`, `count`, `sum`), where they refer to the line being
//! examined; header fields may appear anywhere. Quantifiers do not nest.
//! `all(item: ..)` is true when there are no items; `count` and `sum` are 0.
//!
//! `list("name")` refers to a named list of texts in [`Lists`]; it must exist
//! when the rule is compiled, and the rule keeps the list as it was then.
//!
//! ## Missing values
//!
//! A field the caller did not set is *missing*. The rules are:
//!
//! * arithmetic with a missing operand is missing, and so is division by zero;
//! * every comparison, membership or prefix test on a missing value is
//!   **false**: `x < 3`, `x >= 3`, `x != 3`, `x in [..]` and `x not in [..]`
//!   are all false when `x` is missing;
//! * a missing bool field used as a condition is false;
//! * `not` is plain negation, so `not (x < 3)` is **true** when `x` is
//!   missing. Write `present(x) and not (x < 3)` to require a value;
//! * `sum(item: ..)` skips lines where its expression is missing.
//!
//! ## Limits
//!
//! Rule texts come from users, so every one is bounded; a rule past a limit
//! is refused with a [`RuleError`] of kind [`RuleErrorKind::Limit`] at the
//! place it crossed the limit. The limits, in [`limits`], are far above what
//! a real rule needs:
//!
//! | what | limit |
//! |---|---|
//! | rule text | 64 KiB ([`limits::MAX_SOURCE_LEN`]) |
//! | nesting depth | 64 levels ([`limits::MAX_DEPTH`]) |
//! | nodes (operands, operators, calls, set elements) | 16,384 ([`limits::MAX_NODES`]) |
//! | elements of one `[...]` set | 10,000 ([`limits::MAX_SET_LEN`]) |
//! | string literal | 1,024 bytes ([`limits::MAX_STRING_LEN`]) |
//!
//! Each parenthesised group, `not`, unary `-` and call or quantifier argument
//! list opens a nesting level, and every operator sits one level above its
//! operands, except that a chain of `and`s (or of `or`s) is one level however
//! long it is. The parser refuses a rule before it nests too deep, and
//! compiling and evaluating recurse no deeper than the parser allowed: a rule
//! at the limits parses, compiles and evaluates within about 100 KiB of stack
//! in optimised code (the tests run them on a 256 KiB stack).
//!
//! Sets are prepared when a rule is compiled, so evaluation does not grow with
//! their size: `in [...]` is a hash or binary search, and `starts_with [...]` a
//! binary search in the sorted prefixes. Longer lists belong in [`Lists`].
//!
//! [`canonical`] prints a rule in one canonical layout, for display and diffs.
//!
//! ## Examples
//!
//! ```text
//! trade_mode == "0110" and any(item: item.hs_code starts_with "8517"
//!                                   and item.unit_value < 0.5 * item.ref.median)
//! trader.id in list("watch_traders") or declarant.finding_rate > 0.2
//! count(item: item.origin in ["KP", "IR"]) >= 1
//! transport_mode == "post" and sum(item: item.value_cny) > 50000 and trader.age_days < 90
//! forex.paid_ratio > 1.3   # paid abroad 30% more than declared
//! ```

mod compile;
mod error;
mod eval;
mod facts;
mod lexer;
pub mod limits;
mod parser;
mod print;
mod ruleset;
mod schema;

pub use compile::{CompiledRule, compile};
pub use error::{RuleError, RuleErrorKind};
pub use facts::Facts;
pub use print::canonical;
pub use ruleset::RuleSet;
pub use schema::{FieldId, Lists, Schema, Scope, Type};
