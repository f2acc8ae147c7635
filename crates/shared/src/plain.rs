//! Plain vectors of numbers (`Vec<f64>`, `Vec<u32>`, ...) moved whole into attachments
//! and out again: how parmemo sends a task's `Vec` argument or result to another process
//! as raw bytes at memory speed, without a call per element through serde, and without
//! any change to the user's types.
//!
//! Which values qualify is decided by type, not by content: a `T` that is `Vec<E>` for an
//! [`Element`] `E`. A sender and a receiver monomorphized for the same `T` therefore agree
//! on the form without saying so; the element type still travels and is checked.
//!
//! ```
//! use parmemo_shared::plain;
//! let tasks = vec![vec![1.5_f64; 1000], vec![2.5; 10]];
//! let attached = plain::set_aside(tasks).unwrap();
//! assert_eq!(attached[0].element(), Some("f64"));
//! let back: Vec<Vec<f64>> = plain::take_back(attached).unwrap();
//! assert_eq!(back[1], vec![2.5; 10]);
//! // Other types are handed back untouched.
//! assert!(plain::set_aside(vec![(1_u8, 2_u8)]).is_err());
//! ```

use crate::attach::Attachment;
use crate::element::Element;
use crate::region::Region;
use std::any::{Any, TypeId};
use std::sync::Arc;

/// Calls `$apply!(E)` for every element type, in one place so that no list can go stale.
macro_rules! for_each_element {
    ($apply:ident) => {
        $apply!(f32);
        $apply!(f64);
        $apply!(i8);
        $apply!(i16);
        $apply!(i32);
        $apply!(i64);
        $apply!(u8);
        $apply!(u16);
        $apply!(u32);
        $apply!(u64);
    };
}

/// The element type of `T` when `T` is a plain vector (`Vec<E>`), else `None`.
///
/// ```
/// use parmemo_shared::plain::element_of;
/// assert_eq!(element_of::<Vec<u16>>(), Some("u16"));
/// assert_eq!(element_of::<Vec<String>>(), None);
/// assert_eq!(element_of::<[f64; 3]>(), None);
/// ```
#[must_use]
pub fn element_of<T: 'static>() -> Option<&'static str> {
    macro_rules! check {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() {
                return Some(<$e as Element>::NAME);
            }
        };
    }
    for_each_element!(check);
    None
}

/// `values`, each a plain vector, moved into attachments whole (no copy); or `values`
/// back untouched when `T` is not a plain vector.
///
/// # Errors
/// `values` itself, when `T` is not `Vec<E>` for an [`Element`] `E`.
pub fn set_aside<T: 'static>(values: Vec<T>) -> Result<Vec<Attachment>, Vec<T>> {
    fn attached<E: Element>(vectors: Vec<Vec<E>>) -> Vec<Attachment> {
        vectors
            .into_iter()
            .map(|vector| Attachment(Arc::new(Region::from_vec(vector))))
            .collect()
    }
    let mut values = values;
    macro_rules! try_element {
        ($e:ty) => {
            match downcast::<Vec<T>, Vec<Vec<$e>>>(values) {
                Ok(vectors) => return Ok(attached(vectors)),
                Err(back) => values = back,
            }
        };
    }
    for_each_element!(try_element);
    Err(values)
}

/// The plain vectors `attached` holds, as `T`s: each moved out whole when it is a vector
/// this process made (see [`set_aside`]) and no other handle holds it, else copied into
/// a new vector.
///
/// # Errors
/// When `T` is not a plain vector, when an attachment made from a vector holds another
/// element type, or when an attachment's length is not a whole number of elements.
pub fn take_back<T: 'static>(attached: Vec<Attachment>) -> Result<Vec<T>, String> {
    macro_rules! try_element {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() {
                let vectors = attached
                    .into_iter()
                    .map(vector_of::<$e>)
                    .collect::<Result<Vec<Vec<$e>>, String>>()?;
                return downcast::<Vec<Vec<$e>>, Vec<T>>(vectors)
                    .map_err(|_| "a plain vector changed type".to_owned());
            }
        };
    }
    for_each_element!(try_element);
    Err(format!(
        "{} is not a plain vector of numbers",
        std::any::type_name::<T>()
    ))
}

/// The element type and the raw bytes of `value`, when `T` is a plain vector: what a
/// store writes in place of its encoding.
///
/// ```
/// let values = vec![1_u16, 2];
/// let (element, bytes) = parmemo_shared::plain::bytes_of(&values).unwrap();
/// assert_eq!((element, bytes.len()), ("u16", 4));
/// assert!(parmemo_shared::plain::bytes_of(&"text").is_none());
/// ```
#[must_use]
pub fn bytes_of<T: 'static>(value: &T) -> Option<(&'static str, &[u8])> {
    macro_rules! try_element {
        ($e:ty) => {
            if let Some(vector) = (value as &dyn Any).downcast_ref::<Vec<$e>>() {
                return Some((<$e as Element>::NAME, bytes_of_slice(vector)));
            }
        };
    }
    for_each_element!(try_element);
    None
}

