//! The `Shared` array: an immutable, cheaply cloned handle on memory that other threads
//! and processes can read without a copy.

use crate::element::Element;
use crate::region::Region;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

/// An immutable array shared without copies: cloning it is an `Arc` clone, threads read
/// the same memory, and a worker process receives it as a read-only mapping of the same
/// memory (a sealed memfd on Linux), whatever its size and however many tasks read it.
/// joblib gets there by dumping large numpy arrays to files its workers map; here the
/// memory has no name and needs no file: it is freed when the last handle in any process
/// is dropped, even if the parent is killed.
///
/// `T` is a slice of numbers, `[f64]`, `[f32]` or an integer type (see [`Element`]).
///
/// ```
/// use parmemo_shared::Shared;
///
/// let data: Shared<[f64]> = Shared::from(vec![1.0, 2.0, 3.0]);
/// let view = data.clone(); // no copy
/// assert_eq!(view.iter().sum::<f64>(), 6.0);
/// assert_eq!(&data[..], &[1.0, 2.0, 3.0]);
/// ```
pub struct Shared<T: ?Sized> {
    region: Arc<Region>,
    len: usize,
    _elements: PhantomData<T>,
}

impl<E: Element> Shared<[E]> {
    /// An array of `len` elements written once, in place, by `fill` (no copy afterwards:
    /// the fastest way to make a large one).
    ///
    /// ```
    /// use parmemo_shared::Shared;
    /// let squares = Shared::<[u64]>::write_with(5, |out| {
    ///     for (i, x) in out.iter_mut().enumerate() {
    ///         *x = (i * i) as u64;
    ///     }
    /// });
    /// assert_eq!(&squares[..], &[0, 1, 4, 9, 16]);
    /// ```
    ///
    /// # Panics
    /// When `len` elements take more bytes than `usize` counts.
    pub fn write_with(len: usize, fill: impl FnOnce(&mut [E])) -> Self {
        let bytes = len
            .checked_mul(size_of::<E>())
            .expect("the array's size in bytes overflows usize");
        let region = Region::filled(bytes, |raw| {
            // SAFETY: the region is aligned for any element (a page, or a `u64` buffer)
            // and holds `len * size_of::<E>()` initialized bytes, which are valid `E`s
            // whatever their bits (`Element` is sealed to plain number types).
            let elements =
                unsafe { std::slice::from_raw_parts_mut(raw.as_mut_ptr().cast::<E>(), len) };
            fill(elements);
        });
        Shared {
            region: Arc::new(region),
            len,
            _elements: PhantomData,
        }
    }

    /// An array of `len` elements, element `i` being `f(i)`.
    ///
    /// ```
    /// let ramp = parmemo_shared::Shared::<[f32]>::from_fn(4, |i| i as f32 / 2.0);
    /// assert_eq!(&ramp[..], &[0.0, 0.5, 1.0, 1.5]);
    /// ```
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> E) -> Self {
        Shared::write_with(len, |out| {
            for (i, x) in out.iter_mut().enumerate() {
                *x = f(i);
            }
        })
    }

    /// A copy of `values` in shared memory.
    ///
    /// ```
    /// let copy = parmemo_shared::Shared::from_slice(&[1_i32, 2, 3]);
    /// assert_eq!(copy.len(), 3);
    /// ```
    pub fn from_slice(values: &[E]) -> Self {
        // SAFETY: the elements are plain numbers: their memory is `size_of_val` bytes,
        // every one initialized.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values))
        };
        Shared {
            region: Arc::new(Region::copied(bytes)),
            len: values.len(),
            _elements: PhantomData,
        }
    }

    /// Whether the array lives in memory another process can map (a memfd or a mapped
    /// file), rather than on this process's heap (where memfd is missing).
    ///
    /// ```
    /// let data = parmemo_shared::Shared::from(vec![0_u8; 4096]);
    /// assert_eq!(data.is_mappable(), cfg!(target_os = "linux"));
    /// ```
    #[must_use]
    pub fn is_mappable(&self) -> bool {
        self.region.file().is_some()
    }

    /// The array over a region read back from elsewhere, if its size and alignment fit.
    pub(crate) fn from_region(region: Arc<Region>) -> Result<Self, String> {
        let bytes = region.bytes();
        if !bytes.len().is_multiple_of(size_of::<E>()) {
            return Err(format!(
                "{} bytes are not a whole number of {}",
                bytes.len(),
                E::NAME
            ));
        }
        if bytes.as_ptr().align_offset(align_of::<E>()) != 0 {
            return Err(format!(
                "the bytes of an array of {} are misaligned",
                E::NAME
            ));
        }
        Ok(Shared {
            len: bytes.len() / size_of::<E>(),
            region,
            _elements: PhantomData,
        })
    }

    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// The array's bytes, little-endian (the only byte order supported).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.region.bytes()
    }
}

