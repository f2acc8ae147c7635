//! The child's side: recognising that this process was started as a worker (before
//! `main`, by a constructor; or in `init()`), and the serving loop.
//!
//! A worker trusts exactly one peer: whoever holds the other end of the inherited
//! channel, which is the parent that created the pair. It never connects anywhere, and
//! the variable that invited it is gone from its environment before any task runs, so
//! neither its tasks nor the programs they start can be mistaken for workers.

use super::answers::Answers;
use super::channel::{receive_request, send_reply};
use super::handshake::{Invitation, INIT_MISSING_EXIT, WORKER_VARIABLE};
use crate::backend::remote::wire::{Reply, Request};
use crate::backend::remote::{call, call_each, Arrays, Cursor};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set when this process was started with the worker variable but did not serve (the
/// variable was not a parent's invitation): such a process must never start workers.
static INVITED_BUT_NOT_SERVING: AtomicBool = AtomicBool::new(false);

/// Runs before `main` in every program that links this crate, so a worker serves even
/// when the program forgot `init()`: it never reaches `main`, and so never starts a pool
/// of its own. Everything it needs of std (allocation, threads, the environment, sockets,
/// unwinding) works before `main` on the platforms `ctor` supports; what Rust's runtime
/// would have set up (SIGPIPE ignored) is done by `serve` itself.
///
/// It also takes note of the shared objects loaded at start: a function in one of those
/// can be named to a worker, which loads them too; one `dlopen`ed later cannot.
#[ctor::ctor(unsafe)]
fn recognise_worker_before_main() {
    crate::backend::remote::remember_start();
    serve_if_invited();
}

/// If this process was started as a worker, serves its parent and exits; otherwise
/// returns at once. Idempotent: the first call consumes the invitation.
pub(crate) fn serve_if_invited() {
    let Some(value) = std::env::var_os(WORKER_VARIABLE) else {
        return;
    };
    // Consumed before anything else runs. Changing the environment is sound while no
    // other thread reads it: before `main` there is no other thread, and `init()` is
    // documented to come first in `main`.
    std::env::remove_var(WORKER_VARIABLE);
    let Some(invitation) = value.to_str().and_then(Invitation::parse) else {
        // Debug on purpose: whoever set the variable chose its bytes, which are escaped.
        #[allow(clippy::unnecessary_debug_formatting)]
        refuse_invitation(&format!(
            "{WORKER_VARIABLE} is set to {value:?}, which no parmemo parent writes"
        ));
        return;
    };
    let Some(channel) = adopt_channel(invitation.fd) else {
        refuse_invitation(&format!(
            "{WORKER_VARIABLE} names file descriptor {}, which is not an inherited Unix socket",
            invitation.fd
        ));
        return;
    };
    // The cache reports this process's calls to the parent's counts from here on.
    parmemo_shared::role::mark_worker();
    std::process::exit(serve(&channel, invitation.nonce));
}

fn refuse_invitation(why: &str) {
    INVITED_BUT_NOT_SERVING.store(true, Ordering::Relaxed);
    eprintln!("parmemo: {why}; not serving as a worker (this process will refuse to start workers of its own)");
}

/// Called where a process pool is about to be created: a process that was started as a
/// worker and got here did not serve, and starting workers of its own would repeat the
/// mistake in every generation (a fork bomb). It exits with a status its parent reads
/// as "call `init()`".
pub(crate) fn refuse_pool_in_unserved_worker() {
    let invited = std::env::var_os(WORKER_VARIABLE).is_some();
    if invited || INVITED_BUT_NOT_SERVING.load(Ordering::Relaxed) {
        eprintln!(
            "parmemo: this process was started as a worker of Backend::Processes but did not \
             serve, and reached the creation of a process pool of its own: call \
             parmemo::parallel::init() first thing in main (tests: \
             parmemo_parallel::enable_test_support!()); exiting instead of starting more processes"
        );
        std::process::exit(INIT_MISSING_EXIT);
    }
}

/// Takes ownership of the inherited end of the channel, after checking that the number
/// really is a Unix socket, and keeps it from being inherited further.
fn adopt_channel(fd: RawFd) -> Option<UnixStream> {
    let mut status = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fstat` writes a `stat` into the pointer it gets, which is valid for that;
    // on any fd it either succeeds or returns -1.
    if unsafe { libc::fstat(fd, status.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `fstat` succeeded, so it initialized the whole struct.
    let status = unsafe { status.assume_init() };
    if status.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    let mut address = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut length = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_storage>())
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: the buffer and its length describe writable memory of that size.
    let named = unsafe { libc::getsockname(fd, address.as_mut_ptr().cast(), &raw mut length) };
    // SAFETY: zeroed above and possibly filled in by `getsockname`: initialized either way.
    let family = unsafe { address.assume_init() }.ss_family;
    if named != 0 || i32::from(family) != libc::AF_UNIX {
        return None;
    }
    // Tasks may start programs of their own: the channel must not reach them.
    // SAFETY: plain `fcntl` on an fd just checked to be open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: the fd is an open socket that the parent handed to this process for this
    // purpose alone, and nothing else in this process uses it: from here the stream owns it.
    Some(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Serves batches until the parent closes the channel; returns the exit status.
fn serve(channel: &UnixStream, nonce: u128) -> i32 {
    // What Rust's runtime does before `main`, which has not run here: a write to a
    // closed pipe is an error for the task to handle, not the end of the worker.
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    watch_parent();
    let hello = Reply::Hello {
        pid: std::process::id(),
        nonce,
    };
    if send_reply(&mut { channel }, &hello).is_err() {
        return 2;
    }
    loop {
        let Ok(Request::Run {
            task,
            arguments,
            each,
        }) = receive_request(&mut { channel })
        else {
            // The parent closed the channel (it is done with us, or gone), or broke the
            // protocol: either way there is no one left to serve.
            return 0;
        };
        // SAFETY: the offsets come from the only peer of this channel, the parent that
        // started this same executable image (`/proc/self/exe`) and computed them with
        // `RemoteFn::offsets`; `call` finds each named object by the digest of its
        // contents, so a library rebuilt since the parent loaded it is an error.
        let reply = catch_unwind(AssertUnwindSafe(|| unsafe {
            if each {
                // The parent may take back the tasks not started yet (a slow one holds
                // this worker): each is claimed before it starts.
                let cursor = Cursor::new();
                Answers::gathered(channel, Some(&cursor), |answer| {
                    call_each(task, arguments, Arrays::Attached, answer, &|offset| {
                        cursor.claim(offset)
                    })
                })
            } else {
                call(task, arguments, Arrays::Attached)
            }
        }));
        let reply = match reply {
            Ok(reply) => reply,
            Err(payload) => {
                // The trampoline catches a task's panic; one that still escapes comes from
                // dropping a task's value, and leaves nothing sound to go on with.
                std::mem::forget(payload);
                eprintln!("parmemo worker: dropping a task's argument or result panicked");
                return 101;
            }
        };
        if send_reply(&mut { channel }, &reply).is_err() {
            return 0;
        }
    }
}

/// Exits when the parent dies, even in the middle of a long task. On Linux the kernel
/// does this at once (`PR_SET_PDEATHSIG`, set when the worker starts); this watchdog is
/// the portable fallback, noticing the reparenting within 200 ms.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("parmemo-parent-watch".to_owned())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        });
}

/// Makes `Backend::Processes` work inside `cargo test` where the constructor that
/// recognises workers before `main` cannot run (a platform or linker without
/// constructors): invoke it once at the top level of a test crate. It adds an ignored
/// test that worker processes run (the harness is started again as
/// `--exact __parmemo_worker_entry --ignored`). On Linux and macOS workers never reach
/// the harness, and the macro changes nothing.
///
/// ```
/// parmemo_parallel::enable_test_support!();
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! enable_test_support {
    () => {
        #[test]
        #[ignore = "the entry point of parmemo's worker processes, run by them alone"]
        fn __parmemo_worker_entry() {
            $crate::init();
        }
    };
}
