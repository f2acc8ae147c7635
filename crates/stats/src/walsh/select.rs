//! Rank selection in the implicit sorted matrix of Walsh averages; see README.md here.

use crate::Float;

/// Which pairs `(i, j)` of the sorted sample take part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairs {
    /// `i < j`: the Walsh averages of distinct points.
    Distinct,
    /// `i <= j`: also each point with itself (the Hodges-Lehmann estimator).
    WithSelf,
}

impl Pairs {
    pub(crate) fn row_start(self, row: usize) -> usize {
        match self {
            Pairs::Distinct => row + 1,
            Pairs::WithSelf => row,
        }
    }

    pub(crate) fn count(self, n: usize) -> usize {
        match self {
            Pairs::Distinct => n * n.saturating_sub(1) / 2,
            Pairs::WithSelf => n * (n + 1) / 2,
        }
    }
}

/// A column index of the matrix, kept as narrow as the sample allows: the selection
/// holds four of them per value (candidate ranges and two cuts), so `u32` halves its
/// memory for any sample of fewer than 2^32 values.
pub(crate) trait Column: Copy + Ord + Send + Sync + 'static {
    /// `index`, which the caller knows fits (at most the sample's length).
    fn of(index: usize) -> Self;
    /// The index.
    fn get(self) -> usize;
}

impl Column for u32 {
    #[inline]
    fn of(index: usize) -> u32 {
        // Only chosen for samples of at most u32::MAX values.
        #[allow(clippy::cast_possible_truncation)]
        let narrow = index as u32;
        narrow
    }
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
}

impl Column for usize {
    #[inline]
    fn of(index: usize) -> usize {
        index
    }
    #[inline]
    fn get(self) -> usize {
        self
    }
}

/// Which side of a pivot a cut counts.
#[derive(Clone, Copy)]
enum Cut {
    /// Count the averages `< pivot`.
    Below,
    /// Count the averages `<= pivot`.
    AtOrBelow,
}

/// Averages drawn per round to place the pivots: one per `SAMPLE_DIVISOR` candidates,
/// within these bounds. More samples, tighter brackets; selecting the pivots costs
/// O(samples), so the bracket can afford to be tight.
const MAX_SAMPLES: usize = 1024;
const MIN_SAMPLES: usize = 32;
const SAMPLE_DIVISOR: usize = 32;
/// Below this many candidates per row (times n) a direct selection beats another round:
/// collecting is branch-free, while a round is two latency-bound sweeps.
const SMALL_FACTOR: usize = 8;

/// How far a row's boundary is looked for at once, without a branch per element: the
/// boundary moves by about one column per row on average, so eight rarely fall short.
const BOUNDARY_WINDOW: usize = 8;

/// Row `i`, column `j` of the matrix: the average of the i-th and j-th smallest values.
/// Non-decreasing along rows and columns because `midpoint` is a monotone rounding.
///
/// `PLAIN` says the sample's magnitudes allow the branch-free midpoint, which then
/// equals the general one (see [`Float::plain_midpoint`]).
struct Matrix<'a, T, const PLAIN: bool> {
    sorted: &'a [T],
    pairs: Pairs,
}

