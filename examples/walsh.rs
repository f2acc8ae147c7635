//! Tutorial sections 1A/1B and 1D (`guvectorize`): the median of Walsh averages.
//!
//! 1A/1B: one sample of 1 000 uniform values. The tutorial timed a pure Python loop
//! (1.46 s), the same loop under `@numba.jit` (141 ms) and a numpy `triu` version
//! (58.8 ms). Here: the naive sort of all averages against the exact O(n log n)
//! selection, with the same answer.
//!
//! 1D: one median per row of 10 000 x 100 f32 (`np.vectorize` 4.62 s, numba
//! `guvectorize(target="parallel")` 265 ms on 64 cores). Here: a loop against
//! `walsh_median_rows`, rows spread over all cores.
//!
//! `cargo run --release --example walsh`

mod common;

use common::{best_of, human, row, speedup, uniform, uniform_f32, SEED};
use parmemo::stats::reference::{walsh_median_naive, walsh_median_tutorial};
use parmemo::stats::{hodges_lehmann, walsh_median, walsh_median_rows, StatsError};

fn main() -> Result<(), StatsError> {
    let sample = uniform(1_000, SEED);
    println!("Walsh median of {} uniform values", sample.len());

    let (naive, naive_time) = best_of(3, || walsh_median_naive(&sample));
    let (fast, fast_time) = best_of(20, || walsh_median(&sample));
    let (naive, fast) = (naive?, fast?);
    assert_eq!(naive, fast, "the fast estimator must equal the naive sort");

    row("naive: sort all 499 500 averages", human(naive_time));
    row("walsh_median: sorted-matrix selection", human(fast_time));
    row(
        "speed-up",
        format!("{:.0}x", naive_time.as_secs_f64() / fast_time.as_secs_f64()),
    );
    row("median of Walsh averages (i < j)", format!("{fast:.6}"));
    row(
        "Hodges-Lehmann (i <= j, numpy's triu)",
        format!("{:.6}", hodges_lehmann(&sample)?),
    );
    row(
        "the tutorial's loop (wrong middle index)",
        format!("{:.6}", walsh_median_tutorial(&sample)?),
    );
    println!(
        "\nThe tutorial's loop picks element n / 2 of the {} sorted averages: it tests the\n\
         parity of the sample size instead of the number of averages, so it returns a low\n\
         quantile, not the median.",
        sample.len() * (sample.len() - 1) / 2
    );

    let (rows, row_len) = (10_000, 100);
    let matrix = uniform_f32(rows * row_len, SEED + 1);
    println!("\nWalsh median of each row of {rows} x {row_len} f32 (guvectorize)");
    let (looped, loop_time) = best_of(3, || {
        matrix
            .chunks_exact(row_len)
            .map(walsh_median)
            .collect::<Result<Vec<f32>, _>>()
    });
    let (parallel, parallel_time) = best_of(3, || walsh_median_rows(&matrix, row_len));
    assert_eq!(looped?, parallel?, "rows in parallel must equal the loop");
    row("loop over rows, one core", human(loop_time));
    row("walsh_median_rows, all cores", human(parallel_time));
    row("speed-up", speedup(loop_time, parallel_time));
    Ok(())
}
