//! Tutorial section 2A: joblib's `Parallel` / `delayed`, a map-reduce over 100 samples of
//! 10 000 f32 (joblib with processes: 26.7 s on 64 cores with the O(n^2) numpy median).
//!
//! Shows the same job sequentially and on threads, joblib-style progress lines, results
//! as they complete, and what a failing task looks like.
//!
//! `cargo run --release --example parallel`

mod common;

use common::{best_of, human, row, speedup, uniform_f32, SEED};
use parmemo::parallel::{delayed, Backend, Error, Parallel};
use parmemo::stats::walsh_median;

fn main() -> Result<(), Error> {
    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, SEED + s)).collect();
    println!("Walsh median of {} samples of 10 000 f32", samples.len());

    let sequential = Parallel::new().backend(Backend::Sequential);
    let threads = Parallel::new().n_jobs(-1);
    let (one_core, one_time) = best_of(3, || {
        sequential.try_map(|s: &Vec<f32>| walsh_median(s), &samples)
    });
    // joblib: Parallel(n_jobs=-1)(delayed(walsh_median)(s) for s in samples)
    let (all_cores, all_time) = best_of(3, || {
        threads.try_run(samples.iter().map(|s| delayed(move || walsh_median(s))))
    });
    assert_eq!(
        one_core?, all_cores?,
        "threads must equal the sequential run"
    );
    row("Backend::Sequential", human(one_time));
    row(
        &format!(
            "Backend::Threads, n_jobs = -1 ({} cores)",
            threads.effective_n_jobs()?
        ),
        human(all_time),
    );
    row("speed-up", speedup(one_time, all_time));

    println!("\nProgress, as joblib's verbose=1 (on stderr):");
    threads
        .clone()
        .verbose(1)
        .try_map(|s: &Vec<f32>| walsh_median(s), &samples)?;

    println!("\nResults as they complete (run_unordered), first five:");
    let owned = samples.clone();
    let tasks = owned.into_iter().map(|s| delayed(move || walsh_median(&s)));
    for result in threads.run_unordered(tasks)?.take(5) {
        let (index, median) = result?;
        println!(
            "  sample {index:>3}: {:.6}",
            median.map_err(|e| Error::task(index, e.to_string()))?
        );
    }

    println!("\nA task that fails: the error names it, the rest is cancelled.");
    let mut broken = samples.clone();
    broken[42][7] = f32::NAN;
    match threads.try_map(|s: &Vec<f32>| walsh_median(s), &broken) {
        Err(error) => println!("  {error}"),
        Ok(_) => println!("  (no error?)"),
    }
    Ok(())
}
