//! Counted nouns in messages people read: `1 error`, `2 errors`, `0 warnings`.

use std::fmt::Display;

/// `n` followed by `one` when `n` is 1 and by `many` otherwise.
///
/// ```
/// use ledger_core::plural::counted;
/// assert_eq!(counted(1, "error", "errors"), "1 error");
/// assert_eq!(counted(0u64, "entry", "entries"), "0 entries");
/// ```
pub fn counted(n: impl Display, one: &str, many: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { one } else { many };
    format!("{n} {noun}")
}
