//! Enums written as words (in JSON, SQL, on the command line): one
//! declaration gives the enum, its word list, `as_str` and `parse`.

/// Declares an enum whose variants are written as words:
///
/// ```
/// riskgate_core::word_enum! {
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Lane {
///         Fast => "fast",
///         Slow => "slow",
///     }
/// }
/// assert_eq!(Lane::ALL, [("fast", Lane::Fast), ("slow", Lane::Slow)]);
/// assert_eq!(Lane::Slow.as_str(), "slow");
/// assert_eq!(Lane::parse("fast"), Some(Lane::Fast));
/// assert_eq!(Lane::parse("Fast"), None);
/// ```
///
/// The enum must be `Copy` and `PartialEq`; attributes (derives, serde
/// renames, docs, `#[default]`) pass through to the enum and its variants.
#[macro_export]
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant with its word, in declaration order.
            pub const ALL: [(&'static str, $name); [$($word),+].len()] = [$(($word, $name::$variant)),+];

            /// The word the variant is written as.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word ),+
                }
            }

            /// The variant written as `s`, if any (exact match).
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().find(|(word, _)| *word == s).map(|(_, v)| *v)
            }
        }
    };
}
