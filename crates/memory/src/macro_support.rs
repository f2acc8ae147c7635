//! What the `#[cache]` expansion calls and nothing else should: each argument becomes a
//! key part by the fastest route its type has. Slices and vectors of numbers are hashed
//! in bulk; everything else goes through serde. Both routes feed the same bytes, so a
//! key does not depend on the route.
//!
//! The route is chosen at compile time by autoref: `(&KeyArg(&x)).key_part()` finds
//! `ViaBulk::key_part` (on `KeyArg<T>` itself) before `ViaSerde::key_part` (on
//! `&KeyArg<T>`, one more reference away) whenever the bulk route exists for `T`.

use crate::hash::BulkNumber;
pub use crate::hash::{KeyFeeder, KeyPart, SerdePart, SlicePart};
use serde::Serialize;

/// What a function returning `Result` stores and fails with, for `#[cache]` to name
/// them whatever the alias (`io::Result<T>`, `anyhow::Result<T>`).
pub trait Fallible {
    /// What is stored.
    type Ok;
    /// What is returned, never stored.
    type Err;
}

impl<T, E> Fallible for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// An argument on its way to becoming a key part.
pub struct KeyArg<'a, T: ?Sized>(pub &'a T);

// By hand: the argument need not be `Debug`, and its value is not what a reader needs.
impl<T: ?Sized> std::fmt::Debug for KeyArg<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyArg<{}>", std::any::type_name::<T>())
    }
}

/// The general route: any `Serialize` argument.
pub trait ViaSerde<'a, T: ?Sized> {
    /// The argument as a key part.
    fn key_part(&self) -> SerdePart<'a, T>;
}

impl<'a, T: Serialize + ?Sized> ViaSerde<'a, T> for &KeyArg<'a, T> {
    fn key_part(&self) -> SerdePart<'a, T> {
        SerdePart(self.0)
    }
}

/// The bulk route: slices and vectors of numbers.
pub trait ViaBulk<'a, N> {
    /// The argument as a key part.
    fn key_part(&self) -> SlicePart<'a, N>;
}

impl<'a, N: BulkNumber> ViaBulk<'a, N> for KeyArg<'a, &[N]> {
    fn key_part(&self) -> SlicePart<'a, N> {
        SlicePart(self.0)
    }
}

impl<'a, N: BulkNumber> ViaBulk<'a, N> for KeyArg<'a, Vec<N>> {
    fn key_part(&self) -> SlicePart<'a, N> {
        SlicePart(self.0)
    }
}

impl<'a, N: BulkNumber> ViaBulk<'a, N> for KeyArg<'a, &Vec<N>> {
    fn key_part(&self) -> SlicePart<'a, N> {
        SlicePart(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_arguments, hash_parts};
    use proptest::prelude::*;

    // The borrows are the `#[cache]` expansion's own: they are what picks the route.
    #[allow(clippy::needless_borrow)]
    #[test]
    fn slices_and_vectors_of_numbers_take_the_bulk_route() {
        let floats = vec![1.5_f32, -0.0];
        let slice: &[f32] = &floats;
        let _: SlicePart<'_, f32> = (&KeyArg(&slice)).key_part();
        let _: SlicePart<'_, f32> = (&KeyArg(&floats)).key_part();
        let by_reference = &floats;
        let _: SlicePart<'_, f32> = (&KeyArg(&by_reference)).key_part();
        let integers = vec![7_u64];
        let _: SlicePart<'_, u64> = (&KeyArg(&integers)).key_part();
        // Everything else goes through serde.
        let _: SerdePart<'_, (u8, String)> = (&KeyArg(&(1_u8, String::new()))).key_part();
        let _: SerdePart<'_, Vec<u8>> = (&KeyArg(&vec![1_u8])).key_part();
    }

    /// A float from raw bits: every NaN payload, both zeros, subnormals, infinities.
    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(0.0),
            Just(-0.0),
        ]
    }

    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>().prop_map(f32::from_bits),
            Just(f32::NAN),
            Just(-0.0),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // The bulk route must give the key the serde route gives, or a call and
        // `check_call_in_cache` (which takes the tuple) would disagree.
        #[test]
        fn both_routes_hash_alike(
            doubles in prop::collection::vec(any_f64(), 0..2100),
            singles in prop::collection::vec(any_f32(), 0..2100),
            integers in prop::collection::vec(any::<i32>(), 0..2100),
            label in ".{0,8}",
        ) {
            let parts: [&dyn KeyPart; 4] = [
                &SlicePart(&doubles[..]),
                &SerdePart(&label),
                &SlicePart(&singles[..]),
                &SlicePart(&integers[..]),
            ];
            let by_parts = hash_parts(&parts).unwrap();
            let by_tuple = hash_arguments(&(&doubles, &label, &singles, &integers)).unwrap();
            prop_assert_eq!(by_parts, by_tuple);
        }
    }

    #[test]
    fn nan_payloads_hash_alike_and_zeros_apart_in_bulk() {
        let quiet = vec![f64::NAN; 2000];
        let payload = vec![f64::from_bits(0x7ff0_dead_beef_0001); 2000];
        let key = |values: &Vec<f64>| hash_parts(&[&SlicePart(&values[..])]).unwrap();
        assert_eq!(key(&quiet), key(&payload));
        assert_ne!(key(&vec![0.0; 2000]), key(&vec![-0.0; 2000]));
    }
}
