//! Where the cache's words go: warnings to the `log` logger when the program installed
//! one, else to stderr, where a user sees them; verbose lines to stderr. Each line goes
//! out in one `write(2)`, so the lines of worker processes sharing a stderr never mix.

use std::io::Write;

/// Writes `text` and a newline to stderr in one call: `eprintln!` writes each piece of a
/// formatted line on its own, and two processes' pieces interleaved mid-line
/// (`[Memory] Calling [Memory] Calling a::f...`). A pipe takes up to 4 KiB in one write
/// whole; a closed stderr is ignored (the words are best effort).
pub(crate) fn line(text: &str) {
    let mut whole = String::with_capacity(text.len() + 1);
    whole.push_str(text);
    whole.push('\n');
    let _ = std::io::stderr().write_all(whole.as_bytes());
}

/// Reports `message`, prefixed `[Memory]`.
pub(crate) fn warn(message: &str) {
    // `log` has no way to ask whether a logger is installed; every logger sets the
    // maximum level it wants, which stays `Off` without one.
    if log::max_level() >= log::LevelFilter::Warn {
        log::warn!("[Memory] {message}");
    } else {
        line(&format!("[Memory] warning: {message}"));
    }
}
