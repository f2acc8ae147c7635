//! `Backend::Processes` probed as an attacker and as a forgetful user would: planted
//! directories, a channel another process could reach, leaked invitations, a rebuilt
//! executable, a killed parent, values whose `Drop` panics.
//!
//! Several checks need a process of their own; this test binary plays those roles, as
//! ignored tests selected by `--exact` and enabled by `PARMEMO_TEST_ROLE`.

use parmemo_parallel::{Backend, BatchSize, Error, Parallel, Processes};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// No `init()` and no `enable_test_support!()`: workers are recognised before `main`.

fn square(x: u64) -> u64 {
    x * x
}

fn processes(n: i32) -> Parallel<Processes> {
    Parallel::new().backend(Backend::Processes).n_jobs(n)
}

/// Starts this test binary again in `role`, with `env` added.
fn start_role(role: &str, env: &[(&str, &str)]) -> Child {
    start_role_of(&std::env::current_exe().unwrap(), role, env)
}

fn start_role_of(binary: &Path, role: &str, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(binary);
    command
        .args([
            "--exact",
            role,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PARMEMO_TEST_ROLE", role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().unwrap()
}

fn in_role(role: &str) -> bool {
    std::env::var("PARMEMO_TEST_ROLE").as_deref() == Ok(role)
}

/// Reads lines of `child`'s stdout until one starts with `prefix`; returns the rest.
fn wait_for_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> String {
    for line in lines {
        let line = line.unwrap();
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_owned();
        }
    }
    panic!("the child ended without printing {prefix:?}");
}

/// A new, empty directory under TMPDIR (never one a killed run left behind), with a
/// short name: socket paths in it must stay under the 108 bytes a Unix socket address
/// holds. The tests remove it themselves, after their checks.
fn fresh_dir(name: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("pm-{name}-"))
        .tempdir()
        .unwrap()
        .keep()
}

fn listing(dir: &Path) -> HashSet<PathBuf> {
    let mut seen = HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
            seen.insert(entry.path());
        }
    }
    seen
}

/// The inodes of the Unix sockets that process `pid` holds.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn the_channel_to_a_worker_is_nowhere_in_the_file_system() {
    let pids = processes(2).worker_pids().unwrap();
    assert_eq!(pids.len(), 2);
    // /proc/net/unix: "Num RefCount Protocol Flags Type St Inode [Path]".
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    for pid in pids {
        let inodes = socket_inodes(pid);
        assert!(!inodes.is_empty(), "worker {pid} holds its channel");
        for inode in inodes {
            let row = table
                .lines()
                .find(|row| row.split_whitespace().nth(6) == Some(inode.as_str()))
                .unwrap_or_else(|| panic!("socket {inode} of worker {pid} is a Unix socket"));
            assert_eq!(
                row.split_whitespace().nth(7),
                None,
                "worker {pid}'s socket has a path anyone could reach: {row}"
            );
        }
    }
}

#[test]
#[ignore = "a role: a program that uses a pool when told to (stdin), then says ok"]
fn role_pool_user() {
    if !in_role("role_pool_user") {
        return;
    }
    println!("pid {}", std::process::id());
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let squares = processes(2).map(square, 0..100).unwrap();
    assert_eq!(squares[9], 81);
    println!("ok");
}

