//! `Backend::Mpi`: the tutorial's joblib job (Walsh medians of 100 samples of 10 000
//! values) over the ranks of an MPI job. Rank 0 runs `main` and hands out batches; the
//! other ranks serve them. Needs the feature `mpi` and Open MPI (see docs/guide.md):
//!
//! ```text
//! cargo build --release --features mpi --example mpi_walsh
//! mpirun -n 3 target/release/examples/mpi_walsh
//! ```
//!
//! Without mpirun it runs the tasks on local threads, and says so.

mod common;

use common::{best_of, human, row, uniform_f32, SEED};
use parmemo::parallel::{Backend, Parallel};
use parmemo::stats::walsh_median;

/// A task for other ranks: a plain function of serializable arguments.
// Task arguments arrive owned: they are deserialized on the serving rank.
#[allow(clippy::needless_pass_by_value)]
fn walsh_median_owned(sample: Vec<f32>) -> Result<f32, String> {
    walsh_median(&sample).map_err(|err| err.to_string())
}

fn add_one(x: u64) -> u64 {
    x + 1
}

fn fails_at_seven(x: u32) -> Result<u32, String> {
    if x == 7 {
        Err("sample 7 is unusable".to_owned())
    } else {
        Ok(x)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    parmemo::parallel::init(); // ranks 1.. serve tasks here until rank 0 is done

    let samples: Vec<Vec<f32>> = (0..100).map(|s| uniform_f32(10_000, SEED + s)).collect();
    println!("Walsh median of {} samples of 10 000 f32", samples.len());
    // One run with joblib's progress lines, then timed runs without.
    let on_ranks = Parallel::new()
        .backend(Backend::Mpi)
        .verbose(1)
        .try_map(walsh_median_owned, samples.clone())?;
    let quiet = Parallel::new().backend(Backend::Mpi);
    let (again, mpi_time) = best_of(3, || quiet.try_map(walsh_median_owned, samples.clone()));
    assert_eq!(again?, on_ranks, "every run gives the same answers");
    let sequential: Vec<f32> = samples
        .iter()
        .map(|sample| walsh_median(sample))
        .collect::<Result<_, _>>()?;
    assert_eq!(on_ranks, sequential, "the ranks agree with a plain loop");
    row("Backend::Mpi", human(mpi_time));
    println!("  first medians: {:?}", &on_ranks[..3]);

    let tasks = 10_000u64;
    let (sums, tiny_time) = best_of(3, || quiet.map(add_one, 0..tasks));
    assert!(sums?.iter().copied().eq(1..=tasks));
    row(
        "10 000 tiny tasks, per task",
        human(tiny_time / u32::try_from(tasks).unwrap_or(u32::MAX)),
    );

    println!("\nA task that returns an error (task 7 of 20):");
    match quiet.try_map(fails_at_seven, 0..20) {
        Err(error) => println!("  {error}"),
        Ok(results) => println!("  (no error?) {results:?}"),
    }
    Ok(())
}
