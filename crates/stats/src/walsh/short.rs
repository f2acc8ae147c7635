//! Short samples (the rows of a matrix, typically: up to [`SHORT_MAX`] values), where
//! all `n^2 / 2` averages fit in L1 and rounds of one branch-free pass over the averages
//! still in play beat the implicit matrix's dependent walks (`select.rs`, which wins
//! beyond). Each round keeps the averages between two pivots:
//! 1. the first round's pivots come from a sample of pairs; where the type has a fused
//!    form (`f32` with AVX2) rounds count each sorted row's averages against their
//!    pivots eight at a time and only the few left are written (`band.rs`); elsewhere
//!    the table is written once and the round is a pass over it;
//! 2. the next rounds place their pivots by interpolation in the range the last round
//!    kept, which is a narrow slice of the distribution and close to uniform, so each
//!    round costs one pass and no sampling;
//! 3. a few dozen left are selected among directly.
//!
//! The answer is exact whatever the pivots: they only decide how much each round
//! removes. See `README.md` here for the measurements.

use super::select::{pivots_in_sample, strata, Pairs, SplitMix64, FLOYD_RIVEST_SPREAD};
use crate::Float;

/// The longest sample this path takes: measured against the implicit selection (here,
/// f32: 10 against 14 us at 150 values, 20 against 22 at 200, where the table grows past
/// what the allocator hands out without mapping fresh pages).
pub(crate) const SHORT_MAX: usize = 160;

/// Sampled pivots: one per `SAMPLE_DIVISOR` averages in play, within these bounds. A
/// larger sample brackets closer, but selecting in it costs more; the interpolated
/// rounds after it make a loose first bracket cheap.
const SAMPLE_DIVISOR: usize = 8;
const SAMPLE_MIN: usize = 24;
const SAMPLE_MAX: usize = 64;

/// The pairs sampled for the pivots of the counted rounds (`band.rs`).
const FIRST_SAMPLE: usize = 16;

/// How far apart the first pivots are (the `spread` of `pivots_in_sample`): narrower
/// than [`FLOYD_RIVEST_SPREAD`], since a miss costs little here (the counted rounds go on
/// with the side that holds the rank).
const FIRST_SPREAD: f64 = 0.75;

/// At most this many averages in play: they are selected among directly.
const DIRECT_UP_TO: usize = 32;

/// Every pair average of the sorted sample, row by row: compiled for the widest SIMD
/// the processor has (the same operations on every target, so the same values).
#[multiversion::multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn table<T: Float, const HOW: u8>(sorted: &[T], pairs: Pairs) -> Vec<T> {
    let n = sorted.len();
    let mut values = vec![T::ZERO; pairs.count(n)];
    let mut rest = &mut values[..];
    for (row, &x) in sorted.iter().enumerate() {
        let columns = &sorted[pairs.row_start(row).min(n)..];
        let (out, after) = rest.split_at_mut(columns.len());
        rest = after;
        // Blocks of eight with a fixed trip count: the compiler vectorizes them whole,
        // where a loop over the row would leave short rows to its scalar remainder.
        let mut blocks = out.chunks_exact_mut(8);
        let mut inputs = columns.chunks_exact(8);
        for (block, ys) in (&mut blocks).zip(&mut inputs) {
            for (value, &y) in block.iter_mut().zip(ys) {
                *value = average::<T, HOW>(x, y);
            }
        }
        for (value, &y) in blocks.into_remainder().iter_mut().zip(inputs.remainder()) {
            *value = average::<T, HOW>(x, y);
        }
    }
    values
}

/// The one average of two values, branch-free where the sample allows it.
#[inline]
fn average<T: Float, const HOW: u8>(a: T, b: T) -> T {
    match HOW {
        PLAIN => T::plain_midpoint(a, b),
        OWN => T::half_sum(a, b),
        _ => T::midpoint(a, b),
    }
}

/// How `table` computes an average, as its `HOW`: `Float::midpoint`; its branch-free
/// form `plain_midpoint`, where the sample's magnitudes allow it; the same value in the
/// type's own arithmetic, where the sample allows that too (see `half_sum_is_midpoint`).
const GENERAL: u8 = 0;
const PLAIN: u8 = 1;
const OWN: u8 = 2;

/// Copies the values `pick` chooses into `kept` (emptied first), without a branch.
fn keep_where<T: Float>(values: &[T], kept: &mut Vec<T>, pick: impl Fn(T) -> bool) {
    kept.clear();
    kept.resize(values.len(), T::ZERO);
    let mut at = 0;
    for &value in values {
        kept[at] = value;
        at += usize::from(pick(value));
    }
    kept.truncate(at);
}

