//! Keeping the values between two pivots: the one pass each round of the short-sample
//! selection makes over every average still in play. Branch-free in portable code; with
//! AVX2, eight `f32` (four `f64`) at a time, packed by a permutation looked up from the
//! comparison mask, as SIMD sorting and selection libraries do.

use super::band::Band;
use super::select::Pairs;

/// Copies the values of `values` in `low..=high` into `kept` (emptied first), in order,
/// and returns how many are below `low` and how many at or below `high`. The values are
/// finite (checked by the callers) and `low <= high`.
///
/// Sealed into [`Float`](crate::Float): its methods are the crate's own.
pub trait KeepBetween: Sized {
    /// As the trait says.
    fn keep_between(values: &[Self], low: Self, high: Self, kept: &mut Vec<Self>)
        -> (usize, usize);

    /// Whether [`band_of_half_sums`](Self::band_of_half_sums) has a form on this
    /// processor: where it has none, its pivots need not be drawn.
    fn counts_half_sums() -> bool;

    /// Counted rounds over the half sums `(a + b) * 0.5` (the type's own arithmetic) of
    /// the `pairs` of the sorted `sorted`, from pivots `low <= high` around rank `rank`,
    /// and the few averages they leave (`band.rs`). `None` where there is no such form,
    /// or where the pivots remove nothing. The values are finite, and so are their half
    /// sums.
    fn band_of_half_sums(
        sorted: &[Self],
        pairs: Pairs,
        rank: usize,
        low: Self,
        high: Self,
    ) -> Option<Band<Self>>;
}

impl KeepBetween for f32 {
    fn keep_between(values: &[f32], low: f32, high: f32, kept: &mut Vec<f32>) -> (usize, usize) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the processor has AVX2 and POPCNT, checked just above.
            return unsafe { avx2::keep_between_f32(values, low, high, kept) };
        }
        portable(values, low, high, kept)
    }

    fn counts_half_sums() -> bool {
        #[cfg(target_arch = "x86_64")]
        return has_avx2();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    fn band_of_half_sums(
        sorted: &[f32],
        pairs: Pairs,
        rank: usize,
        low: f32,
        high: f32,
    ) -> Option<Band<f32>> {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the processor has AVX2, checked just above; the values are finite,
            // as this trait's callers check.
            return unsafe { super::band::avx2::band_of_half_sums(sorted, pairs, rank, low, high) };
        }
        let _ = (sorted, pairs, rank, low, high);
        None
    }
}

/// Whether the processor has what the `avx2` forms need.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
}

impl KeepBetween for f64 {
    fn keep_between(values: &[f64], low: f64, high: f64, kept: &mut Vec<f64>) -> (usize, usize) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the processor has AVX2 and POPCNT, checked just above.
            return unsafe { avx2::keep_between_f64(values, low, high, kept) };
        }
        portable(values, low, high, kept)
    }

    fn counts_half_sums() -> bool {
        false
    }

    fn band_of_half_sums(
        _sorted: &[f64],
        _pairs: Pairs,
        _rank: usize,
        _low: f64,
        _high: f64,
    ) -> Option<Band<f64>> {
        None
    }
}