/// A plain vector `T` of `len` bytes, written by `fill` into fresh memory (advised into
/// huge pages when large): how a store reads a stored vector straight from its file.
///
/// ```
/// let ones: Vec<u32> = parmemo_shared::plain::read_value(8, |bytes| {
///     bytes.copy_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(ones, [1, 1]);
/// ```
///
/// # Errors
/// When `T` is not a plain vector, `len` is not a whole number of its elements, or
/// `fill` fails.
pub fn read_value<T: 'static>(
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> std::io::Result<()>,
) -> Result<T, String> {
    let element = element_of::<T>().ok_or_else(|| {
        format!(
            "{} is not a plain vector of numbers",
            std::any::type_name::<T>()
        )
    })?;
    let attachment = read_vec(element, len, fill).map_err(|err| err.to_string())?;
    take_back::<T>(vec![attachment])?
        .pop()
        .ok_or_else(|| "no vector was read".to_owned())
}

// Here rather than in `attach`, beside the vectors it makes: `attach` knows nothing of
// plain vectors, and this module builds on it.
impl Attachment {
    /// A plain vector of `len` bytes of `element`s (an [`Element`]'s
    /// name), written by `fill`: bytes read from a socket straight into the vector a task
    /// will own, in fresh memory advised into huge pages when large.
    ///
    /// ```
    /// use parmemo_shared::{attach::Attachment, plain};
    /// let arrived = Attachment::read_vec("u8", 3, |bytes| {
    ///     bytes.copy_from_slice(b"abc");
    ///     Ok(())
    /// })?;
    /// let vectors: Vec<Vec<u8>> = plain::take_back(vec![arrived]).unwrap();
    /// assert_eq!(vectors[0], b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// When `element` names no element type, when `len` is not a whole number of them,
    /// or what `fill` returns.
    pub fn read_vec(
        element: &str,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<Attachment> {
        read_vec(element, len, fill)
    }
}

/// A new attachment holding a vector of `len` bytes of `element`s, which `fill` writes:
/// how bytes read from a socket become a vector with a single copy, the kernel's.
///
/// # Errors
/// When `element` names no [`Element`], when `len` is not a whole number of them, or
/// what `fill` returns.
pub(crate) fn read_vec(
    element: &str,
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<Attachment> {
    macro_rules! try_element {
        ($e:ty) => {
            if element == <$e as Element>::NAME {
                let mut vector = fresh::<$e>(elements_in::<$e>(len)?)?;
                crate::prefault::fill_with_help(bytes_of_mut(&mut vector), fill)?;
                return Ok(Attachment(Arc::new(Region::from_vec(vector))));
            }
        };
    }
    for_each_element!(try_element);
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{element} is not an element type of a plain vector"),
    ))
}

/// How many `E`s `len` bytes hold, if a whole number.
fn elements_in<E: Element>(len: usize) -> std::io::Result<usize> {
    if len.is_multiple_of(size_of::<E>()) {
        Ok(len / size_of::<E>())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes are not a whole number of {}", E::NAME),
        ))
    }
}

/// The vector an attachment holds: moved out if it is one, else copied.
pub(crate) fn vector_of<E: Element>(attachment: Attachment) -> Result<Vec<E>, String> {
    if let Some(element) = attachment.element() {
        if element != E::NAME {
            return Err(format!(
                "a vector of {element} cannot be read as a vector of {}",
                E::NAME
            ));
        }
    }
    let region = match Arc::try_unwrap(attachment.0) {
        Ok(region) => match region.into_vec::<E>() {
            Ok(vector) => return Ok(vector),
            Err(region) => Arc::new(region),
        },
        Err(shared) => shared,
    };
    let bytes = region.bytes();
    let mut vector = elements_in::<E>(bytes.len())
        .and_then(fresh::<E>)
        .map_err(|err| err.to_string())?;
    crate::copy::copy_bytes(bytes_of_mut(&mut vector), bytes);
    Ok(vector)
}

/// `value` as a `U`, when `T` is `U`.
fn downcast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    let mut slot = Some(value);
    if let Some(target) = (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>() {
        if let Some(value) = target.take() {
            return Ok(value);
        }
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("a value is either moved out as a U or still in its slot"),
    }
}

