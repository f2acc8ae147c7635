//! Starting one worker process and talking to it.
//!
//! The channel is a `socketpair`: the child inherits one end at a number named in its
//! environment, with a fresh random nonce; nothing is in the file system, so no other
//! process, of this user or another, can connect, listen or swap anything. The child
//! must greet with its own pid and that nonce within [`START_TIMEOUT`].

use super::channel::{receive_reply, send_request, send_yield};
use super::handshake::{fresh_nonce, Invitation, INIT_MISSING_EXIT, WORKER_VARIABLE};
use crate::backend::remote::wire::{Payload, Reply, Request};
use crate::backend::remote::{no_values, Offsets};
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a new worker may take to start and greet its parent.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a worker that closed its channel gets to exit on its own before it is
/// killed, so that its own exit status is what gets reported.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// What the harness of a test binary needs to run only the worker entry point (see
/// `enable_test_support!`), for platforms where no constructor recognises workers
/// before `main`; a program that serves before `main` or in `init()` never parses them.
const TEST_WORKER_ARGUMENTS: [&str; 5] = [
    "--exact",
    "__parmemo_worker_entry",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

/// Why a worker could not start.
pub(crate) enum StartError {
    /// The worker ran `main` instead of serving: `init()` is missing. Starting more
    /// workers would fail the same way.
    InitMissing(String),
    Other(String),
}

impl StartError {
    pub(crate) fn message(&self) -> &str {
        match self {
            StartError::InitMissing(message) | StartError::Other(message) => message,
        }
    }
}

/// How a job on a worker failed.
pub(crate) enum Failure {
    Died,
    TimedOut,
    /// The run no longer wants the result (a failure elsewhere, a dropped stream).
    Cancelled,
}

/// How often a worker's parent thread looks whether its run still wants the result.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What a worker's parent thread may do while a batch sent with `each` runs: ask for
/// the tasks not started yet back, once, and hand them on.
pub(crate) struct Yielding<'a> {
    /// Whether to ask now, told how long the worker has sent nothing.
    pub(crate) ask: &'a dyn Fn(Duration) -> bool,
    /// The worker's answer: the batch ends there at this offset.
    pub(crate) yielded: &'a mut dyn FnMut(usize),
}

/// One live worker process and the parent's end of its channel.
pub(crate) struct Worker {
    child: Child,
    channel: UnixStream,
}

