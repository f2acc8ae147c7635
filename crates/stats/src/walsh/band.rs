//! Counted rounds over the half sums of a short sorted sample, before any average is
//! written: what the short-sample route spent most of its time on otherwise.
//!
//! Row `i` of the averages is sorted, so the averages of a row between two pivots are a
//! run of its columns, and a round only needs, per row, where that run starts and ends:
//! two counts. Eight columns at a time, each average is computed, compared with both
//! pivots, and added to two vector counters; nothing is stored, no lane is packed. The
//! first round counts each row up to where the previous row went above the high pivot
//! (the columns are sorted too); the next ones count only inside each row's run, against
//! pivots interpolated in the bracket the last round kept, and only on the rows whose
//! runs are not empty; once a few hundred are left they are written out, row run after
//! row run, for the flat rounds of `short.rs`.
//!
//! Counting instead of packing: per block of eight, seven vector operations and no
//! table lookup, store or population count. A Walsh median of 100 `f32` took 48 200
//! instructions with a packing first round, 21 300 with these (the sort of the row in
//! registers, `small_sort.rs`, included).

/// The averages the counted rounds leave in play, for the flat selection to finish.
#[derive(Debug)]
pub struct Band<T> {
    /// The averages in play, in no particular order.
    pub values: Vec<T>,
    /// The wanted rank's place among them.
    pub rank: usize,
    /// Every value lies in `low..=high`.
    pub low: T,
    /// See `low`.
    pub high: T,
    /// Per row, where its run ended: past it, the row's averages are above `high`.
    pub ends: [u8; crate::walsh::short::SHORT_MAX],
}

impl<T: crate::Float> Band<T> {
    /// The least average above all of `values`, if any: the least at a row's end.
    pub fn least_above(&self, sorted: &[T]) -> Option<T> {
        sorted
            .iter()
            .zip(&self.ends)
            .filter_map(|(&x, &end)| sorted.get(usize::from(end)).map(|&y| T::half_sum(x, y)))
            .min_by(T::cmp_finite)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::Band;
    use crate::walsh::select::Pairs;
    use crate::walsh::short::SHORT_MAX;
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_add_ps, _mm256_castps_si256, _mm256_castsi256_si128, _mm256_cmp_ps,
        _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_set1_ps, _mm256_setzero_si256, _mm256_storeu_ps, _mm256_sub_epi32, _mm_add_epi32,
        _mm_cvtsi128_si32, _mm_extract_epi32, _mm_hadd_epi32, _CMP_LE_OQ, _CMP_LT_OQ,
    };

    /// Per row, a column: where a run of its averages starts or ends.
    type Columns = [u8; SHORT_MAX];

    /// Each row's own index: where a row's pairs with itself lie.
    #[allow(clippy::cast_possible_truncation)] // SHORT_MAX fits a u8
    const ROWS: Columns = {
        let mut rows = [0; SHORT_MAX];
        let mut row = 0;
        while row < SHORT_MAX {
            rows[row] = row as u8;
            row += 1;
        }
        rows
    };

    /// The sorted sample followed by a block of `+inf`, so that the lanes of a block
    /// past a row's end hold averages above every pivot and count for nothing.
    struct Padded {
        values: [f32; SHORT_MAX + 8],
    }

    impl Padded {
        fn new(sorted: &[f32]) -> Self {
            let mut values = [f32::INFINITY; SHORT_MAX + 8];
            values[..sorted.len()].copy_from_slice(sorted);
            Padded { values }
        }

        /// The eight averages of `x` with the values from `column` on.
        ///
        /// # Safety
        /// `column <= SHORT_MAX`; the processor has AVX2.
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn averages(&self, x: __m256, column: usize) -> __m256 {
            debug_assert!(column <= SHORT_MAX);
            // SAFETY: `column + 8 <= SHORT_MAX + 8` values are there; the load is
            // unaligned.
            let ys = unsafe { _mm256_loadu_ps(self.values.as_ptr().add(column)) };
            _mm256_mul_ps(_mm256_add_ps(x, ys), _mm256_set1_ps(0.5))
        }
    }

    /// Counts of one row's run against two pivots: how many below `low`, how many at
    /// or below `high`.
    #[derive(Clone, Copy)]
    struct Pivots {
        lows: __m256,
        highs: __m256,
    }

    impl Pivots {
        #[target_feature(enable = "avx2")]
        fn new(low: f32, high: f32) -> Self {
            Pivots {
                lows: _mm256_set1_ps(low),
                highs: _mm256_set1_ps(high),
            }
        }

