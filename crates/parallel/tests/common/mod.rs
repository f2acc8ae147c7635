//! What the behaviour tests share.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on a thread of its own and fails, rather than hangs, if it never ends: a
/// regression there used to be a hang. The bound is a safety net for CI, not a timing.
pub fn within_a_minute<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(body());
    });
    result
        .recv_timeout(Duration::from_secs(60))
        .expect("the run returned instead of hanging")
}