/// How many values a round samples to place its pivots among `count` in play.
fn sample_size(count: usize) -> usize {
    (count / SAMPLE_DIVISOR)
        .clamp(SAMPLE_MIN, SAMPLE_MAX)
        .min(count)
}

/// Two pivots from a stratified sample of `values` that should bracket rank `target`
/// closely (Floyd and Rivest): its relative rank, plus or minus about 2.5 standard
/// deviations of where it falls in the sample.
fn bracket<T: Float>(
    values: &[T],
    target: usize,
    rng: &mut SplitMix64,
    sample: &mut Vec<T>,
) -> (T, T) {
    let count = values.len();
    let samples = sample_size(count);
    sample.clear();
    sample.extend(strata(count, samples, rng).map(|position| values[position]));
    pivots_in_sample(sample, target, count, FLOYD_RIVEST_SPREAD)
}

/// Two pivots for rank `rank` among `count` values known to lie in `low..=high`, placed
/// by linear interpolation: what is left after a round is a narrow slice of the
/// averages' distribution, where it is close to uniform, so the rank's value is near
/// its proportional place, within about `sqrt(count) / 2` ranks. The pivots are that
/// place plus or minus 2.5 such deviations, in value. `None` when the range is empty or
/// too wide for `f64`.
pub(crate) fn interpolate<T: Float>(rank: usize, count: usize, low: T, high: T) -> Option<(T, T)> {
    let base = low.to_f64();
    let width = high.to_f64() - base;
    if !(width.is_finite() && width > 0.0) {
        return None;
    }
    let centre = (rank as f64 + 0.5) / count as f64;
    let margin = FLOYD_RIVEST_SPREAD * (count as f64).sqrt() / count as f64;
    let at = |fraction: f64| T::from_f64_rounded(base + width * fraction.clamp(0.0, 1.0));
    Some((at(centre - margin), at(centre + margin)))
}

/// The value of rank `rank` among `values` (consumed), and the one of rank `rank + 1`
/// when it was found on the way. `kept_between` is the value range the values are known
/// to lie in (what a previous round kept), if any: the first round then interpolates.
fn select<T: Float>(
    mut values: Vec<T>,
    mut rank: usize,
    mut kept_between: Option<(T, T)>,
    rng: &mut SplitMix64,
) -> (T, Option<T>) {
    let mut sample = Vec::with_capacity(SAMPLE_MAX);
    // A block more than the values: the SIMD passes store whole blocks.
    let mut kept = Vec::with_capacity(values.len() + 8);
    loop {
        let count = values.len();
        if count <= DIRECT_UP_TO {
            let (_, &mut found, after) = values.select_nth_unstable_by(rank, T::cmp_finite);
            return (found, after.iter().copied().min_by(T::cmp_finite));
        }
        let interpolated = kept_between.and_then(|(low, high)| interpolate(rank, count, low, high));
        let (mut low, mut high) =
            interpolated.unwrap_or_else(|| bracket(&values, rank, rng, &mut sample));
        let (mut below, mut through) = T::keep_between(&values, low, high, &mut kept);
        if below <= rank && rank < through && low != high && kept.len() == count {
            // The pivots are at or beyond the least and greatest values (heavy ties):
            // one random pivot removes at least itself, or is the answer.
            let pivot = values[rng.below(count)];
            (low, high) = (pivot, pivot);
            (below, through) = T::keep_between(&values, pivot, pivot, &mut kept);
        }
        kept_between = None;
        if rank < below {
            keep_where(&values, &mut kept, |value| value < low);
        } else if rank >= through {
            keep_where(&values, &mut kept, |value| value > high);
            rank -= through;
        } else if low == high {
            return (low, None);
        } else {
            rank -= below;
            // Interpolate next time only while it pays: a round that kept more than half
            // says the values are far from uniform (ties, gaps).
            if interpolated.is_none() || kept.len() <= count / 2 {
                kept_between = Some((low, high));
            }
        }
        std::mem::swap(&mut values, &mut kept);
    }
}

/// The value of rank `rank + 1` among `values`, given `value`, the one of rank `rank`:
/// `value` again if more than `rank + 1` are `<= value`, else the least one above it.
fn next_after<T: Float>(values: &[T], rank: usize, value: T) -> T {
    let through = values.iter().filter(|&&other| other <= value).count();
    if through > rank + 1 {
        return value;
    }
    // rank + 1 exists, so some value is greater than `value`.
    values
        .iter()
        .copied()
        .filter(|&other| other > value)
        .min_by(T::cmp_finite)
        .unwrap_or(value)
}