#[test]
fn planted_directories_at_the_old_socket_names_are_never_used() {
    let tmp = fresh_dir("planted");
    let mut child = start_role("role_pool_user", &[("TMPDIR", tmp.to_str().unwrap())]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid = wait_for_line(&mut lines, "pid ");
    // What an attacker would plant for this pid: world-writable directories at the names
    // the pool once used, each with a listening socket where a worker used to connect.
    let mut listeners = Vec::new();
    for n_jobs in 1..=4 {
        let dir = tmp.join(format!("parmemo-{pid}-{n_jobs}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        for slot in 0..4 {
            for generation in 0..4 {
                let socket = dir.join(format!("w{slot}-{generation}.sock"));
                let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
                listener.set_nonblocking(true).unwrap();
                listeners.push(listener);
            }
        }
    }
    let planted = listing(&tmp);
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    assert_eq!(wait_for_line(&mut lines, "ok"), "");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    for listener in &listeners {
        assert!(
            listener.accept().is_err(),
            "a worker connected to a planted socket"
        );
    }
    assert_eq!(listing(&tmp), planted, "the pool wrote nothing in TMPDIR");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_pool_leaves_nothing_in_tmpdir() {
    let tmp = fresh_dir("clean");
    let mut child = start_role("role_pool_user", &[("TMPDIR", tmp.to_str().unwrap())]);
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(listing(&tmp).is_empty(), "left behind: {:?}", listing(&tmp));
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// What a task sees of its own process: whether the invitation is still in the
/// environment, whether a program it starts inherits a socket, and what this same test
/// binary does when the task runs it as a tool (`--list`).
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn what_a_task_sees(binary: String) -> (bool, String, Option<i32>, String) {
    let invited = std::env::var_os("PARMEMO_WORKER").is_some();
    let fds = Command::new("ls")
        .args(["-l", "/proc/self/fd/"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let tool = Command::new(binary)
        .arg("--list")
        .output()
        .expect("the task can run the program as a tool");
    (
        invited,
        fds,
        tool.status.code(),
        String::from_utf8_lossy(&tool.stdout).into_owned(),
    )
}

#[test]
fn tasks_see_no_invitation_no_channel_and_can_run_the_program_as_a_tool() {
    let binary = std::env::current_exe().unwrap().display().to_string();
    let seen = processes(1).map(what_a_task_sees, [binary]).unwrap();
    let (invited, fds, tool_status, tool_listing) = &seen[0];
    assert!(!invited, "PARMEMO_WORKER leaked into a task's environment");
    assert!(!fds.is_empty(), "ls ran");
    assert!(
        !fds.contains("socket:"),
        "a program started by a task inherited a socket:\n{fds}"
    );
    assert_eq!(
        *tool_status,
        Some(0),
        "the tool ran its own main: {tool_listing}"
    );
    assert!(
        tool_listing.contains("tasks_see_no_invitation_no_channel"),
        "the tool listed its tests: {tool_listing}"
    );
}

#[test]
fn a_process_invited_with_a_bogus_variable_never_starts_workers() {
    for bogus in [
        "/tmp/parmemo-1-2/w0-0.sock",
        "57:0123456789abcdef0123456789abcdef",
    ] {
        let mut child = start_role("role_pool_user", &[("PARMEMO_WORKER", bogus)]);
        writeln!(child.stdin.take().unwrap(), "go").unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(97), "{bogus}: {stderr}");
        assert!(
            stderr.contains("not serving as a worker"),
            "{bogus}: {stderr}"
        );
        assert!(
            stderr.contains("call parmemo::parallel::init()"),
            "{bogus}: {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("ok"),
            "{bogus}: no pool ran"
        );
    }
}

fn aborts(x: u64) -> u64 {
    if x == 13 {
        std::process::abort();
    }
    x
}

#[test]
#[ignore = "a role: a program whose executable file is replaced while it runs"]
fn role_survives_replacement() {
    if !in_role("role_survives_replacement") {
        return;
    }
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    assert_eq!(p.map(square, [3]).unwrap(), [9]);
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    // Kill the worker, so that the next run must start one from the replaced file.
    assert!(matches!(p.map(aborts, [13]), Err(Error::WorkerDied { .. })));
    assert_eq!(p.map(square, [4, 5]).unwrap(), [16, 25]);
    println!("ok");
}

#[test]
fn a_rebuilt_executable_changes_nothing_for_a_running_program() {
    let dir = fresh_dir("rebuilt");
    let copy = dir.join("program");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    let mut child = start_role_of(&copy, "role_survives_replacement", &[]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_for_line(&mut lines, "ready");
    // What `cargo build` does: a new file at the same path.
    std::fs::remove_file(&copy).unwrap();
    std::fs::write(&copy, b"#!/bin/sh\necho not the program\nexit 42\n").unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    assert_eq!(wait_for_line(&mut lines, "ok"), "");
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sleeps(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
#[ignore = "a role: the parent whose workers must die with it"]
fn role_parent() {
    if !in_role("role_parent") {
        return;
    }
    let pids = processes(2).worker_pids().unwrap();
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("workers {}", pids.join(" "));
    // Busy workers must go too: give both a long task.
    let _ = processes(2).map(sleeps, [60_000, 60_000]);
}

/// Grandparent: a subreaper, so the workers of the parent it kills become its children
/// and it can see how they ended. Prints one `worker <pid> <how>` line per worker.
#[test]
#[ignore = "a role: kills a parent under CPU load and reaps its orphaned workers"]
fn role_grandparent() {
    if !in_role("role_grandparent") {
        return;
    }
    // SAFETY: a plain prctl on this process; it takes integer arguments only.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let mut parent = start_role("role_parent", &[]);
    let mut lines = BufReader::new(parent.stdout.take().unwrap()).lines();
    let workers: Vec<i32> = wait_for_line(&mut lines, "workers ")
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // the long tasks are running
                                                    // A busy machine: every core spinning while the parent dies.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..parmemo_parallel::available_cores() * 2)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    parent.kill().unwrap();
    parent.wait().unwrap();
    let killed = Instant::now();
    for pid in workers {
        let mut status = 0;
        // SAFETY: waitpid writes the status into the local it is given.
        let reaped = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        let how = if reaped != pid {
            "not-reaped".to_owned()
        } else if libc::WIFSIGNALED(status) {
            format!("signal-{}", libc::WTERMSIG(status))
        } else {
            format!("exit-{}", libc::WEXITSTATUS(status))
        };
        println!("worker {pid} {how} after {:?}", killed.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
}

#[test]
fn a_killed_parent_takes_its_busy_workers_along_at_once() {
    let grandparent = start_role("role_grandparent", &[]);
    let output = grandparent.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness's own "test role_grandparent ... " may stand before the first report.
    let reports: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.find("worker ").map(|at| &line[at..]))
        .filter(|report| report.contains(" after "))
        .collect();
    assert_eq!(reports.len(), 2, "{stdout}");
    for report in reports {
        // SIGKILL from the kernel (PR_SET_PDEATHSIG), not the watchdog's later exit(0).
        assert!(report.contains(" signal-9 "), "{report}");
    }
}

/// A value whose `Drop` panics.
#[derive(serde::Serialize, serde::Deserialize)]
struct DropBomb(u8);

impl Drop for DropBomb {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "dropping DropBomb {}", self.0);
    }
}

fn returns_a_drop_bomb(x: u8) -> DropBomb {
    DropBomb(x)
}

fn panics_with_a_drop_bomb(x: u8) -> u8 {
    if x == 2 {
        std::panic::panic_any(DropBomb(x));
    }
    x
}

#[test]
fn a_result_whose_drop_panics_is_reported_with_the_real_exit_status() {
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    match p.map(returns_a_drop_bomb, [1]) {
        Err(Error::WorkerDied { index, cause }) => {
            assert_eq!(index, 0);
            assert!(cause.contains("exit status: 101"), "{cause}");
        }
        other => panic!(
            "expected a dead worker, got {:?}",
            other.map(|bombs| bombs.len())
        ),
    }
    assert_eq!(p.map(square, [6]).unwrap(), [36], "the pool healed");
}

#[test]
fn a_panic_payload_whose_drop_panics_costs_no_worker() {
    let p = processes(1).batch_size(BatchSize::Fixed(1));
    let before = p.worker_pids().unwrap();
    match p.map(panics_with_a_drop_bomb, [1, 2, 3]) {
        Err(Error::Task { index, .. }) => assert_eq!(index, 1),
        other => panic!("expected a task error, got {other:?}"),
    }
    assert_eq!(p.worker_pids().unwrap(), before);
}