impl<T: Float, const PLAIN: bool> Matrix<'_, T, PLAIN> {
    #[inline]
    fn average(a: T, b: T) -> T {
        if PLAIN {
            T::plain_midpoint(a, b)
        } else {
            T::midpoint(a, b)
        }
    }

    #[inline]
    fn at(&self, row: usize, col: usize) -> T {
        Self::average(self.sorted[row], self.sorted[col])
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    /// For each row, the first column whose average is not counted, for two cuts at
    /// once, searched only within the row's candidate range `lo..hi` (outside it the
    /// answer is already known); returns how many averages of the whole triangle each
    /// cut counts.
    ///
    /// Two cuts in one pass over the rows: each is a chain of dependent steps (a row's
    /// boundary starts from the previous row's), so interleaving two keeps the processor
    /// busy where one would leave it waiting.
    ///
    /// The boundary never moves right as the row index grows (the matrix is monotone in
    /// columns too), so one pointer per cut walks all boundaries in O(n) in all, and rows
    /// without candidates cost nothing but their known boundary.
    fn cut_two<C: Column>(
        &self,
        Sweep {
            pivot: pivot_a,
            cut: rule_a,
            boundary: boundary_a,
        }: Sweep<'_, T, C>,
        Sweep {
            pivot: pivot_b,
            cut: rule_b,
            boundary: boundary_b,
        }: Sweep<'_, T, C>,
        lo: &[C],
        hi: &[C],
    ) -> (usize, usize) {
        let n = self.len();
        // Upper bounds of the current row's boundaries over its whole row.
        let (mut col_a, mut col_b) = (n, n);
        let (mut total_a, mut total_b) = (0, 0);
        for row in 0..n {
            let (row_lo, row_hi) = (lo[row].get(), hi[row].get());
            let start = self.pairs.row_start(row).min(n);
            let mut top_a = col_a.min(row_hi).max(row_lo);
            let mut top_b = col_b.min(row_hi).max(row_lo);
            if row_lo < row_hi {
                let x = self.sorted[row];
                top_a = self.row_boundary(x, pivot_a, rule_a, row_lo, top_a);
                top_b = self.row_boundary(x, pivot_b, rule_b, row_lo, top_b);
                col_a = top_a;
                col_b = top_b;
            }
            boundary_a[row] = C::of(top_a);
            boundary_b[row] = C::of(top_b);
            total_a += top_a - start;
            total_b += top_b - start;
        }
        (total_a, total_b)
    }

    /// The first column in `row_lo..top` of the row of `x` whose average `cut` does not
    /// count, given that none at or after `top` is counted.
    #[inline]
    fn row_boundary(&self, x: T, pivot: T, cut: Cut, row_lo: usize, mut top: usize) -> usize {
        loop {
            // Count the uncounted averages just left of `top` in one branch-free pass;
            // they form a suffix of the window, as rows are sorted.
            let from = top.saturating_sub(BOUNDARY_WINDOW).max(row_lo);
            let window = &self.sorted[from..top];
            let uncounted = match cut {
                Cut::Below => count_where(window, |&y| Self::average(x, y) >= pivot),
                Cut::AtOrBelow => count_where(window, |&y| Self::average(x, y) > pivot),
            };
            top -= uncounted;
            if uncounted < window.len() || top == row_lo {
                return top;
            }
        }
    }
}

#[inline]
fn count_where<T: Copy>(values: &[T], predicate: impl Fn(&T) -> bool) -> usize {
    values
        .iter()
        .map(|value| usize::from(predicate(value)))
        .sum()
}

/// One cut to make in a sweep: count against `pivot`, boundaries into `boundary`.
struct Sweep<'b, T, C> {
    pivot: T,
    cut: Cut,
    boundary: &'b mut [C],
}

/// A small, fast generator for pivot sampling. Reproducible runs matter more here than
/// cryptographic quality, and the selection is exact whatever the draws are.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`: the top 53 bits of a draw.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift; the bias is below 2^-40 here).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        // The product shifted right by 64 is below `bound`, so it fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let drawn = ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize;
        drawn
    }
}

/// Ascending positions in `0..count`, one drawn in each of `samples` equal slices of it
/// (a stratified sample: it covers the values evenly, and comes out sorted).
pub(crate) fn strata(
    count: usize,
    samples: usize,
    rng: &mut SplitMix64,
) -> impl Iterator<Item = usize> + '_ {
    // Floating point, not integer division: this runs hundreds of times a round.
    let stride = count as f64 / samples as f64;
    let last_position = (count - 1) as f64;
    (0..samples).map(move |stratum| {
        // In 0..count and increasing with the stratum: the cast is exact enough.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let position = ((stratum as f64 + rng.unit()) * stride).min(last_position) as usize;
        position
    })
}

