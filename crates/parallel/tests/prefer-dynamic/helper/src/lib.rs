//! A `dylib` crate: its functions live in a shared object of their own.

/// A function of this shared object, sent to worker processes by its object and offset.
#[must_use]
pub fn triple(x: u64) -> u64 {
    3 * x
}

/// The process this runs in, to show the call crossed to a worker.
#[must_use]
pub fn pid_of_caller(_: u8) -> u32 {
    std::process::id()
}
