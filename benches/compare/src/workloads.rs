//! The parmemo side of each workload, on the inputs `workloads.py data` wrote, timed the
//! way the Python side is: one warm-up run, then the fastest of a few.

use parmemo::memory::Memory;
use parmemo::parallel::{delayed, Backend, Parallel};
use parmemo::stats::{correction, wald, walsh_median, walsh_median_rows, Normal};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

pub type Failure = Box<dyn std::error::Error>;

/// Where `#[cache]` stores its entries: a fresh directory of the run's output, set
/// before the first cached call.
static LOCATION: OnceLock<PathBuf> = OnceLock::new();

static MEMORY: LazyLock<Memory> = LazyLock::new(|| {
    Memory::new(
        LOCATION
            .get()
            .cloned()
            .unwrap_or_else(|| std::env::temp_dir().join("parmemo-compare")),
    )
});

fn plain_checksum(values: &[f32], salt: u64) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() + salt as f64
}

/// The function both sides cache: cheap, so that a call measures the cache.
#[parmemo::cache(MEMORY)]
fn checksum(values: &[f32], salt: u64) -> f64 {
    plain_checksum(values, salt)
}

/// A raw little-endian array written by `workloads.py data`.
fn read<T, const WIDTH: usize>(
    dir: &Path,
    name: &str,
    decode: fn([u8; WIDTH]) -> T,
) -> Result<Vec<T>, Failure> {
    let bytes = std::fs::read(dir.join(name))
        .map_err(|err| format!("cannot read {name} in {}: {err}", dir.display()))?;
    Ok(bytes
        .chunks_exact(WIDTH)
        .map(|chunk| decode(chunk.try_into().unwrap_or([0; WIDTH])))
        .collect())
}

pub fn read_f64(dir: &Path, name: &str) -> Result<Vec<f64>, Failure> {
    read(dir, name, f64::from_le_bytes)
}

fn read_f32(dir: &Path, name: &str) -> Result<Vec<f32>, Failure> {
    read(dir, name, f32::from_le_bytes)
}

/// One warm-up run, then the fastest of `repeats`, with the last result.
pub fn best_of<R>(repeats: usize, mut run: impl FnMut() -> R) -> (R, Duration) {
    let mut result = run();
    let mut best = Duration::MAX;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        result = run();
        best = best.min(started.elapsed());
    }
    (result, best)
}

pub struct Recorder {
    out: PathBuf,
    timings: BufWriter<File>,
}

impl Recorder {
    fn new(out: &Path) -> Result<Self, Failure> {
        std::fs::create_dir_all(out)?;
        Ok(Recorder {
            out: out.to_owned(),
            timings: BufWriter::new(File::create(out.join("timings.tsv"))?),
        })
    }

    /// Writes the answer as little-endian f64 (as the Python side does) and the time.
    pub fn record(
        &mut self,
        workload: &str,
        implementation: &str,
        time: Duration,
        answer: impl IntoIterator<Item = f64>,
    ) -> Result<(), Failure> {
        let bytes: Vec<u8> = answer.into_iter().flat_map(f64::to_le_bytes).collect();
        std::fs::write(
            self.out.join(format!("{workload}.{implementation}.bin")),
            bytes,
        )?;
        writeln!(
            self.timings,
            "{workload}\t{implementation}\t{:.9}",
            time.as_secs_f64()
        )?;
        self.timings.flush()?;
        println!(
            "  {workload:<26} {implementation:<26} {:12.3} ms",
            time.as_secs_f64() * 1e3
        );
        Ok(())
    }
}

/// A task for worker processes: a plain function of serializable arguments.
// Task arguments arrive owned: they are deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn walsh_median_owned(sample: Vec<f32>) -> Result<f32, String> {
    walsh_median(&sample).map_err(|err| err.to_string())
}

fn add_one(x: u64) -> u64 {
    x + 1
}

/// Runs every workload on the inputs in `data` and writes answers and timings to `out`.
pub fn run(data: &Path, out: &Path) -> Result<(), Failure> {
    let mut recorder = Recorder::new(out)?;
    single_samples(data, &mut recorder)?;
    wald_and_pdf(data, &mut recorder)?;
    rows_and_jobs(data, &mut recorder)?;
    caching(data, out, &mut recorder)?;
    crate::big_data::run(data, out, &mut recorder)
}

fn single_samples(data: &Path, recorder: &mut Recorder) -> Result<(), Failure> {
    for (workload, name, repeats) in [
        ("walsh_1k", "walsh_1k.f64", 50),
        ("walsh_10k", "walsh_10k.f64", 20),
    ] {
        let sample = read_f64(data, name)?;
        let (median, time) = best_of(repeats, || walsh_median(&sample));
        recorder.record(workload, "parmemo", time, [median?])?;
    }
    Ok(())
}

