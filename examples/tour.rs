//! The whole tutorial in one run: each of its sections with the tutorial's data sizes,
//! the slow way and parmemo's way, the same answers, both timings.
//!
//! 1. Walsh median of 1 000 values: naive sort vs exact selection (1A/1B).
//! 2. 10 000 Wald tests on 10 000 x 100, with Bonferroni, Holm and BH (1C).
//! 3. Normal pdf over 1e7 points: scalar loop vs parallel `vectorize` (1D).
//! 4. Walsh medians of 10 000 rows x 100 with `guvectorize` (1D).
//! 5. `Parallel` / `delayed`: 100 samples x 10 000 on threads and processes (2A).
//! 6. `#[cache]` on the default store (one file per entry, in cargo's target directory,
//!    `parmemo-examples/tour`): the first call, the second from the store. Run the tour
//!    again to see the first run's result loaded.
//!
//! `cargo run --release --example tour`

mod common;

use common::{best_of, human, normal, speedup, uniform, uniform_f32, SEED};
use parmemo::memory::Memory;
use parmemo::parallel::vectorize::{vectorize, Target};
use parmemo::parallel::{delayed, Backend, Parallel};
use parmemo::stats::reference::{walsh_median_naive, walsh_median_tutorial};
use parmemo::stats::{correction, wald, walsh_median, walsh_median_rows, Normal};
use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

type Failure = Box<dyn std::error::Error>;

static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(common::cache_dir("tour")));

/// The tutorial's slow function for 2B: every one of the 5e7 pair averages sorted.
#[parmemo::cache(MEMORY)]
fn walsh_median_slow(sample: &[f32]) -> Result<f32, String> {
    walsh_median_naive(sample).map_err(|err| err.to_string())
}

/// A task for worker processes: a plain function of serializable arguments.
// Task arguments arrive owned: they are deserialized in the worker.
#[allow(clippy::needless_pass_by_value)]
fn walsh_median_owned(sample: Vec<f32>) -> Result<f32, String> {
    walsh_median(&sample).map_err(|err| err.to_string())
}

/// The report: one table, each step headed and numbered, its rows aligned.
struct Report {
    started: Instant,
    sections: Cell<usize>,
    /// Whether a "working" line is on screen, to be cleared by the next row.
    working: Cell<bool>,
}

impl Report {
    fn new() -> Self {
        println!(
            "before: the same work as a plain Rust loop on one core; gain: before / parmemo.\n\
             (Against the Python tools, see the chart in the README and docs/benchmarks.md.)\n"
        );
        println!(
            "{:<52} {:>12} {:>12} {:>8}",
            "", "before", "parmemo", "gain"
        );
        Report {
            started: Instant::now(),
            sections: Cell::new(0),
            working: Cell::new(false),
        }
    }

    fn section(&self, title: &str) {
        self.sections.set(self.sections.get() + 1);
        println!("\n{}. {title}", self.sections.get());
    }

    /// A line that says what runs now, for steps that take a while; on a terminal the
    /// next row replaces it.
    fn working(&self, what: &str) {
        if std::io::stdout().is_terminal() {
            print!("  {what} ...");
            let _ = std::io::stdout().flush();
            self.working.set(true);
        }
    }

    fn line(&self, text: &str) {
        if self.working.replace(false) {
            // Back to the start of the line, and erase it.
            print!("\r\x1b[2K");
        }
        println!("  {text}");
    }

    fn compare(&self, what: &str, before: Duration, after: Duration) {
        self.line(&format!(
            "{what:<50} {:>12} {:>12} {:>8}",
            human(before),
            human(after),
            speedup(before, after)
        ));
    }

    fn value(&self, what: &str, value: impl std::fmt::Display) {
        self.line(&format!("{what:<50} {value:>34}"));
    }

    fn finish(&self) {
        println!("\nwhole tour: {}", human(self.started.elapsed()));
    }
}

fn main() -> Result<(), Failure> {
    parmemo::parallel::init(); // first thing: in worker processes, this serves tasks
    let report = Report::new();
    walsh_of_one_sample(&report)?;
    wald_tests(&report)?;
    normal_pdf(&report)?;
    walsh_of_rows(&report)?;
    parallel_and_delayed(&report)?;
    memory_cache(&report);
    report.finish();
    Ok(())
}

fn walsh_of_one_sample(report: &Report) -> Result<(), Failure> {
    report.section("Walsh median of 1 000 values (1A/1B): sort all averages vs selection");
    let sample = uniform(1_000, SEED);
    let (naive, naive_time) = best_of(3, || walsh_median_naive(&sample));
    let (fast, fast_time) = best_of(20, || walsh_median(&sample));
    let (naive, fast) = (naive?, fast?);
    assert_eq!(naive, fast, "the exact selection equals the naive sort");
    report.compare(
        "walsh_median (same answer, to the bit)",
        naive_time,
        fast_time,
    );
    report.value("median of the 499 500 Walsh averages", format!("{fast:.6}"));
    report.value(
        "the tutorial's loop (wrong middle index)",
        format!("{:.6}", walsh_median_tutorial(&sample)?),
    );
    Ok(())
}

