//! Where the cache's warnings go: to the `log` logger when the program installed one,
//! else to stderr, where a user sees them.

/// Reports `message`, prefixed `[Memory]`.
pub(crate) fn warn(message: &str) {
    // `log` has no way to ask whether a logger is installed; every logger sets the
    // maximum level it wants, which stays `Off` without one.
    if log::max_level() >= log::LevelFilter::Warn {
        log::warn!("[Memory] {message}");
    } else {
        eprintln!("[Memory] warning: {message}");
    }
}
