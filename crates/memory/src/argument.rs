//! What the typed handle of a `#[cache]` function accepts for a parameter: the value, or
//! a borrow of it, hashed as the value would be.

use serde::Serialize;

/// A value that stands for an argument of type `T` of a cached function: `T` itself, a
/// borrow of it (`&T`), or the borrowed form of an owned buffer (`&[E]` or `&[E; N]` for
/// `Vec<E>`, `&str` for `String`), or what coerces to a borrowed parameter (`&Vec<E>` or
/// `&[E; N]` for `&[E]`, `&String` for `&str`). Its key is hashed exactly as `T`'s
/// would be, so a borrowed argument finds the entry of the owned one.
///
/// The handle `name::cache()` of a `#[cache]` function takes its keyed parameters as
/// `impl Argument<T>`: asking whether a call is cached needs no clone of a large sample,
/// and existing calls with owned values keep compiling. A borrowed value is cloned only
/// when a computation needs the owned one ([`into_argument`](Self::into_argument)).
///
/// ```
/// use parmemo_memory::Argument;
/// fn hashed_as_vec(sample: impl Argument<Vec<f32>>) -> Vec<f32> {
///     sample.into_argument()
/// }
/// let owned = vec![1.5_f32, 2.5];
/// assert_eq!(hashed_as_vec(&owned[..]), owned); // a slice
/// assert_eq!(hashed_as_vec(&owned), owned); // a reference
/// assert_eq!(hashed_as_vec(owned.clone()), owned); // the value
/// ```
pub trait Argument<T> {
    /// What is hashed: serializes exactly as `T` does.
    type Key: Serialize + ?Sized;

    /// The value to hash.
    fn key(&self) -> &Self::Key;

    /// The argument itself, for the computation: moved when owned, cloned when borrowed.
    fn into_argument(self) -> T;
}

impl<T: Serialize> Argument<T> for T {
    type Key = T;
    fn key(&self) -> &T {
        self
    }
    fn into_argument(self) -> T {
        self
    }
}

impl<T: Serialize + Clone> Argument<T> for &T {
    type Key = T;
    fn key(&self) -> &T {
        self
    }
    fn into_argument(self) -> T {
        self.clone()
    }
}

impl<E: Serialize + Clone> Argument<Vec<E>> for &[E] {
    type Key = [E];
    fn key(&self) -> &[E] {
        self
    }
    fn into_argument(self) -> Vec<E> {
        self.to_vec()
    }
}

impl<E: Serialize + Clone, const N: usize> Argument<Vec<E>> for &[E; N] {
    type Key = [E];
    fn key(&self) -> &[E] {
        &self[..]
    }
    fn into_argument(self) -> Vec<E> {
        self.to_vec()
    }
}

impl Argument<String> for &str {
    type Key = str;
    fn key(&self) -> &str {
        self
    }
    fn into_argument(self) -> String {
        self.to_owned()
    }
}

impl<'a, E: Serialize> Argument<&'a [E]> for &'a Vec<E> {
    type Key = [E];
    fn key(&self) -> &[E] {
        self
    }
    fn into_argument(self) -> &'a [E] {
        self
    }
}

impl<'a, E: Serialize, const N: usize> Argument<&'a [E]> for &'a [E; N] {
    type Key = [E];
    fn key(&self) -> &[E] {
        &self[..]
    }
    fn into_argument(self) -> &'a [E] {
        self
    }
}

impl<'a> Argument<&'a str> for &'a String {
    type Key = str;
    fn key(&self) -> &str {
        self
    }
    fn into_argument(self) -> &'a str {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FunctionId;

    fn key_of<T, A: Argument<T>>(argument: &A) -> crate::Key {
        FunctionId::new("t", "f", 1)
            .key(&(argument.key(),))
            .unwrap()
    }

    #[test]
    fn a_borrow_hashes_as_the_owned_value() {
        let owned = vec![0.25_f64, -0.0, f64::NAN];
        let expected = key_of::<Vec<f64>, _>(&owned.clone());
        assert_eq!(key_of::<Vec<f64>, _>(&&owned[..]), expected);
        assert_eq!(key_of::<Vec<f64>, _>(&&owned), expected);
        let text = String::from("mean");
        let expected = key_of::<String, _>(&text.clone());
        assert_eq!(key_of::<String, _>(&"mean"), expected);
        assert_eq!(key_of::<&str, _>(&&text), expected);
        let array = [1_u32, 2, 3];
        assert_eq!(
            key_of::<Vec<u32>, _>(&&array),
            key_of::<Vec<u32>, _>(&array.to_vec())
        );
    }
}