fn wald_tests(report: &Report) -> Result<(), Failure> {
    const ROWS: usize = 10_000;
    const ROW_LEN: usize = 100;
    report.section("10 000 Wald tests on 10 000 x 100 N(0.1, 1) (1C): loop vs prange");
    let data = normal(ROWS * ROW_LEN, 0.1, 1.0, SEED);
    let (looped, loop_time) = best_of(10, || {
        data.chunks_exact(ROW_LEN)
            .map(|row| wald::z_test(row, 0.0, 1.0))
            .collect::<Result<Vec<f64>, _>>()
    });
    let (p, parallel_time) = best_of(10, || wald::p_values(&data, ROW_LEN, 0.0, 1.0));
    let p = p?;
    assert_eq!(looped?, p, "rows in parallel equal the loop");
    report.compare(
        "wald::p_values, rows on all cores",
        loop_time,
        parallel_time,
    );
    let rejected = |adjusted: &[f64]| adjusted.iter().filter(|&&q| q <= 0.05).count();
    report.value("rejected at 0.05, uncorrected", rejected(&p));
    report.value(
        "rejected after Bonferroni / Holm / BH",
        format!(
            "{} / {} / {}",
            rejected(&correction::bonferroni(&p)?),
            rejected(&correction::holm(&p)?),
            rejected(&correction::benjamini_hochberg(&p)?)
        ),
    );
    Ok(())
}

fn normal_pdf(report: &Report) -> Result<(), Failure> {
    report.section("Normal pdf over 1e7 points (1D): scalar loop vs vectorize");
    let points: Vec<f64> = (0..10_000_000)
        .map(|i| -4.0 + 8e-7 * f64::from(i))
        .collect();
    let standard = Normal::new(0.0, 1.0)?;
    let (looped, loop_time) = best_of(3, || {
        points
            .iter()
            .map(|&x| standard.pdf(x))
            .collect::<Vec<f64>>()
    });
    let kernel = |x: f64, mean: f64, sd: f64| {
        let z = (x - mean) / sd;
        (-0.5 * z * z).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt())
    };
    let parallel = vectorize(kernel).target(Target::Parallel);
    let (vectorized, vector_time) = best_of(3, || parallel.apply3(&points[..], 0.0, 1.0));
    let vectorized = vectorized?;
    let largest_gap = looped
        .iter()
        .zip(&vectorized)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(largest_gap < 1e-15, "the kernel agrees with Normal::pdf");
    report.compare(
        "vectorize(kernel), scalars broadcast",
        loop_time,
        vector_time,
    );
    report.value(
        "largest difference from Normal::pdf",
        format!("{largest_gap:.1e}"),
    );
    Ok(())
}

fn walsh_of_rows(report: &Report) -> Result<(), Failure> {
    const ROW_LEN: usize = 100;
    report.section("Walsh median of each row of 10 000 x 100 f32 (1D): loop vs guvectorize");
    let matrix = uniform_f32(10_000 * ROW_LEN, SEED + 1);
    let (looped, loop_time) = best_of(3, || {
        matrix
            .chunks_exact(ROW_LEN)
            .map(walsh_median)
            .collect::<Result<Vec<f32>, _>>()
    });
    let (rows, rows_time) = best_of(3, || walsh_median_rows(&matrix, ROW_LEN));
    assert_eq!(looped?, rows?, "rows in parallel equal the loop");
    report.compare("walsh_median_rows, rows on all cores", loop_time, rows_time);
    Ok(())
}

fn parallel_and_delayed(report: &Report) -> Result<(), Failure> {
    report.section("Parallel / delayed over 100 samples of 10 000 (2A): loop vs workers");
    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, SEED + s)).collect();
    let (looped, loop_time) = best_of(3, || {
        samples
            .iter()
            .map(|sample| walsh_median(sample))
            .collect::<Result<Vec<f32>, _>>()
    });
    let looped = looped?;
    let threads = Parallel::new().n_jobs(-1);
    let (on_threads, thread_time) = best_of(3, || {
        threads.try_run(
            samples
                .iter()
                .map(|sample| delayed(move || walsh_median(sample))),
        )
    });
    assert_eq!(on_threads?, looped, "threads equal the loop");
    report.compare("Parallel(n_jobs=-1) on threads", loop_time, thread_time);
    report.working("starting worker processes");
    let processes = Parallel::new().backend(Backend::Processes).n_jobs(-1);
    let (on_processes, process_time) =
        best_of(3, || processes.try_map(walsh_median_owned, samples.clone()));
    assert_eq!(on_processes?, looped, "processes equal the loop");
    report.compare(
        "Parallel(n_jobs=-1) on worker processes",
        loop_time,
        process_time,
    );
    Ok(())
}

fn memory_cache(report: &Report) {
    report.section(&format!(
        "#[cache] on the default store, {} (2B)",
        common::cache_dir("tour").display()
    ));
    let sample = uniform_f32(10_000, SEED);
    let stored_before = walsh_median_slow::cache().check_call_in_cache(&sample);
    if !stored_before {
        report.working("computing the naive Walsh median of 10 000 values (about 1 s)");
    }
    let started = Instant::now();
    let first = walsh_median_slow(&sample);
    let first_time = started.elapsed();
    let started = Instant::now();
    let second = walsh_median_slow(&sample);
    let second_time = started.elapsed();
    assert_eq!(first, second, "the stored result is the computed one");
    if stored_before {
        report.value(
            "first call: loaded, stored by an earlier run",
            human(first_time),
        );
        report.value("second call: loaded", human(second_time));
    } else {
        report.compare(
            "computed, then loaded from the store",
            first_time,
            second_time,
        );
    }
    match first {
        Ok(median) => report.value("median of Walsh averages", format!("{median:.6}")),
        Err(error) => report.value("error (cached as well)", error),
    }
    if !stored_before {
        report.line("run the tour again: the first call will load this run's result");
    }
}
