//! Functions of `std` and of a `dylib` crate, in a `-C prefer-dynamic` build, mapped over
//! worker processes: each runs where it is named (never a jump to another address), and
//! a function of a library loaded after the start is refused with the typed error.

use parmemo_parallel::{Backend, Error, Parallel};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    parmemo_parallel::init();
    let processes = || Parallel::new().backend(Backend::Processes).n_jobs(2);

    let slept = processes().map(std::thread::sleep, vec![Duration::from_millis(5); 8])?;
    assert_eq!(slept.len(), 8);
    println!("std::thread::sleep from libstd's shared object: 8 tasks ran");

    let tripled = processes().map(helper::triple, 0..1000_u64)?;
    assert_eq!(tripled, (0..1000).map(|x| 3 * x).collect::<Vec<_>>());
    println!("helper::triple from a dylib crate: 1000 results right");

    let pids = processes().map(helper::pid_of_caller, 0..4_u8)?;
    assert!(pids.iter().all(|&pid| pid != std::process::id()));
    println!("they ran in worker processes {pids:?}");

    match processes().map(loaded_later()?, 0..3_u64) {
        Err(Error::FunctionNotReachable { object, reason }) => {
            println!("a function of a dlopened library is refused: {object} {reason}");
        }
        other => return Err(format!("a dlopened library's function gave {other:?}").into()),
    }
    println!("prefer-dynamic: ok");
    Ok(())
}

/// `triple` of a copy of the helper library opened now (a plugin): a worker started from
/// the executable never loads it.
fn loaded_later() -> Result<fn(u64) -> u64, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().ok_or("no folder")?.join("deps");
    let original = std::fs::read_dir(&deps)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libhelper") && name.ends_with(".so"))
        })
        .ok_or("libhelper*.so not found")?;
    let copy = std::env::temp_dir().join(format!("parmemo-plugin-{}.so", std::process::id()));
    std::fs::copy(&original, &copy)?;
    let path = std::ffi::CString::new(copy.to_string_lossy().as_bytes())?;
    // SAFETY: a copy of our own helper library, whose initializers are Rust's.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    std::fs::remove_file(&copy)?;
    if handle.is_null() {
        return Err("dlopen failed".into());
    }
    let symbol = exported_triple(&original)?;
    let name = std::ffi::CString::new(symbol)?;
    // SAFETY: the handle is open (and never closed), the name is NUL-terminated.
    let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if address.is_null() {
        return Err("triple not found in the plugin".into());
    }
    // SAFETY: the symbol is `helper::triple`, a `fn(u64) -> u64`.
    Ok(unsafe { std::mem::transmute::<*mut libc::c_void, fn(u64) -> u64>(address) })
}

/// The mangled name of `helper::triple` in the library's dynamic symbols.
fn exported_triple(library: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let output = std::process::Command::new("nm").args(["-D", "--defined-only"]).arg(library).output()?;
    String::from_utf8(output.stdout)?
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .find(|symbol| symbol.contains("6helper6triple"))
        .map(str::to_owned)
        .ok_or_else(|| "no symbol for helper::triple".into())
}
