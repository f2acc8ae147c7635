//! The numbers a [`Shared`](crate::Shared) array can hold: plain values whose bytes are
//! the whole of them, so that an array can be viewed, sent and stored as raw bytes.

mod sealed {
    pub trait Sealed {}
}

/// A number type whose arrays can be shared as raw memory: `f32`, `f64` and the
/// integers of 8 to 64 bits. Sealed, since [`Shared`](crate::Shared) views foreign bytes
/// as these types, which is sound only for types where every bit pattern is a value.
///
/// ```
/// use parmemo_shared::Element;
/// assert_eq!(<f64 as Element>::NAME, "f64");
/// ```
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static
{
    /// The type's name, checked when an array is read back, so that the bytes of a
    /// `Shared<[f32]>` never come back as a `Shared<[u32]>`.
    const NAME: &'static str;
}

macro_rules! elements {
    ($($t:ty),*) => {
        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const NAME: &'static str = stringify!($t);
            }
        )*
    };
}

elements!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