/// The `spread` of [`pivots_in_sample`] for a sample that need not be small: about 2.5
/// standard deviations each side, which a rank rarely falls outside.
pub(crate) const FLOYD_RIVEST_SPREAD: f64 = 1.25;

/// Two values of `sample` (drawn evenly from `count` values) expected to bracket rank
/// `target` of those values closely, as Floyd and Rivest do for arrays: the target's
/// relative rank in the sample, plus or minus `spread` times the square root of the
/// sample's size, in ranks of the sample (about `2 * spread` standard deviations of where
/// the target falls there; [`FLOYD_RIVEST_SPREAD`] is theirs). Found by two selections
/// rather than a sort of the sample.
pub(crate) fn pivots_in_sample<T: Float>(
    sample: &mut [T],
    target: usize,
    count: usize,
    spread: f64,
) -> (T, T) {
    let samples = sample.len();
    let centre = (target as f64 + 0.5) / count as f64 * samples as f64;
    let spread = spread * (samples as f64).sqrt();
    let last = (samples - 1) as f64;
    // Clamped to 0..=last first, so the cast neither wraps nor truncates.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = |position: f64| position.clamp(0.0, last) as usize;
    let (low_at, high_at) = (at(centre - spread), at(centre + spread));
    let (_, &mut low, above) = sample.select_nth_unstable_by(low_at, T::cmp_finite);
    let high = if high_at == low_at {
        low
    } else {
        *above
            .select_nth_unstable_by(high_at - low_at - 1, T::cmp_finite)
            .1
    };
    (low, high)
}

/// The state of one selection: for each row the half-open column range `lo..hi` of the
/// averages that may still hold the wanted rank. Averages left of `lo` are known to rank
/// before it, those at or right of `hi` after it.
struct Selection<'a, T, const PLAIN: bool, C> {
    matrix: Matrix<'a, T, PLAIN>,
    lo: Vec<C>,
    hi: Vec<C>,
    below: Vec<C>,
    above: Vec<C>,
    rng: SplitMix64,
}

impl<'a, T: Float, const PLAIN: bool, C: Column> Selection<'a, T, PLAIN, C> {
    fn new(sorted: &'a [T], pairs: Pairs) -> Self {
        let n = sorted.len();
        let lo = (0..n)
            .map(|row| C::of(pairs.row_start(row).min(n)))
            .collect();
        Selection {
            matrix: Matrix { sorted, pairs },
            lo,
            hi: vec![C::of(n); n],
            below: vec![C::of(0); n],
            above: vec![C::of(0); n],
            rng: SplitMix64(0x5EED ^ n as u64),
        }
    }