impl Worker {
    /// Starts a worker from the running executable image, waits for its greeting, and
    /// runs `initializer` in it, if any, before it takes any task.
    pub(crate) fn start(initializer: Option<Offsets>) -> Result<Worker, StartError> {
        let other = |what: &str, err: io::Error| StartError::Other(format!("{what}: {err}"));
        let (channel, childs_end) =
            UnixStream::pair().map_err(|err| other("cannot create the worker's channel", err))?;
        let nonce = fresh_nonce().map_err(|err| other("cannot draw a nonce", err))?;
        let fd = childs_end.as_raw_fd();
        let invitation = Invitation { fd, nonce };
        let parent = std::process::id();
        let mut command = Command::new(running_image());
        command
            .arg0(program_name())
            .args(worker_arguments(
                &std::env::current_exe().unwrap_or_default(),
            ))
            .env(WORKER_VARIABLE, invitation.to_string())
            .stdin(Stdio::null());
        // SAFETY: the closure runs in the forked child before `exec`; it allocates
        // nothing and calls only async-signal-safe functions (`fcntl`, `prctl`, `getppid`).
        unsafe {
            command.pre_exec(move || prepare_child(fd, parent));
        }
        let mut child = command
            .spawn()
            .map_err(|err| other("cannot start a worker process", err))?;
        // The parent keeps no copy of the child's end: when the child exits, its end
        // closes and the parent reads an end of stream instead of waiting.
        drop(childs_end);
        if let Err(err) = greeting(&channel, &mut child, nonce, START_TIMEOUT) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
        let mut worker = Worker { child, channel };
        if let Some(task) = initializer {
            let arguments = no_values().map_err(StartError::Other)?;
            let request = Request::Run {
                task,
                arguments,
                each: false,
            };
            let failure = match worker.run(&request, None, &|| false, &mut |_| {}, None) {
                Ok(Reply::Done(_)) => None,
                Ok(Reply::Failed { message, .. }) => {
                    Some(format!("its initializer failed: {message}"))
                }
                Ok(Reply::Hello { .. } | Reply::Partial(_) | Reply::Yielded { .. }) => {
                    Some("it answered out of turn".to_owned())
                }
                Err(_) => Some("it died in its initializer".to_owned()),
            };
            if let Some(failure) = failure {
                let cause = worker.reap();
                return Err(StartError::Other(format!(
                    "a worker could not be made ready ({cause}): {failure}"
                )));
            }
        }
        Ok(worker)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `request` and waits for the reply, at most `timeout`, and only as long as
    /// `cancelled` says the run still wants it: a cancelled job's worker is killed rather
    /// than left to finish work nobody waits for while later runs queue behind it. The
    /// results of a batch sent with `each` go to `partial` as they arrive, before the
    /// reply that closes it; with `yielding`, the tasks it has not started may be asked
    /// back while it runs.
    pub(crate) fn run(
        &mut self,
        request: &Request,
        timeout: Option<Duration>,
        cancelled: &dyn Fn() -> bool,
        partial: &mut dyn FnMut(Payload),
        mut yielding: Option<Yielding<'_>>,
    ) -> Result<Reply, Failure> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        send_request(&mut &self.channel, request).map_err(|_| Failure::Died)?;
        let mut heard = Instant::now();
        let mut asked = false;
        loop {
            let mut on_quiet = || {
                let Some(yielding) = yielding.as_ref() else {
                    return;
                };
                if !asked && (yielding.ask)(heard.elapsed()) {
                    // A worker that cannot be told is found out by the next read.
                    asked = send_yield(&mut &self.channel).is_ok();
                }
            };
            self.wait_readable(deadline, cancelled, &mut on_quiet)?;
            // A reply has begun: read it whole, within what is left of the timeout.
            let left = deadline.map(|deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            self.channel
                .set_read_timeout(left)
                .map_err(|_| Failure::Died)?;
            match receive_reply(&mut &self.channel) {
                Ok(Reply::Partial(result)) => {
                    heard = Instant::now();
                    partial(result);
                }
                Ok(Reply::Yielded { from }) => {
                    if let Some(yielding) = yielding.as_mut() {
                        (yielding.yielded)(from);
                    }
                }
                Ok(reply) => return Ok(reply),
                Err(err) => {
                    return Err(match err.kind() {
                        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::TimedOut,
                        _ => Failure::Died,
                    })
                }
            }
        }
    }

    /// Waits until the worker's reply starts (or its end of the channel closes), calling
    /// `on_quiet` each time a slice of the wait passes without one.
    fn wait_readable(
        &self,
        deadline: Option<Instant>,
        cancelled: &dyn Fn() -> bool,
        on_quiet: &mut dyn FnMut(),
    ) -> Result<(), Failure> {
        loop {
            if cancelled() {
                return Err(Failure::Cancelled);
            }
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Failure::TimedOut);
                    }
                    left.min(CANCEL_POLL)
                }
                None => CANCEL_POLL,
            };
            let mut ready = libc::pollfd {
                fd: self.channel.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = libc::c_int::try_from(slice.as_millis().max(1)).unwrap_or(1);
            // SAFETY: one valid `pollfd` for an fd this worker's channel owns.
            match unsafe { libc::poll(&raw mut ready, 1, millis) } {
                0 => on_quiet(),
                n if n > 0 => return Ok(()),
                _ if io::Error::last_os_error().kind() == ErrorKind::Interrupted => {}
                _ => return Err(Failure::Died),
            }
        }
    }

    /// Kills the worker (a task past its timeout) and reaps it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Reaps a worker whose channel broke, and says how it ended: its own exit status
    /// when it exits within a moment (a panic that escaped is `exit status: 101`), else
    /// the SIGKILL that ends it.
    pub(crate) fn reap(mut self) -> String {
        drop(self.channel);
        describe(exit_status(&mut self.child, EXIT_GRACE))
    }
}

/// Reads the worker's hello (its pid and the nonce it was given) within `timeout`.
fn greeting(
    channel: &UnixStream,
    child: &mut Child,
    nonce: u128,
    timeout: Duration,
) -> Result<(), StartError> {
    let other = |message: String| StartError::Other(message);
    channel
        .set_read_timeout(Some(timeout))
        .map_err(|err| other(err.to_string()))?;
    let mut reader = channel;
    let hello = receive_reply(&mut reader);
    channel
        .set_read_timeout(None)
        .map_err(|err| other(err.to_string()))?;
    match hello {
        Ok(Reply::Hello { pid, nonce: theirs }) if pid == child.id() && theirs == nonce => Ok(()),
        Ok(_) => Err(other(
            "the worker's channel carried something other than its greeting".to_owned(),
        )),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(other(format!(
                "the worker did not greet its parent within {timeout:?}"
            )))
        }
        Err(_) => Err(exited_before_greeting(exit_status(child, EXIT_GRACE))),
    }
}

fn exited_before_greeting(status: Option<ExitStatus>) -> StartError {
    let hint = "call parmemo::parallel::init() first thing in main (in a test crate: \
                parmemo_parallel::enable_test_support!())";
    match status {
        Some(status) if status.code() == Some(INIT_MISSING_EXIT) => StartError::InitMissing(
            format!("the worker ran main instead of serving its parent: {hint}"),
        ),
        status => StartError::Other(format!(
            "the worker ended ({}) before greeting its parent: {hint}",
            describe(status)
        )),
    }
}

/// The child's exit status, waiting at most `grace` for it to exit on its own before
/// killing it.
fn exit_status(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                return child.wait().ok();
            }
            Err(_) => return None,
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(
        || "unknown exit status".to_owned(),
        |status| status.to_string(),
    )
}

/// What to execute: the image this process runs, even if its file was replaced or
/// deleted since (what `cargo build` does to a running binary); elsewhere, its path.
fn running_image() -> PathBuf {
    let image = PathBuf::from("/proc/self/exe");
    if cfg!(target_os = "linux") && image.exists() {
        image
    } else {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"))
    }
}

