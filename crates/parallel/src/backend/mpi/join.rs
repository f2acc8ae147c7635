//! Joining the MPI job in `init()`: ranks 1.. serve and exit there, rank 0 returns with
//! the job's driver running, and finalizes MPI at exit however `main` ends.

use super::drive::{drive, stop_servers, Cluster};
use super::serve::serve;
use crossbeam_channel::unbounded;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};
use mpi::Threading;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use twox_hash::XxHash3_128;

/// The environment variables by which launchers tell a process it is one rank of a job:
/// `mpirun` of Open MPI 4, `PMIx` (Open MPI 5, Slurm's `srun`), Hydra's PMI (MPICH).
const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"];

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();
/// Kept for `MPI_Finalize` at exit, which its drop calls.
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// The job this process is rank 0 of, when it was launched by an MPI launcher.
pub(crate) fn cluster() -> Option<Arc<Cluster>> {
    CLUSTER.get().cloned()
}

/// Joins the MPI job when this process was started by an MPI launcher: ranks other than
/// 0 serve tasks until rank 0 exits, then finalize MPI and exit; rank 0 returns.
pub(crate) fn join() {
    if !LAUNCHER_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        return;
    }
    // `None`: the program initialized MPI itself; then it owns the job and we stay out.
    let Some((universe, threading)) = mpi::initialize_with_threading(Threading::Serialized) else {
        return;
    };
    let world = universe.world();
    let problem = check_same_executable(&world);
    gather_hosts(&world);
    if world.rank() != 0 {
        serve(&world, problem.is_none());
        drop(universe);
        std::process::exit(0);
    }
    let servers = usize::try_from(world.size() - 1).unwrap_or(0);
    *UNIVERSE.lock().unwrap_or_else(PoisonError::into_inner) = Some(universe);
    let problem = problem.or_else(|| {
        (threading < Threading::Serialized).then(|| {
            format!(
                "the MPI library offers only {threading:?} threading; parmemo needs \
                 Serialized: use an MPI built with thread support (OpenMPI and MPICH are)"
            )
        })
    });
    let (commands, driver) = if servers > 0 && problem.is_none() {
        let (sender, receiver) = unbounded();
        let driver = std::thread::Builder::new()
            .name("parmemo-mpi".to_owned())
            .spawn(move || drive(&receiver))
            .ok();
        (Some(sender), driver)
    } else {
        (None, None)
    };
    let _ = CLUSTER.set(Arc::new(Cluster::new(servers, problem, commands, driver)));
    say_what_next_when_ended();
    // SAFETY: `finish_at_exit` is an `extern "C" fn()` that neither unwinds nor returns
    // anything, as `atexit` requires.
    if unsafe { libc::atexit(finish_at_exit) } != 0 {
        eprintln!("parmemo: cannot register the MPI shutdown; the job may not end cleanly");
    }
}

/// Stops the serving ranks and finalizes MPI when rank 0's program ends, however `main`
/// ends (return, `exit`, a panic that unwinds out of it).
extern "C" fn finish_at_exit() {
    // Nothing here may unwind across the C boundary.
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = CLUSTER.get() {
            if !cluster.shut_down() {
                stop_servers(&SimpleCommunicator::world());
            }
        }
        drop(take(&UNIVERSE));
    });
}

/// What rank 0 says when the launcher ends the job under it: the launcher names the rank
/// or host it lost; this says what comes next.
const ENDED_BY_LAUNCHER: &[u8] = b"parmemo: the MPI launcher is ending this job (a rank or \
its host was lost, named above, or the job was cancelled): every rank stops here; what \
#[cache] functions stored is kept, so rerun the job to resume from it\n";