    fn remaining(&self) -> usize {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(lo, hi)| hi.get() - lo.get())
            .sum()
    }

    /// Averages known to rank before every remaining candidate.
    fn known_before(&self) -> usize {
        let pairs = self.matrix.pairs;
        let n = self.matrix.len();
        (0..n)
            .map(|row| self.lo[row].get() - pairs.row_start(row).min(n))
            .sum()
    }

    /// The candidates whose positions among the candidates (row by row) are `positions`,
    /// sorted ascending.
    fn candidates_at(&self, positions: &[usize]) -> Vec<T> {
        let mut found = Vec::with_capacity(positions.len());
        let mut wanted = positions.iter().peekable();
        let mut before = 0;
        for row in 0..self.matrix.len() {
            let width = self.hi[row].get() - self.lo[row].get();
            while let Some(&&position) = wanted.peek() {
                if position >= before + width {
                    break;
                }
                found.push(self.matrix.at(row, self.lo[row].get() + position - before));
                wanted.next();
            }
            before += width;
        }
        found
    }

    /// Two pivots from a stratified sample of the candidates, expected to bracket the
    /// target closely ([`pivots_in_sample`]).
    fn bracket(&mut self, target: usize, remaining: usize) -> (T, T) {
        let samples = (remaining / SAMPLE_DIVISOR)
            .clamp(MIN_SAMPLES, MAX_SAMPLES)
            .min(remaining);
        let positions: Vec<usize> = strata(remaining, samples, &mut self.rng).collect();
        let mut values = self.candidates_at(&positions);
        pivots_in_sample(&mut values, target, remaining, FLOYD_RIVEST_SPREAD)
    }

    /// Keeps only the candidates on the side of `low <= high` where rank `rank` lies, or
    /// returns the answer when it is one of them. Every branch but the middle one removes
    /// `low` or `high` from the candidates, so a single pivot always makes progress.
    fn locate(&mut self, rank: usize, low: T, high: T) -> Option<T> {
        let (before_low, through_high) = self.matrix.cut_two(
            Sweep {
                pivot: low,
                cut: Cut::Below,
                boundary: &mut self.below,
            },
            Sweep {
                pivot: high,
                cut: Cut::AtOrBelow,
                boundary: &mut self.above,
            },
            &self.lo,
            &self.hi,
        );
        if rank < before_low {
            narrow_from_above(&mut self.hi, &self.lo, &self.below);
            return None;
        }
        if rank >= through_high {
            narrow_from_below(&mut self.lo, &self.hi, &self.above);
            return None;
        }
        if low == high {
            return Some(low);
        }
        narrow_from_below(&mut self.lo, &self.hi, &self.below);
        narrow_from_above(&mut self.hi, &self.lo, &self.above);
        None
    }

    /// The candidate of rank `target` among the candidates, and the next one when it is
    /// a candidate too.
    fn select_among_candidates(&self, target: usize) -> (T, Option<T>) {
        let mut candidates = Vec::with_capacity(self.remaining());
        for row in 0..self.matrix.len() {
            candidates.extend(
                (self.lo[row].get()..self.hi[row].get()).map(|col| self.matrix.at(row, col)),
            );
        }
        let (_, &mut found, after) = candidates.select_nth_unstable_by(target, T::cmp_finite);
        let next = after.iter().copied().min_by(T::cmp_finite);
        (found, next)
    }

    /// The average of rank `rank` (0-based) among all pairs, and the one of rank
    /// `rank + 1` when the search found it on the way.
    fn select(&mut self, rank: usize) -> (T, Option<T>) {
        // Gathered, the candidates take memory: at most the sample's size (past 65 536
        // values), not the `SMALL_FACTOR` times that small samples can afford.
        let n = self.matrix.len();
        let small_enough = (n * SMALL_FACTOR).min(n.max(1 << 16)).max(256);
        loop {
            let remaining = self.remaining();
            let target = rank - self.known_before();
            if remaining <= small_enough {
                return self.select_among_candidates(target);
            }
            let (low, high) = self.bracket(target, remaining);
            if let Some(found) = self.locate(rank, low, high) {
                return (found, None);
            }
            if self.remaining() == remaining {
                // The bracket spanned every candidate (heavy ties): one random pivot
                // always removes at least itself.
                let position = self.rng.below(remaining);
                let pivot = self.candidates_at(&[position])[0];
                if let Some(found) = self.locate(rank, pivot, pivot) {
                    return (found, None);
                }
            }
        }
    }

    /// The average of rank `rank + 1`, given `value`, the one of rank `rank`.
    fn next_after(&mut self, rank: usize, value: T) -> T {
        // Search every row in full: the averages just above `value` may lie outside the
        // candidate ranges the selection of `rank` left behind. The selection is over, so
        // its ranges become whole rows (no new arrays: they are a value's worth each).
        let n = self.matrix.len();
        for (row, (lo, hi)) in self.lo.iter_mut().zip(&mut self.hi).enumerate() {
            *lo = C::of(self.matrix.pairs.row_start(row).min(n));
            *hi = C::of(n);
        }
        let (through_value, _) = self.matrix.cut_two(
            Sweep {
                pivot: value,
                cut: Cut::AtOrBelow,
                boundary: &mut self.above,
            },
            Sweep {
                pivot: value,
                cut: Cut::Below,
                boundary: &mut self.below,
            },
            &self.lo,
            &self.hi,
        );
        if through_value > rank + 1 {
            return value;
        }
        let mut next: Option<T> = None;
        for (row, col) in self.above.iter().map(|col| col.get()).enumerate() {
            if col < n {
                let candidate = self.matrix.at(row, col);
                if next.is_none_or(|best| candidate < best) {
                    next = Some(candidate);
                }
            }
        }
        // rank + 1 exists, so some average is greater than `value`.
        next.unwrap_or(value)
    }
}