fn wald_and_pdf(data: &Path, recorder: &mut Recorder) -> Result<(), Failure> {
    let values = read_f64(data, "wald.f64")?;
    let (adjusted, time) = best_of(50, || {
        wald::p_values(&values, 100, 0.0, 1.0).and_then(|p| correction::bonferroni(&p))
    });
    recorder.record("wald_bonferroni", "parmemo", time, adjusted?)?;

    let points: Vec<f64> = (0..10_000_000)
        .map(|i| -4.0 + 8e-7 * f64::from(i))
        .collect();
    let standard = Normal::new(0.0, 1.0)?;
    let (density, time) = best_of(10, || standard.pdf_slice(&points));
    recorder.record("pdf_1e7", "parmemo", time, density?)?;
    Ok(())
}

fn rows_and_jobs(data: &Path, recorder: &mut Recorder) -> Result<(), Failure> {
    let rows = read_f32(data, "rows.f32")?;
    let (medians, time) = best_of(10, || walsh_median_rows(&rows, 100));
    recorder.record(
        "walsh_rows",
        "parmemo",
        time,
        medians?.into_iter().map(f64::from),
    )?;

    let samples: Vec<Vec<f32>> = read_f32(data, "job.f32")?
        .chunks_exact(10_000)
        .map(<[f32]>::to_vec)
        .collect();
    let threads = Parallel::new().n_jobs(-1);
    let (medians, time) = best_of(5, || {
        threads.try_run(
            samples
                .iter()
                .map(|sample| delayed(move || walsh_median(sample))),
        )
    });
    recorder.record(
        "job_threads",
        "parmemo",
        time,
        medians?.into_iter().map(f64::from),
    )?;
    let processes = Parallel::new().backend(Backend::Processes).n_jobs(-1);
    let (medians, time) = best_of(5, || processes.try_map(walsh_median_owned, samples.clone()));
    recorder.record(
        "job_processes",
        "parmemo",
        time,
        medians?.into_iter().map(f64::from),
    )?;

    let (results, time) = best_of(20, || threads.map(add_one, 0..10_000u64));
    let total: u64 = results?.iter().sum();
    recorder.record("tiny_tasks_10k", "parmemo", time, [total as f64])?;
    Ok(())
}

fn caching(data: &Path, out: &Path, recorder: &mut Recorder) -> Result<(), Failure> {
    let location = out.join("parmemo-memory");
    // A fresh store: the run measures hits of its own entries, and misses really miss.
    let _ = std::fs::remove_dir_all(&location);
    if LOCATION.set(location).is_err() {
        return Err("the cache's location was set twice".into());
    }
    for (workload, name) in [
        ("memory_hit_40kb", "memory_40kb.f32"),
        ("memory_hit_8mb", "memory_8mb.f32"),
    ] {
        let values = read_f32(data, name)?;
        let (sum, time) = best_of(50, || checksum(&values, 0));
        recorder.record(workload, "parmemo", time, [sum])?;
    }
    let values = read_f32(data, "memory_40kb.f32")?;
    let mut salts = 1u64..;
    let mut next_salt = || salts.next().unwrap_or(0);
    let (_, call) = best_of(200, || plain_checksum(&values, 1));
    let (_, miss) = best_of(200, || checksum(&values, next_salt()));
    let salt = next_salt();
    let sum = checksum(&values, salt) - salt as f64;
    recorder.record(
        "memory_miss_overhead_40kb",
        "parmemo",
        miss.saturating_sub(call),
        [sum],
    )?;
    // 1 000 misses of a small result, per miss: each repeat on new arguments.
    let mut rounds = 0u64..;
    let (_, thousand) = best_of(3, || {
        let start = rounds.next().unwrap_or(0) * 1000;
        (start..start + 1000)
            .map(|i| small_result(i).iter().sum::<f64>())
            .sum::<f64>()
    });
    let answer: f64 = (0..1000u64).map(|i| 12.0 * i as f64).sum();
    recorder.record("memory_miss_small", "parmemo", thousand / 1000, [answer])?;
    Ok(())
}

/// 1 000 misses of a small result in a cache at `dir`, in seconds per miss: one round of
/// the alternated measurement of `run.sh` (the disk's cost of creating a file drifts
/// over minutes, so the two sides' rounds take turns).
pub fn miss_round(dir: &Path, start: u64) -> Result<f64, Failure> {
    if LOCATION.set(dir.to_owned()).is_err() {
        return Err("the cache's location was set twice".into());
    }
    let started = Instant::now();
    let total: f64 = (start..start + 1000)
        .map(|i| small_result(i).iter().sum::<f64>())
        .sum();
    let seconds = started.elapsed().as_secs_f64() / 1000.0;
    std::hint::black_box(total);
    Ok(seconds)
}

/// A result of about 100 bytes: what the miss of a small result costs is the store.
#[parmemo::cache(MEMORY)]
fn small_result(i: u64) -> Vec<f64> {
    vec![i as f64; 12]
}