        /// How many of the averages of `x` from column `from`, in blocks of eight up to
        /// `until`, are below the low pivot and at or below the high one. The lanes past
        /// `until` must be above the high pivot.
        ///
        /// # Safety
        /// `until <= SHORT_MAX`; the processor has AVX2.
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn count(
            self,
            padded: &Padded,
            x: f32,
            from: usize,
            until: usize,
        ) -> (usize, usize) {
            let xs = _mm256_set1_ps(x);
            let (mut under, mut through) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut column = from;
            while column < until {
                // SAFETY: `column < until <= SHORT_MAX`.
                let averages = unsafe { padded.averages(xs, column) };
                // A true comparison is all ones: -1 as an integer lane.
                under = _mm256_sub_epi32(
                    under,
                    mask(_mm256_cmp_ps::<_CMP_LT_OQ>(averages, self.lows)),
                );
                through = _mm256_sub_epi32(
                    through,
                    mask(_mm256_cmp_ps::<_CMP_LE_OQ>(averages, self.highs)),
                );
                column += 8;
            }
            sums(under, through)
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn mask(compared: __m256) -> __m256i {
        _mm256_castps_si256(compared)
    }

    /// The sums of the lanes of two counters.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sums(under: __m256i, through: __m256i) -> (usize, usize) {
        // [u01 u23 t01 t23 | u45 u67 t45 t67], then the halves added, then once more.
        let pairs = _mm256_hadd_epi32(under, through);
        let quads = _mm_add_epi32(
            _mm256_castsi256_si128(pairs),
            _mm256_extracti128_si256::<1>(pairs),
        );
        let totals = _mm_hadd_epi32(quads, quads);
        // Counts of at most SHORT_MAX lanes: small and non-negative.
        #[allow(clippy::cast_sign_loss)]
        let counts = (
            _mm_cvtsi128_si32(totals) as usize,
            _mm_extract_epi32::<1>(totals) as usize,
        );
        counts
    }

    /// The averages still in play: a run of columns per row, all in `low..=high`, and
    /// the rank's place among them. Past the end of a run, a row's averages are above
    /// `high` (the counts rely on it), which is why a run cut at a pivot from above ends
    /// its bracket just below that pivot.
    #[derive(Clone, Copy)]
    struct Runs {
        starts: Columns,
        ends: Columns,
        /// The rows whose runs are not empty lie in `rows.0..rows.1`.
        rows: (usize, usize),
        rank: usize,
        count: usize,
        low: f32,
        high: f32,
    }

    impl Runs {
        /// `rows` cut to the first and last row whose run is not empty.
        fn trim(&mut self) {
            let (mut first, mut end) = self.rows;
            while first < end && self.starts[first] == self.ends[first] {
                first += 1;
            }
            while end > first && self.starts[end - 1] == self.ends[end - 1] {
                end -= 1;
            }
            self.rows = (first, end);
        }

        /// Every pair of `sorted`: each row's run is the whole row, between the least
        /// average (the first pair) and the greatest (the last).
        fn whole(sorted: &[f32], pairs: Pairs, rank: usize) -> Option<Self> {
            let n = sorted.len();
            let first_column = pairs.row_start(0);
            let (last, shift) = (u8::try_from(n).ok()?, u8::try_from(first_column).ok()?);
            // Row `row` starts at `row + first_column`, or at `n` past the last pair: one
            // pass of byte additions, which stays in vectors (a `from_fn` over
            // `row_start` cost 900 instructions a median).
            let mut starts = ROWS;
            for start in &mut starts {
                *start = start.saturating_add(shift).min(last);
            }
            Some(Runs {
                starts,
                ends: [last; SHORT_MAX],
                rows: (0, n),
                rank,
                count: pairs.count(n),
                low: (sorted[0] + sorted[first_column]) * 0.5,
                high: (sorted[n - 1 - first_column] + sorted[n - 1]) * 0.5,
            })
        }

        /// Keeps what a round counted inside these runs against pivots `low <= high`
        /// leaves: the runs between the pivots, or where the rank lies outside them, the
        /// side that holds it, up to the pivot. Past the runs' ends the averages are then
        /// `low` or more, so a bracket cut from above ends just below `low`.
        // Measured (callgrind, a Walsh median of 100): called, not inlined, it cost 170
        // instructions more a median, and 370 more taking and returning the runs by value.
        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn keep_side_holding_rank(&mut self, round: &Round, low: f32, high: f32) {
            if self.rank < round.below {
                self.ends = round.starts;
                self.count = round.below;
                self.high = low.next_down();
            } else if self.rank >= round.through {
                self.starts = round.ends;
                self.rank -= round.through;
                self.count -= round.through;
                self.low = high;
            } else {
                self.starts = round.starts;
                self.ends = round.ends;
                self.rank -= round.below;
                self.count = round.through - round.below;
                (self.low, self.high) = (low, high);
            }
            self.trim();
        }
    }