/// A vector of `len` zeros in fresh memory (zeroed pages the allocator need not write),
/// advised into huge pages when large: filling it then costs one fault per 2 MiB instead
/// of one per 4 KiB, the difference between 50 and 12 ms for 64 MB here. An allocation
/// that cannot be had is an error, not an abort: a length may come from another process.
pub(crate) fn fresh<E: Element>(len: usize) -> std::io::Result<Vec<E>> {
    let refused = || {
        std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("no memory for a vector of {len} {}", E::NAME),
        )
    };
    let layout = std::alloc::Layout::array::<E>(len).map_err(|_| refused())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout has a non-zero size.
    let start = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<E>();
    if start.is_null() {
        return Err(refused());
    }
    // SAFETY: `start` was allocated by the global allocator with the layout of `len`
    // `E`s, and all of them are initialized: all-zero bytes are a value of every element
    // type (`Element` is sealed to numbers).
    let vector =
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(start, len)) }.into_vec();
    advise_huge_pages(vector.as_ptr().cast(), layout.size());
    Ok(vector)
}

/// The bytes of plain numbers.
pub(crate) fn bytes_of_slice<E: Element>(values: &[E]) -> &[u8] {
    // SAFETY: `Element` is sealed to number types without padding: their memory is
    // `size_of_val` initialized bytes.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), size_of_val(values)) }
}

/// The bytes of plain numbers, to be written.
pub(crate) fn bytes_of_mut<E: Element>(values: &mut [E]) -> &mut [u8] {
    // SAFETY: `Element` is sealed to number types without padding whose every bit
    // pattern is a value, so their memory is `size_of_val` initialized bytes, and any
    // bytes written there leave valid elements.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), size_of_val(values)) }
}

/// Asks the kernel to back the 2 MiB-aligned middle of `start..start + len` with huge
/// pages (transparent huge pages in `madvise` mode, as on most distributions). Advice
/// only: where it is refused, nothing changes.
fn advise_huge_pages(start: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < 2 * HUGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let first = (start as usize).next_multiple_of(HUGE);
        let end = (start as usize + len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies inside an allocation this process owns, and
            // `MADV_HUGEPAGE` changes how it is backed, never what it holds.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = start;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_move_out_whole_without_a_copy() {
        let vector: Vec<u32> = (0..100_000).collect();
        let address = vector.as_ptr();
        let attached = set_aside(vec![vector]).unwrap();
        assert_eq!(attached[0].bytes().len(), 400_000);
        let back: Vec<Vec<u32>> = take_back(attached).unwrap();
        assert_eq!(back[0].as_ptr(), address, "the same buffer");
        assert_eq!(back[0][99_999], 99_999);
    }

    #[test]
    fn a_held_attachment_is_copied_not_taken() {
        let attached = set_aside(vec![vec![1.0_f32, 2.0]]).unwrap();
        let kept = attached[0].clone();
        let back: Vec<Vec<f32>> = take_back(attached).unwrap();
        assert_eq!(back, [vec![1.0, 2.0]]);
        assert_eq!(kept.bytes().len(), 8, "the other handle still reads it");
    }

    #[test]
    fn element_types_are_checked() {
        let attached = set_aside(vec![vec![1.0_f32]]).unwrap();
        let err = take_back::<Vec<u32>>(attached).unwrap_err();
        assert!(err.contains("f32"), "{err}");
        let odd = Attachment::copied(&[0; 7]);
        assert!(take_back::<Vec<u16>>(vec![odd]).is_err());
        assert!(take_back::<String>(Vec::new()).is_err());
    }

    #[test]
    fn bytes_read_into_a_vector_become_it() {
        let attachment = read_vec("i16", 6, |bytes| {
            bytes.copy_from_slice(&[1, 0, 2, 0, 255, 255]);
            Ok(())
        })
        .unwrap();
        let back: Vec<Vec<i16>> = take_back(vec![attachment]).unwrap();
        assert_eq!(back, [vec![1, 2, -1]]);
        assert!(read_vec("i16", 5, |_| Ok(())).is_err());
        assert!(read_vec("bool", 8, |_| Ok(())).is_err());
    }

    #[test]
    fn large_fresh_vectors_are_zero() {
        let vector = fresh::<f64>(1 << 20).unwrap();
        assert!(vector.iter().all(|&x| x.to_bits() == 0));
        assert!(fresh::<u8>(0).unwrap().is_empty());
    }

    #[test]
    fn an_impossible_length_is_an_error_not_an_abort() {
        assert!(fresh::<f64>(usize::MAX / 4).is_err());
        let claimed = read_vec("u64", usize::MAX - 7, |_| Ok(()));
        assert!(claimed.is_err());
    }
}
