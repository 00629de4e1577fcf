//! Progress bars on a terminal, silence when piped.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = if len == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(len) };
    b.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} [{elapsed_precise}] {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    b.set_message(what.to_string());
    b
}