/// The median of the pair averages of `sorted` (ascending, finite, with at least one
/// pair, at most [`SHORT_MAX`] values).
pub(crate) fn median_short<T: Float>(sorted: &[T], pairs: Pairs, plain: bool) -> T {
    match (plain, plain && T::half_sum_is_midpoint(sorted)) {
        (true, true) => median_with::<T, OWN>(sorted, pairs),
        (true, false) => median_with::<T, PLAIN>(sorted, pairs),
        _ => median_with::<T, GENERAL>(sorted, pairs),
    }
}

fn median_with<T: Float, const HOW: u8>(sorted: &[T], pairs: Pairs) -> T {
    let count = pairs.count(sorted.len());
    // The middle one, or the lower of the two middle ones.
    let rank = (count - 1) / 2;
    let mut rng = SplitMix64(0x5EED ^ sorted.len() as u64);
    let fused = if HOW == OWN {
        fused_rounds(sorted, pairs, rank, &mut rng)
    } else {
        None
    };
    let (lower, next) =
        fused.unwrap_or_else(|| select(table::<T, HOW>(sorted, pairs), rank, None, &mut rng));
    if count % 2 == 1 {
        return lower;
    }
    // Rare (ties): the selection consumed the table, so it is made again.
    let next = next.unwrap_or_else(|| next_after(&table::<T, HOW>(sorted, pairs), rank, lower));
    T::midpoint(lower, next)
}

/// The first rounds without the table, where the type has a fused form for its own
/// arithmetic (`f32` with AVX2): pivots from a sample of pairs, then rounds that count
/// per row (`band.rs`) and write out only the few averages left. `None` when there is
/// no fused form or the pivots remove nothing (the caller then selects in the table).
fn fused_rounds<T: Float>(
    sorted: &[T],
    pairs: Pairs,
    rank: usize,
    rng: &mut SplitMix64,
) -> Option<(T, Option<T>)> {
    if !T::counts_half_sums() {
        return None;
    }
    let count = pairs.count(sorted.len());
    let (low, high) = sampled_pivots(sorted, pairs, rank, rng)?;
    if let Some(mut band) = T::band_of_half_sums(sorted, pairs, rank, low, high) {
        // An even count needs the next rank too, which the selection may leave unknown
        // (ties): then it is in the band, or the least average above it.
        let kept = count.is_multiple_of(2).then(|| band.values.clone());
        let values = std::mem::take(&mut band.values);
        let (lower, next) = select(values, band.rank, Some((band.low, band.high)), rng);
        let next = next.or_else(|| {
            let kept = kept?;
            if band.rank + 1 < kept.len() {
                Some(next_after(&kept, band.rank, lower))
            } else {
                band.least_above(sorted)
            }
        });
        return Some((lower, next));
    }
    // Pivots that remove nothing (ties no pivot splits): the table.
    None
}

/// Two pivots that should bracket rank `rank` of the pair averages, from a sample of
/// pairs; `None` when there are so few averages that they are selected among directly.
fn sampled_pivots<T: Float>(
    sorted: &[T],
    pairs: Pairs,
    rank: usize,
    rng: &mut SplitMix64,
) -> Option<(T, T)> {
    let n = sorted.len();
    let count = pairs.count(n);
    if count <= DIRECT_UP_TO {
        return None;
    }
    let first_column = pairs.row_start(0);
    let mut sample = [T::ZERO; FIRST_SAMPLE];
    for drawn in &mut sample {
        // Two uniform indices, ordered: each pair of distinct values is drawn from two
        // cells of the square, a value with itself from one. Close enough to uniform
        // over the pairs for placing pivots, which any values would do for correctness.
        let draw = rng.next_u64();
        // Multiply-shift into 0..n: the results are below n.
        #[allow(clippy::cast_possible_truncation)]
        let (i, j) = (
            (((draw & 0xFFFF_FFFF) * n as u64) >> 32) as usize,
            (((draw >> 32) * n as u64) >> 32) as usize,
        );
        let (row, mut column) = (i.min(j), i.max(j));
        if column < row + first_column {
            // A value with itself where only distinct pairs count: its neighbour.
            column = row + first_column;
        }
        let (row, column) = if column < n {
            (row, column)
        } else {
            (row - 1, n - 1)
        };
        *drawn = average::<T, OWN>(sorted[row], sorted[column]);
    }
    Some(pivots_in_sample(&mut sample, rank, count, FIRST_SPREAD))
}