/// The arguments a worker starts with: a test binary's harness flags in a test binary,
/// else one marker, so that `ps` shows an ordinary program's workers as
/// `prog --parmemo-worker`, not with a test runner's flags (the worker is recognised by
/// its environment before `main`, or by `init()`, never by its arguments).
fn worker_arguments(image: &std::path::Path) -> &'static [&'static str] {
    if is_test_binary(image) {
        &TEST_WORKER_ARGUMENTS
    } else {
        &["--parmemo-worker"]
    }
}

/// Whether `image` is a test (or bench) binary as cargo builds them:
/// `target/<profile>/deps/<name>-<16 hex digits>`. Programs (`target/<profile>/<name>`),
/// examples (`.../examples/<name>`) and installed binaries are not.
fn is_test_binary(image: &std::path::Path) -> bool {
    let in_deps = image
        .parent()
        .and_then(std::path::Path::file_name)
        .is_some_and(|folder| folder == "deps");
    let hashed = image
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.rsplit_once('-'))
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    in_deps && hashed
}

/// The name the worker shows in `ps`: the program's.
fn program_name() -> std::ffi::OsString {
    std::env::current_exe().map_or_else(
        |_| "parmemo-worker".into(),
        std::path::PathBuf::into_os_string,
    )
}

/// In the forked child, before `exec`: keep the child's end of the channel open across
/// `exec` (it is close-on-exec in the parent, so no other child inherits it) and, on
/// Linux, have the kernel kill the worker when the parent's thread that started it ends.
fn prepare_child(fd: RawFd, parent: u32) -> io::Result<()> {
    // SAFETY: `fcntl` on an fd this process holds; async-signal-safe.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, signal)` takes a signal number; async-signal-safe.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died before the request above took effect.
        // SAFETY: `getppid` has no preconditions.
        if u32::try_from(unsafe { libc::getppid() }).ok() != Some(parent) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::channel::send_reply;
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// A stand-in child that lives long enough, and the other end of a channel that the
    /// test itself drives as a hostile or silent peer.
    fn peer() -> (Child, UnixStream, UnixStream) {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        (child, ours, theirs)
    }

    #[test]
    fn only_test_binaries_get_the_harness_flags() {
        use std::path::Path;
        let test = Path::new("/w/target/debug/deps/processes-0123456789abcdef");
        assert_eq!(worker_arguments(test), TEST_WORKER_ARGUMENTS);
        assert!(
            is_test_binary(&std::env::current_exe().unwrap()),
            "this one is"
        );
        for program in [
            "/w/target/release/sweep",
            "/w/target/release/examples/processes",
            "/usr/local/bin/sweep",
            "/w/target/debug/deps/not-a-hash",
            "/w/target/debug/deps/libthing-0123456789abcdef.so.x/y",
        ] {
            assert_eq!(
                worker_arguments(Path::new(program)),
                ["--parmemo-worker"],
                "{program}"
            );
        }
    }

    fn refused(result: Result<(), StartError>) -> String {
        match result {
            Ok(()) => panic!("the greeting was accepted"),
            Err(err) => err.message().to_owned(),
        }
    }

    #[test]
    fn a_silent_peer_times_out() {
        let (mut child, ours, _silent) = peer();
        let message = refused(greeting(&ours, &mut child, 7, Duration::from_millis(200)));
        assert!(message.contains("did not greet"), "{message}");
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_greeting_with_the_wrong_nonce_or_pid_is_refused() {
        let (mut child, ours, theirs) = peer();
        let pid = child.id();
        send_reply(&mut &theirs, &Reply::Hello { pid, nonce: 8 }).unwrap();
        let message = refused(greeting(&ours, &mut child, 7, Duration::from_secs(5)));
        assert!(message.contains("other than its greeting"), "{message}");
        send_reply(
            &mut &theirs,
            &Reply::Hello {
                pid: pid + 1,
                nonce: 7,
            },
        )
        .unwrap();
        refused(greeting(&ours, &mut child, 7, Duration::from_secs(5)));
        send_reply(&mut &theirs, &Reply::Hello { pid, nonce: 7 }).unwrap();
        assert!(greeting(&ours, &mut child, 7, Duration::from_secs(5)).is_ok());
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn an_oversized_greeting_is_refused_without_allocating_it() {
        use std::io::Write;
        let (mut child, ours, mut theirs) = peer();
        theirs.write_all(&(1_u64 << 50).to_le_bytes()).unwrap();
        refused(greeting(&ours, &mut child, 7, Duration::from_secs(5)));
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_worker_that_ran_main_is_told_to_call_init() {
        let err = exited_before_greeting(Some(ExitStatus::from_raw(INIT_MISSING_EXIT << 8)));
        assert!(matches!(&err, StartError::InitMissing(m) if m.contains("init()")));
        let err = exited_before_greeting(Some(ExitStatus::from_raw(2 << 8)));
        assert!(
            matches!(&err, StartError::Other(m) if m.contains("exit status: 2") && m.contains("init()"))
        );
    }
}