fn narrow_from_above<C: Column>(hi: &mut [C], lo: &[C], boundary: &[C]) {
    for ((hi, &lo), &bound) in hi.iter_mut().zip(lo).zip(boundary) {
        *hi = (*hi).min(bound).max(lo);
    }
}

fn narrow_from_below<C: Column>(lo: &mut [C], hi: &[C], boundary: &[C]) {
    for ((lo, &hi), &bound) in lo.iter_mut().zip(hi).zip(boundary) {
        *lo = (*lo).max(bound).min(hi);
    }
}

/// The median of the pair averages of `sorted` (ascending, finite, with at least one
/// pair): the middle one, or the midpoint of the two middle ones, as `numpy.median`.
pub(crate) fn median_of_pairs<T: Float>(sorted: &[T], pairs: Pairs) -> T {
    // Sorted, so the largest magnitude is at one end.
    let within_limit =
        |value: Option<&T>| value.is_some_and(|v| v.abs() <= T::PLAIN_MIDPOINT_LIMIT);
    let plain = within_limit(sorted.first()) && within_limit(sorted.last());
    let median = if sorted.len() <= super::short::SHORT_MAX {
        super::short::median_short(sorted, pairs, plain)
    } else if plain {
        median_with::<T, true>(sorted, pairs)
    } else {
        median_with::<T, false>(sorted, pairs)
    };
    // Zeros of both signs tie in the sort, so which one lands in the middle depends on
    // the input's order: a zero median is always `+0.0`.
    median.positive_zero()
}

fn median_with<T: Float, const PLAIN: bool>(sorted: &[T], pairs: Pairs) -> T {
    if u32::try_from(sorted.len()).is_ok() {
        median_in::<T, PLAIN, u32>(sorted, pairs)
    } else {
        median_in::<T, PLAIN, usize>(sorted, pairs)
    }
}

fn median_in<T: Float, const PLAIN: bool, C: Column>(sorted: &[T], pairs: Pairs) -> T {
    let count = pairs.count(sorted.len());
    let mut selection = Selection::<T, PLAIN, C>::new(sorted, pairs);
    let upper = count / 2;
    if count % 2 == 1 {
        return selection.select(upper).0;
    }
    let (lower, next) = selection.select(upper - 1);
    let next = next.unwrap_or_else(|| selection.next_after(upper - 1, lower));
    T::midpoint(lower, next)
}

#[cfg(test)]
mod tests {
    use super::{median_in, Pairs};

    #[test]
    fn wide_columns_give_the_narrow_ones_answer() {
        // Samples past u32::MAX values take `usize` columns: the same code on another
        // index type, checked here on a sample of a size a test can hold.
        let mut sample: Vec<f64> = (0..3_000_u32)
            .map(|i| f64::from(i.wrapping_mul(2_654_435_761) % 10_007) / 7.0)
            .collect();
        sample.sort_unstable_by(f64::total_cmp);
        for pairs in [Pairs::Distinct, Pairs::WithSelf] {
            assert_eq!(
                median_in::<f64, true, usize>(&sample, pairs).to_bits(),
                median_in::<f64, true, u32>(&sample, pairs).to_bits()
            );
        }
    }
}