/// Has rank 0 say [`ENDED_BY_LAUNCHER`] on `SIGTERM`, how Open MPI's launcher ends the
/// processes of a job that lost one, unless the program handles that signal itself.
fn say_what_next_when_ended() {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into valid memory.
    let read = unsafe { libc::sigaction(libc::SIGTERM, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: zeroed, and filled in by `sigaction` when it succeeded.
    if read != 0 || unsafe { current.assume_init() }.sa_sigaction != libc::SIG_DFL {
        return;
    }
    let mut action = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: all-zero bytes are a valid `sigaction` (an empty mask, no flags).
    let mut action = unsafe { *action.as_mut_ptr() };
    action.sa_sigaction = ended_by_launcher as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: a valid action whose handler only calls async-signal-safe functions.
    unsafe { libc::sigaction(libc::SIGTERM, &raw const action, std::ptr::null_mut()) };
}

extern "C" fn ended_by_launcher(signal: libc::c_int) {
    // SAFETY: `write`, `signal` and `raise` are async-signal-safe; the message is static.
    // Then the process ends as the signal would have ended it.
    unsafe {
        libc::write(
            2,
            ENDED_BY_LAUNCHER.as_ptr().cast(),
            ENDED_BY_LAUNCHER.len(),
        );
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// What `slot` holds, leaving it empty (a panic elsewhere does not matter here).
pub(super) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// A fingerprint of the executable image this process runs: XXH3-128 of its bytes.
/// Functions are named to other ranks by offsets, which mean the same thing only in the
/// very same executable; two builds that differ in one constant have the same size and
/// the same layout, but not the same bytes. `None` when the image cannot be read (then
/// no rank is trusted).
fn fingerprint() -> Option<u128> {
    let image = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().ok()?
    };
    let mut file = std::fs::File::open(image).ok()?;
    let mut hasher = XxHash3_128::new();
    let mut block = vec![0_u8; 1 << 20];
    loop {
        match file.read(&mut block) {
            Ok(0) => return Some(hasher.finish_128()),
            Ok(read) => hasher.write(&block[..read]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The longest host name kept: processor names are short, and a message needs no more.
const HOST_NAME: usize = 64;

/// Each rank's host (its processor name), learned by every rank at once: what messages
/// about a rank say to find it.
fn gather_hosts(world: &SimpleCommunicator) {
    let name = mpi::environment::processor_name().unwrap_or_default();
    let mut mine = [0_u8; HOST_NAME];
    let bytes = name.as_bytes();
    let len = bytes.len().min(HOST_NAME);
    mine[..len].copy_from_slice(&bytes[..len]);
    let size = usize::try_from(world.size()).unwrap_or(0);
    let mut all = vec![0_u8; HOST_NAME * size];
    world.all_gather_into(&mine[..], &mut all[..]);
    let hosts = all
        .chunks_exact(HOST_NAME)
        .map(|name| {
            let end = name
                .iter()
                .position(|&byte| byte == 0)
                .unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        })
        .collect();
    super::set_hosts(hosts);
}

/// Why this job cannot run tasks, if some rank runs another executable than rank 0.
fn check_same_executable(world: &SimpleCommunicator) -> Option<String> {
    // An unreadable image counts as a mismatch: 0 on its own is never a hash we trust.
    let mine = fingerprint().unwrap_or(0);
    // Both halves fit by construction; MPI gathers u64s, not u128s.
    let halves =
        [mine & u128::from(u64::MAX), mine >> 64].map(|half| u64::try_from(half).unwrap_or(0));
    let size = usize::try_from(world.size()).unwrap_or(0);
    let mut all = vec![0_u64; 2 * size];
    world.all_gather_into(&halves[..], &mut all[..]);
    let ranks: Vec<usize> = all
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, theirs)| mine == 0 || *theirs != halves)
        .map(|(rank, _)| rank)
        .collect();
    (!ranks.is_empty()).then(|| {
        format!(
            "ranks {ranks:?} run a different executable from rank 0 (the hash of its contents \
             differs, or could not be read); every rank must run the same binary (copy it to \
             the same path on every host, or use a shared file system)"
        )
    })
}