    /// At most this many averages in play are written out for the flat rounds: another
    /// counted round costs about as much as selecting among them.
    const GATHER_UP_TO: usize = 256;

    /// The runs of each row between two pivots and what the counts say of the rank.
    struct Round {
        /// Per row, the first column at or above the low pivot.
        starts: Columns,
        /// Per row, the first column above the high pivot.
        ends: Columns,
        below: usize,
        through: usize,
    }

    /// Narrows the half sums `(a + b) * 0.5` of the pairs of `sorted` (row `i` pairing
    /// value `i` with those from `pairs.row_start(i)` on) to the few around rank `rank`,
    /// starting from pivots `low <= high` that should bracket it (where they do not, the
    /// side that holds the rank goes on). `None` when they remove nothing (ties): the
    /// caller then takes the route that handles any pivots.
    ///
    /// # Safety
    /// The processor must support AVX2. `sorted` holds at most `SHORT_MAX` finite values
    /// whose half sums are finite.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn band_of_half_sums(
        sorted: &[f32],
        pairs: Pairs,
        rank: usize,
        low: f32,
        high: f32,
    ) -> Option<Band<f32>> {
        let n = sorted.len();
        if n > SHORT_MAX || low > high {
            return None;
        }
        let padded = Padded::new(sorted);
        // SAFETY: the processor has AVX2, as this function's contract says.
        let first = unsafe { first_round(&padded, sorted, pairs, low, high) };
        let total = pairs.count(n);
        if first.through - first.below == total {
            return None;
        }
        let mut runs = Runs::whole(sorted, pairs, rank)?;
        runs.keep_side_holding_rank(&first, low, high);
        // SAFETY: as above.
        let runs = unsafe { narrow(&padded, sorted, runs) };
        // SAFETY: each run lies within its row.
        Some(unsafe { gather(&padded, sorted, &runs) })
    }

    /// The first round: each row's run between `low` and `high`, counted up to where
    /// the previous row went above `high` (a row's averages above it start at or before
    /// where the previous row's did: its values are smaller).
    ///
    /// # Safety
    /// The processor must support AVX2; `sorted` holds at most `SHORT_MAX` values.
    #[target_feature(enable = "avx2")]
    unsafe fn first_round(
        padded: &Padded,
        sorted: &[f32],
        pairs: Pairs,
        low: f32,
        high: f32,
    ) -> Round {
        let n = sorted.len();
        let pivots = Pivots::new(low, high);
        let mut first = Round::new();
        let mut above_from = n;
        for (row, &x) in sorted.iter().enumerate() {
            let start = pairs.row_start(row).min(n);
            // SAFETY: `above_from <= n <= SHORT_MAX`; past it, averages are above `high`.
            let (under, through) = unsafe { pivots.count(padded, x, start, above_from) };
            first.record(row, start, under, through);
            above_from = start + through;
        }
        first
    }

    /// Interpolated rounds inside the runs, while they leave many and pay.
    ///
    /// # Safety
    /// The processor must support AVX2; the runs lie within the rows of `sorted`.
    #[target_feature(enable = "avx2")]
    unsafe fn narrow(padded: &Padded, sorted: &[f32], mut runs: Runs) -> Runs {
        while runs.count > GATHER_UP_TO {
            let Some((low, high)) =
                crate::walsh::short::interpolate(runs.rank, runs.count, runs.low, runs.high)
            else {
                break;
            };
            let pivots = Pivots::new(low, high);
            // Rows outside the active ones keep empty runs.
            let mut next = Round {
                starts: runs.starts,
                ends: runs.starts,
                below: 0,
                through: 0,
            };
            let (first, end) = runs.rows;
            for (row, &x) in (first..end).zip(&sorted[first..end]) {
                let (start, end) = (usize::from(runs.starts[row]), usize::from(runs.ends[row]));
                // SAFETY: `end <= n`; past it, averages are above `runs.high >= high`.
                let (under, through) = unsafe { pivots.count(padded, x, start, end) };
                next.record(row, start, under, through);
            }
            let before = runs.count;
            runs.keep_side_holding_rank(&next, low, high);
            // A round that keeps more than half says the values are far from uniform
            // (ties, gaps): the flat rounds with sampled pivots do better there.
            if runs.count > before / 2 {
                break;
            }
        }
        runs
    }

    impl Round {
        fn new() -> Self {
            Round {
                starts: [0; SHORT_MAX],
                ends: [0; SHORT_MAX],
                below: 0,
                through: 0,
            }
        }

