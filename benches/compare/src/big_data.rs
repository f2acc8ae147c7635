//! The large-array workloads, parmemo's side: a new 64 MB array to one worker process
//! (a plain `Vec`, no change to the task; inside a tuple; eight tuples each with an
//! array of its own), one 64 MB array to eight (a `Shared` made
//! beforehand), and a cached 200 MB array hit read whole (a plain `Vec`, in this
//! process and as a new process's first call) or mapped (a `Shared`).

use crate::workloads::{read_f64, Failure, Recorder};
use parmemo::memory::{FunctionId, Memory};
use parmemo::parallel::{Backend, Parallel};
use parmemo::Shared;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the task does with the array: as little as possible, so that the transfer is
/// what is measured.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn length(values: Vec<f64>) -> f64 {
    values.len() as f64
}

/// An array inside a tuple, as joblib users pass one: it crosses whole too.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn length_of_pair((values, k): (Vec<f64>, usize)) -> f64 {
    (values.len() + k) as f64
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn shared_length(values: Shared<[f64]>) -> f64 {
    values.len() as f64
}

/// The fastest of `repeats` runs of `run` on a fresh value from `make` (made outside the
/// time), after one warm-up.
fn best_with_setup<V, R>(
    repeats: usize,
    mut make: impl FnMut() -> V,
    mut run: impl FnMut(V) -> R,
) -> (R, Duration) {
    let mut result = run(make());
    let mut best = Duration::MAX;
    for _ in 0..repeats {
        let value = make();
        let started = Instant::now();
        result = run(value);
        best = best.min(started.elapsed());
    }
    (result, best)
}

static PLAIN: FunctionId = FunctionId::new("compare", "big_plain", 1);
static MAPPED: FunctionId = FunctionId::new("compare", "big_mapped", 1);

/// Its length, first and last values: enough to tell that the same array came back.
fn summary(values: &[f64]) -> [f64; 3] {
    [
        values.len() as f64,
        values.first().copied().unwrap_or(0.0),
        values.last().copied().unwrap_or(0.0),
    ]
}

pub fn run(data: &Path, out: &Path, recorder: &mut Recorder) -> Result<(), Failure> {
    let on_processes = Parallel::new().backend(Backend::Processes);
    let big = read_f64(data, "big_64mb.f64")?;
    let (lengths, time) = best_with_setup(
        10,
        || vec![big.clone()],
        |one| on_processes.map(length, one),
    );
    recorder.record("big_to_one_task", "parmemo", time, lengths?)?;
    let (lengths, time) = best_with_setup(
        10,
        || vec![(big.clone(), 1)],
        |one| on_processes.map(length_of_pair, one),
    );
    recorder.record("big_tuple_to_one_task", "parmemo", time, lengths?)?;
    let (lengths, time) = best_with_setup(
        5,
        || (0..8).map(|k| (big.clone(), k)).collect::<Vec<_>>(),
        |pairs| on_processes.map(length_of_pair, pairs),
    );
    recorder.record("big_tuples_to_8_tasks", "parmemo", time, lengths?)?;

    let shared: Shared<[f64]> = Shared::from_slice(&big);
    drop(big);
    let (lengths, time) = crate::workloads::best_of(10, || {
        on_processes.map(shared_length, vec![shared.clone(); 8])
    });
    recorder.record("big_to_8_tasks", "parmemo", time, lengths?)?;
    drop(shared);

    let location = out.join("parmemo-big-memory");
    let _ = std::fs::remove_dir_all(&location);
    let huge = read_f64(data, "big_200mb.f64")?;
    let memory = Memory::new(&location);
    let _: Vec<f64> = memory.call(&PLAIN, &0_u8, || huge.clone());
    let _: Shared<[f64]> = memory.call(&MAPPED, &0_u8, || Shared::from_slice(&huge));
    drop(huge);
    let computed = || -> Vec<f64> { unreachable!("stored above") };
    let (hit, time) =
        crate::workloads::best_of(10, || Memory::new(&location).call(&PLAIN, &0_u8, computed));
    recorder.record("big_hit_200mb", "parmemo", time, summary(&hit))?;
    drop(hit);
    let (hit, time) = crate::workloads::best_of(10, || {
        Memory::new(&location).call(&MAPPED, &0_u8, || -> Shared<[f64]> {
            unreachable!("stored above")
        })
    });
    recorder.record("big_hit_200mb_mapped", "parmemo", time, summary(&hit))?;
    drop(hit);
    let _ = std::fs::remove_dir_all(&location);

    // The same hit as a new process's first call: run.sh times more such processes,
    // alternated with joblib's, and keeps the best.
    let location = out.join("fresh-store");
    fresh_store(data, &location)?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("fresh-hit")
        .arg(&location)
        .output()?;
    if !child.status.success() {
        return Err(String::from_utf8_lossy(&child.stderr).into_owned().into());
    }
    let printed = String::from_utf8(child.stdout)?;
    let (seconds, summary) = printed
        .trim()
        .split_once('\t')
        .ok_or_else(|| format!("fresh-hit printed {printed:?}"))?;
    let summary: Vec<f64> = summary
        .trim_matches(['[', ']'])
        .split(", ")
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let time = Duration::from_secs_f64(seconds.parse()?);
    recorder.record("big_hit_200mb_fresh", "parmemo", time, summary)?;
    Ok(())
}

/// Stores the 200 MB array in a cache at `dir` for [`fresh_hit`], as `run` does for its
/// own hits.
pub fn fresh_store(data: &Path, dir: &Path) -> Result<(), Failure> {
    let _ = std::fs::remove_dir_all(dir);
    let huge = read_f64(data, "big_200mb.f64")?;
    let stored: Vec<f64> = Memory::new(dir).call(&PLAIN, &0_u8, || huge.clone());
    if stored != huge {
        return Err("the stored array is not the one given".into());
    }
    Ok(())
}

/// The first call of this process: a `Memory` opened on `dir` and a hit of the 200 MB
/// array (open, read, checked), in seconds, with a summary of what came back.
pub fn fresh_hit(dir: &Path) -> Result<(f64, [f64; 3]), Failure> {
    let started = Instant::now();
    let memory = Memory::new(dir);
    // A miss stores nothing: it is an error.
    let hit: Vec<f64> = memory.prepare(&PLAIN, &0_u8).run_fallible(|| {
        Err(format!(
            "no stored array in {}: run fresh-store first",
            dir.display()
        ))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, summary(&hit)))
}
