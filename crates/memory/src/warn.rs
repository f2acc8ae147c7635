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

/// A size as people read it: `512 B`, `4.1 KB`, `4.1 MB`, `1.2 GB` (decimal units), as
/// the warnings and the `cache` example write sizes of entries.
///
/// ```
/// use parmemo_memory::human_bytes;
/// assert_eq!(human_bytes(512), "512 B");
/// assert_eq!(human_bytes(1_536), "1.5 KB");
/// assert_eq!(human_bytes(200_000_000), "200.0 MB");
/// ```
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // a size to read, not to compute with
    let value = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", value / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", value / 1e6),
        _ => format!("{:.1} GB", value / 1e9),
    }
}