        fn record(&mut self, row: usize, start: usize, under: usize, through: usize) {
            // Columns are below SHORT_MAX, which fits a u8.
            #[allow(clippy::cast_possible_truncation)]
            {
                self.starts[row] = (start + under) as u8;
                self.ends[row] = (start + through) as u8;
            }
            self.below += under;
            self.through += through;
        }
    }

    /// The averages of each row from `runs.starts[row]` up to `runs.ends[row]`, with
    /// the rank's place among them, the bracket they lie in, and where each run ended.
    ///
    /// # Safety
    /// The processor must support AVX2; `starts[row] <= ends[row] <= sorted.len()`.
    #[target_feature(enable = "avx2")]
    unsafe fn gather(padded: &Padded, sorted: &[f32], runs: &Runs) -> Band<f32> {
        let count: usize = (0..sorted.len())
            .map(|row| usize::from(runs.ends[row]) - usize::from(runs.starts[row]))
            .sum();
        let mut values: Vec<f32> = Vec::with_capacity(count + 8);
        let out = values.as_mut_ptr();
        let mut written = 0;
        let (first, end) = runs.rows;
        for (row, &x) in (first..end).zip(&sorted[first..end]) {
            let xs = _mm256_set1_ps(x);
            let (mut column, end) = (usize::from(runs.starts[row]), usize::from(runs.ends[row]));
            while column < end {
                // SAFETY: `column < end <= SHORT_MAX`.
                let averages = unsafe { padded.averages(xs, column) };
                // SAFETY: `written + (end - column) <= count`, and eight lanes fit in
                // the room of `count + 8`.
                unsafe { _mm256_storeu_ps(out.add(written), averages) };
                written += (end - column).min(8);
                column += 8;
            }
        }
        // SAFETY: the first `written` values were stored just above, and `written` is at
        // most `count`, the room.
        unsafe { values.set_len(written.min(count)) };
        Band {
            values,
            rank: runs.rank,
            low: runs.low,
            high: runs.high,
            ends: runs.ends,
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::avx2::band_of_half_sums;
    use crate::walsh::select::Pairs;

    fn half_sums(sorted: &[f32], pairs: Pairs) -> Vec<f32> {
        let (n, first_column) = (sorted.len(), pairs.row_start(0));
        let mut all: Vec<f32> = (0..n)
            .flat_map(|i| (i + first_column..n).map(move |j| (sorted[i] + sorted[j]) * 0.5))
            .collect();
        all.sort_unstable_by(f32::total_cmp);
        all
    }

    #[test]
    fn the_band_holds_the_rank() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for n in [2_usize, 3, 8, 9, 17, 40, 100, 160] {
            for seed in 0..20_u64 {
                // Values by eighths (ties) or spread out.
                let mut sorted: Vec<f32> = crate::test_data::draws(seed * 1000 + n as u64)
                    .take(n)
                    .map(|draw| {
                        let small = u16::try_from(draw >> 57).unwrap_or(0);
                        if seed % 2 == 0 {
                            f32::from(small) / 8.0
                        } else {
                            (draw >> 40) as f32 / 1e6
                        }
                    })
                    .collect();
                sorted.sort_unstable_by(f32::total_cmp);
                for pairs in [Pairs::WithSelf, Pairs::Distinct] {
                    let all = half_sums(&sorted, pairs);
                    if all.is_empty() {
                        continue;
                    }
                    let rank = (all.len() - 1) / 2;
                    let last = all.len() - 1;
                    // Around the rank, and wholly below or above it.
                    let brackets = [0, 1, all.len() / 8, all.len() / 3]
                        .map(|spread| (rank.saturating_sub(spread), (rank + spread).min(last)))
                        .into_iter()
                        .chain([
                            (rank / 4, rank / 2),
                            (usize::midpoint(rank, last), last),
                            (0, 0),
                        ]);
                    for (from, to) in brackets {
                        let (low, high, spread) = (all[from], all[to], to - from);
                        // SAFETY: AVX2 checked above; at most 160 finite values.
                        let Some(band) =
                            (unsafe { band_of_half_sums(&sorted, pairs, rank, low, high) })
                        else {
                            continue;
                        };
                        let mut values = band.values.clone();
                        values.sort_unstable_by(f32::total_cmp);
                        assert_eq!(values[band.rank], all[rank], "{n} {seed} {spread}");
                        assert!(values.iter().all(|v| band.low <= *v && *v <= band.high));
                        let above = band.least_above(&sorted).unwrap_or(f32::INFINITY);
                        let expected = all.iter().copied().find(|v| *v > values[values.len() - 1]);
                        assert_eq!(
                            above,
                            expected.unwrap_or(f32::INFINITY),
                            "{n} {seed} {spread}"
                        );
                    }
                }
            }
        }
    }
}