#[cfg(target_endian = "big")]
compile_error!("parmemo-shared sends and stores arrays as their raw little-endian bytes; big-endian targets are not supported");

impl<E: Element> Deref for Shared<[E]> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        let bytes = self.region.bytes();
        // SAFETY: the region holds `len * size_of::<E>()` bytes aligned for `E` (checked
        // when made or read back), never written while this handle lives, and every bit
        // pattern is a valid `E`.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<E>(), self.len) }
    }
}

impl<E: Element> AsRef<[E]> for Shared<[E]> {
    fn as_ref(&self) -> &[E] {
        self
    }
}

impl<E: Element> From<Vec<E>> for Shared<[E]> {
    fn from(values: Vec<E>) -> Self {
        Shared::from_slice(&values)
    }
}

impl<E: Element> From<&[E]> for Shared<[E]> {
    fn from(values: &[E]) -> Self {
        Shared::from_slice(values)
    }
}

impl<E: Element> FromIterator<E> for Shared<[E]> {
    fn from_iter<I: IntoIterator<Item = E>>(iter: I) -> Self {
        Shared::from(iter.into_iter().collect::<Vec<E>>())
    }
}

impl<E: Element> Default for Shared<[E]> {
    fn default() -> Self {
        Shared::from_slice(&[])
    }
}

impl<T: ?Sized> Clone for Shared<T> {
    /// Another handle on the same memory: no copy.
    fn clone(&self) -> Self {
        Shared {
            region: Arc::clone(&self.region),
            len: self.len,
            _elements: PhantomData,
        }
    }
}

impl<E: Element> fmt::Debug for Shared<[E]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<E: Element> PartialEq for Shared<[E]> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<E: Element> PartialEq<[E]> for Shared<[E]> {
    fn eq(&self, other: &[E]) -> bool {
        **self == *other
    }
}

impl<E: Element> PartialEq<Vec<E>> for Shared<[E]> {
    fn eq(&self, other: &Vec<E>) -> bool {
        **self == **other
    }
}

#[cfg(feature = "ndarray")]
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
impl<E: Element> Shared<[E]> {
    /// The array as an n-dimensional view of `shape` (row-major), without a copy: a
    /// matrix that crossed to a worker process is read in place.
    ///
    /// # Errors
    /// `ndarray`'s shape error when `shape` does not hold exactly `len()` elements.
    ///
    /// ```
    /// use parmemo_shared::Shared;
    /// let data = Shared::<[f64]>::from_fn(6, |i| i as f64);
    /// let matrix = data.view([2, 3])?;
    /// assert_eq!(matrix[[1, 2]], 5.0);
    /// # Ok::<(), ndarray::ShapeError>(())
    /// ```
    pub fn view<D, Sh>(
        &self,
        shape: Sh,
    ) -> Result<ndarray::ArrayView<'_, E, D>, ndarray::ShapeError>
    where
        D: ndarray::Dimension,
        Sh: Into<ndarray::StrideShape<D>>,
    {
        ndarray::ArrayView::from_shape(shape, self)
    }
}
