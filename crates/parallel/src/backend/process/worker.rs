//! The child's side: `init()` and the serving loop.

use super::function;
use super::wire::{receive_request, send_reply, Reply, Request};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The environment variable that makes a process a worker: the socket to connect to.
pub(crate) const SOCKET_VARIABLE: &str = "PARMEMO_WORKER_SOCKET";

/// The entry point of worker processes and MPI ranks: call it first thing in `main`.
///
/// In a program run the normal way it returns at once. In a child started by
/// `Backend::Processes` it serves tasks until the parent goes away, then exits: the rest
/// of `main` never runs there. With the feature `mpi`, in a program started by an MPI
/// launcher (`mpirun`, `srun`), it joins the job: rank 0 returns and runs `main`, the
/// other ranks serve its tasks until it ends, then finalize MPI and exit. In tests,
/// where `main` is the test harness's, use
/// [`enable_test_support!`](crate::enable_test_support) instead.
///
/// ```
/// fn main() {
///     parmemo_parallel::init();
///     // ... the program, which may use Backend::Processes
/// }
/// # main();
/// ```
pub fn init() {
    let Some(socket) = std::env::var_os(SOCKET_VARIABLE) else {
        #[cfg(feature = "mpi")]
        crate::backend::mpi::join();
        return;
    };
    let code = match UnixStream::connect(&socket) {
        Ok(stream) => serve(stream),
        Err(err) => {
            eprintln!(
                "parmemo worker: cannot reach the parent at {}: {err}",
                socket.to_string_lossy()
            );
            2
        }
    };
    std::process::exit(code);
}

fn serve(mut stream: UnixStream) -> i32 {
    watch_parent();
    if send_reply(
        &mut stream,
        &Reply::Hello {
            pid: std::process::id(),
        },
    )
    .is_err()
    {
        return 2;
    }
    loop {
        let request: Request = match receive_request(&mut stream) {
            Ok(request) => request,
            // The parent closed the socket: it is done with us, or gone.
            Err(_) => return 0,
        };
        let Request::Run {
            trampoline,
            function,
            arguments,
        } = request;
        // SAFETY: the parent computed both offsets with `function::offset_of` from a
        // trampoline and the function it was instantiated for (see `function::call`).
        let reply = unsafe { function::call(trampoline, function, &arguments) };
        if send_reply(&mut stream, &reply).is_err() {
            return 0;
        }
    }
}

/// Exits when the parent dies, even in the middle of a long task: the parent's end of
/// the socket closing is only noticed between tasks.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(0);
        }
    });
}

/// Makes `Backend::Processes` work inside `cargo test`, where `main` belongs to the
/// test harness: invoke it once at the top level of a test crate (an integration test
/// file, or the crate root for unit tests). It adds an ignored test that worker processes
/// run (the harness is started again as `--exact __parmemo_worker_entry --ignored`).
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