/// Each value is written, and the write position advances only past kept ones.
fn portable<T: Copy + PartialOrd + Default>(
    values: &[T],
    low: T,
    high: T,
    kept: &mut Vec<T>,
) -> (usize, usize) {
    kept.clear();
    kept.resize(values.len(), T::default());
    let mut below = 0;
    let mut through = 0;
    for &value in values {
        kept[through - below] = value;
        below += usize::from(value < low);
        through += usize::from(value <= high);
    }
    kept.truncate(through - below);
    (below, through)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_castpd_ps, _mm256_cmp_pd, _mm256_cmp_ps, _mm256_loadu_pd,
        _mm256_loadu_ps, _mm256_loadu_si256, _mm256_movemask_pd, _mm256_movemask_ps,
        _mm256_permutevar8x32_ps, _mm256_set1_pd, _mm256_set1_ps, _mm256_storeu_ps, _CMP_LE_OQ,
        _CMP_LT_OQ,
    };

    /// For each mask of eight lanes, the lanes to move to the front, in order.
    static PACK_8: [[u32; 8]; 256] = pack_table::<256>(1);
    /// The same for four 64-bit lanes, each as its two 32-bit halves.
    static PACK_4: [[u32; 8]; 16] = pack_table::<16>(2);

    /// A row of a permutation table as a vector.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn order_of(row: &[u32; 8]) -> __m256i {
        // `loadu` reads unaligned memory: the row's alignment of 4 is enough.
        #[allow(clippy::cast_ptr_alignment)]
        let start = row.as_ptr().cast::<__m256i>();
        // SAFETY: `start` points at eight u32s, the 32 bytes read.
        unsafe { _mm256_loadu_si256(start) }
    }

    /// The permutations that move the lanes set in each mask to the front: lanes of
    /// `width` 32-bit words.
    const fn pack_table<const MASKS: usize>(width: usize) -> [[u32; 8]; MASKS] {
        let mut table = [[0_u32; 8]; MASKS];
        let lanes = 8 / width;
        let mut mask = 0;
        while mask < MASKS {
            let mut out = 0;
            let mut lane = 0;
            while lane < lanes {
                if mask & (1 << lane) != 0 {
                    let mut word = 0;
                    while word < width {
                        // Lane numbers are below 8: the cast is exact.
                        #[allow(clippy::cast_possible_truncation)]
                        let index = (lane * width + word) as u32;
                        table[mask][out * width + word] = index;
                        word += 1;
                    }
                    out += 1;
                }
                lane += 1;
            }
            mask += 1;
        }
        table
    }

    /// Where the kept values go: each block's kept lanes are stored, packed, at the
    /// write position, which only kept values advance; what lands past it is
    /// overwritten by the next block or cut off at the end.
    struct Packer<T> {
        out: *mut T,
        below: usize,
        through: usize,
    }

    impl<T: Copy + PartialOrd> Packer<T> {
        /// A packer into `kept`, emptied, with room for `count` values and a block more.
        fn new(kept: &mut Vec<T>, count: usize) -> Self {
            kept.clear();
            kept.reserve(count + 8);
            Packer {
                out: kept.as_mut_ptr(),
                below: 0,
                through: 0,
            }
        }

        /// Stores the lanes of a block that `keep` (a row of a permutation table) moves
        /// to the front, and counts the block's lanes below the low pivot and at or
        /// below the high one.
        ///
        /// # Safety
        /// At most `count` values (as given to [`new`](Self::new)) are kept in all, so
        /// the 32 bytes stored at the write position fit the reserved room.
        #[inline]
        #[target_feature(enable = "avx2,popcnt")]
        unsafe fn block(&mut self, lanes: __m256, under: u32, at_or_under: u32, keep: &[u32; 8]) {
            let packed = _mm256_permutevar8x32_ps(lanes, order_of(keep));
            // SAFETY: by this function's contract the write position is at most `count`,
            // and the vector has room for `count` values and 32 bytes more.
            unsafe {
                _mm256_storeu_ps(
                    self.out.add(self.through - self.below).cast::<f32>(),
                    packed,
                );
            };
            self.below += under.count_ones() as usize;
            self.through += at_or_under.count_ones() as usize;
        }

        /// One value, outside the blocks.
        ///
        /// # Safety
        /// As [`block`](Self::block).
        #[inline]
        unsafe fn one(&mut self, value: T, low: T, high: T) {
            // SAFETY: as in `block`, one value at the write position.
            unsafe { self.out.add(self.through - self.below).write(value) };
            self.below += usize::from(value < low);
            self.through += usize::from(value <= high);
        }

        /// The counts, with `kept` cut to the values kept.
        fn finish(self, kept: &mut Vec<T>) -> (usize, usize) {
            // SAFETY: the first `through - below` values were written: each kept value
            // was stored at its position before the position moved past it.
            unsafe { kept.set_len(self.through - self.below) };
            (self.below, self.through)
        }
    }

    /// The masks of the lanes below `lows` and at or below `highs`, as bits.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn masks_ps(lanes: __m256, lows: __m256, highs: __m256) -> (u32, u32) {
        let under = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(lanes, lows));
        let at_or_under = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(lanes, highs));
        // The masks are eight bits: the casts are exact.
        #[allow(clippy::cast_sign_loss)]
        let masks = (under as u32, at_or_under as u32);
        masks
    }

    /// [`KeepBetween::keep_between`](super::KeepBetween::keep_between) for `f32`.
    ///
    /// # Safety
    /// The processor must support AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn keep_between_f32(
        values: &[f32],
        low: f32,
        high: f32,
        kept: &mut Vec<f32>,
    ) -> (usize, usize) {
        let mut packer = Packer::new(kept, values.len());
        let (lows, highs) = (_mm256_set1_ps(low), _mm256_set1_ps(high));
        let blocks = values.chunks_exact(8);
        let tail = blocks.remainder();
        for block in blocks {
            // SAFETY: `block` holds eight f32s; the load is unaligned.
            let lanes = unsafe { _mm256_loadu_ps(block.as_ptr()) };
            let (under, at_or_under) = masks_ps(lanes, lows, highs);
            let keep = &PACK_8[(at_or_under & !under) as usize];
            // SAFETY: at most `values.len()` values are kept.
            unsafe { packer.block(lanes, under, at_or_under, keep) };
        }
        for &value in tail {
            // SAFETY: as above.
            unsafe { packer.one(value, low, high) };
        }
        packer.finish(kept)
    }

    /// [`KeepBetween::keep_between`](super::KeepBetween::keep_between) for `f64`.
    ///
    /// # Safety
    /// The processor must support AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn keep_between_f64(
        values: &[f64],
        low: f64,
        high: f64,
        kept: &mut Vec<f64>,
    ) -> (usize, usize) {
        let mut packer = Packer::new(kept, values.len());
        let (lows, highs) = (_mm256_set1_pd(low), _mm256_set1_pd(high));
        let blocks = values.chunks_exact(4);
        let tail = blocks.remainder();
        for block in blocks {
            // SAFETY: `block` holds four f64s; the load is unaligned.
            let lanes = unsafe { _mm256_loadu_pd(block.as_ptr()) };
            let under = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(lanes, lows));
            let at_or_under = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(lanes, highs));
            // The masks are four bits: the casts are exact.
            #[allow(clippy::cast_sign_loss)]
            let (under, at_or_under) = (under as u32, at_or_under as u32);
            let keep = &PACK_4[(at_or_under & !under) as usize];
            // SAFETY: at most `values.len()` values are kept.
            unsafe { packer.block(_mm256_castpd_ps(lanes), under, at_or_under, keep) };
        }
        for &value in tail {
            // SAFETY: as above.
            unsafe { packer.one(value, low, high) };
        }
        packer.finish(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::{portable, KeepBetween};

    fn check<T: KeepBetween + Copy + PartialOrd + Default + std::fmt::Debug>(
        values: &[T],
        low: T,
        high: T,
    ) {
        let (mut fast, mut plain) = (Vec::new(), Vec::new());
        let counts = T::keep_between(values, low, high, &mut fast);
        assert_eq!(counts, portable(values, low, high, &mut plain));
        assert_eq!(fast, plain);
        let expected: Vec<T> = values
            .iter()
            .copied()
            .filter(|v| low <= *v && *v <= high)
            .collect();
        assert_eq!(fast, expected);
    }

    #[test]
    fn keeps_the_values_between_in_order_for_every_mask() {
        // Every length up to three blocks and every pattern of eight: all masks occur.
        for len in 0..27 {
            for pattern in 0..256_u32 {
                let values: Vec<f32> = (0..len)
                    .map(|i| f32::from(u8::from(pattern >> (i % 8) & 1 == 1)) + i as f32 * 0.0)
                    .collect();
                check(&values, 1.0, 1.0);
                check(&values, 0.0, 0.5);
                let wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
                check(&wide, 1.0, 1.0);
                check(&wide, -1.0, 0.0);
            }
        }
        let ramp: Vec<f64> = (0..1000).map(|i| f64::from(i) / 7.0).collect();
        check(&ramp, 10.0, 99.5);
        let ramp32: Vec<f32> = (0..1000_u16).map(|i| f32::from(i) / 7.0).collect();
        check(&ramp32, -0.0, 0.0);
        check(&ramp32, 142.0, 1e9);
    }
}
