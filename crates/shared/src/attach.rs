//! Arrays that travel beside a serialized value instead of inside it: how parmemo's
//! worker processes receive a [`Shared`](crate::Shared) array as a mapping of the same
//! memory, and how its cache stores one as raw, page-aligned bytes and maps it back.
//!
//! While [`collect`] runs, every `Shared` that serializes becomes a small reference
//! (an index) and its memory an [`Attachment`] of the call. While [`provide`] runs, a
//! `Shared` that deserializes from such a reference takes the attachment of that index.
//! Outside both, a `Shared` serializes its bytes inline, as any format expects.

use crate::region::Region;
use memmap2::Mmap;
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::thread::LocalKey;

/// The memory of one array serialized under [`collect`]: to send (its file, or its
/// bytes) or to store (its bytes).
#[derive(Clone)]
pub struct Attachment(pub(crate) Arc<Region>);

impl Attachment {
    /// The array's bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        self.0.bytes()
    }

    /// The file that holds the bytes and their offset in it, when they are in one (a
    /// sealed memfd, or a mapped cache entry): another process can map it instead of
    /// receiving a copy.
    #[must_use]
    pub fn file(&self) -> Option<(&File, u64)> {
        self.0.file()
    }

    /// `len` bytes at `offset` of a sealed `file`, mapped read-only (what another process
    /// sent: a [`Shared`](crate::Shared) array's memfd). The file must be sealed against
    /// writes and shrinking (`F_SEAL_WRITE | F_SEAL_SHRINK`), so that no handle of it can
    /// change the bytes this hands out as `&[u8]`; an ordinary file is refused.
    ///
    /// ```
    /// use parmemo_shared::{attach::Attachment, Shared};
    /// let array: Shared<[u8]> = Shared::from(vec![5; 100_000]);
    /// let (_, attached) = parmemo_shared::attach::collect(|| serde_json::to_string(&array));
    /// let (memfd, offset) = attached[0].file().expect("a sealed memfd, on Linux");
    /// let mapped = Attachment::map(memfd.try_clone()?, offset, 100_000)?;
    /// assert_eq!(mapped.bytes(), &array[..]);
    ///
    /// let ordinary = tempfile::tempfile()?;
    /// ordinary.set_len(100)?;
    /// assert!(Attachment::map(ordinary, 0, 100).is_err(), "anyone could rewrite it");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the file is not sealed (`InvalidInput`: use
    /// [`map_unsealed`](Self::map_unsealed) if you can promise what a seal would), when
    /// it is shorter than `offset + len`, or cannot be mapped.
    pub fn map(file: File, offset: u64, len: usize) -> io::Result<Attachment> {
        if !crate::region::is_sealed(&file) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file is not sealed against writes and shrinking, so its mapped bytes \
                 could change under a shared reference: map only a sealed memfd",
            ));
        }
        // SAFETY: sealed, checked above: no handle can write or shrink the file.
        unsafe { Region::mapped(file, offset, len) }.map(|region| Attachment(Arc::new(region)))
    }

    /// `len` bytes at `offset` of `file`, mapped read-only, sealed or not: a stored cache
    /// entry, which its store writes once and replaces by renaming.
    ///
    /// # Errors
    /// When the file is shorter than `offset + len`, or cannot be mapped.
    ///
    /// # Safety
    /// Nobody may write or shrink the file while the attachment or any handle of its
    /// array lives, in this process or any other: the bytes are handed out as `&[u8]`
    /// (a change is undefined behaviour; a truncation, `SIGBUS`). `memmap2::Mmap::map`
    /// has the same contract.
    pub unsafe fn map_unsealed(file: File, offset: u64, len: usize) -> io::Result<Attachment> {
        // SAFETY: this function's contract.
        unsafe { Region::mapped(file, offset, len) }.map(|region| Attachment(Arc::new(region)))
    }

    /// `len` bytes at `offset` of a mapping that several attachments share (the arrays
    /// of one cache entry), with the file it maps, if any.
    ///
    /// # Errors
    /// When `offset + len` lies outside the mapping.
    pub fn within(
        map: Arc<Mmap>,
        file: Option<Arc<File>>,
        offset: usize,
        len: usize,
    ) -> io::Result<Attachment> {
        Region::within(map, file, offset, len).map(|region| Attachment(Arc::new(region)))
    }

    /// A copy of `bytes` (a small array that travelled inline).
    #[must_use]
    pub fn copied(bytes: &[u8]) -> Attachment {
        Attachment(Arc::new(Region::copied(bytes)))
    }

    /// Whether `self` and `other` are handles of one array (not merely equal bytes).
    ///
    /// ```
    /// use parmemo_shared::{attach, Shared};
    /// let array: Shared<[u8]> = Shared::from(vec![1, 2, 3]);
    /// let (_, first) = attach::collect(|| serde_json::to_string(&array));
    /// let (_, again) = attach::collect(|| serde_json::to_string(&array));
    /// assert!(first[0].same_array(&again[0]));
    /// assert!(!first[0].same_array(&attach::Attachment::copied(&[1, 2, 3])));
    /// ```
    #[must_use]
    pub fn same_array(&self, other: &Attachment) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A number that names this array among the live ones: equal for handles of one
    /// array, and never another live array's (it is its address, held as long as any
    /// handle is). A receiver that keeps arrays by it must forget them when
    /// [`others_hold`](Self::others_hold) says the sender's last other handle is gone.
    #[must_use]
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// How many handles of this array exist besides this one (in this process): its
    /// `Shared` values, other attachments.
    #[must_use]
    pub fn others_hold(&self) -> usize {
        Arc::strong_count(&self.0) - 1
    }

    /// The element type, when this is a plain vector moved in whole (see
    /// [`plain`](crate::plain)): what a receiver needs to rebuild it as a vector.
    #[must_use]
    pub fn element(&self) -> Option<&'static str> {
        self.0.element()
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("len", &self.bytes().len())
            .field("element", &self.element())
            .field("in_a_file", &self.file().is_some())
            .finish()
    }
}

thread_local! {
    static SINK: RefCell<Option<Vec<Attachment>>> = const { RefCell::new(None) };
    static SOURCE: RefCell<Option<Vec<Option<Attachment>>>> = const { RefCell::new(None) };
}

/// Runs `serialize` with the arrays it serializes set aside: returns its result and
/// their memory, in the order of the indices written in their place.
///
/// ```
/// use parmemo_shared::{attach, Shared};
/// let array: Shared<[f64]> = Shared::from(vec![1.0; 1000]);
/// let (json, attached) = attach::collect(|| serde_json::to_string(&array).unwrap());
/// assert!(json.len() < 100, "a reference, not the array");
/// assert_eq!(attached.len(), 1);
/// assert_eq!(attached[0].bytes().len(), 8000);
/// ```
pub fn collect<R>(serialize: impl FnOnce() -> R) -> (R, Vec<Attachment>) {
    let (result, attached) = installed(&SINK, Vec::new(), serialize);
    (result, attached.unwrap_or_default())
}

/// Runs `deserialize` with `attachments` available to the arrays it deserializes from
/// references (each taken once).
///
/// ```
/// use parmemo_shared::{attach, Shared};
/// let array: Shared<[u32]> = Shared::from(vec![7; 10]);
/// let (json, attached) = attach::collect(|| serde_json::to_string(&array).unwrap());
/// let back: Shared<[u32]> = attach::provide(attached, || serde_json::from_str(&json)).unwrap();
/// assert_eq!(back, array);
/// ```
pub fn provide<R>(attachments: Vec<Attachment>, deserialize: impl FnOnce() -> R) -> R {
    let offered = attachments.into_iter().map(Some).collect();
    installed(&SOURCE, offered, deserialize).0
}

type Cell<T> = LocalKey<RefCell<Option<T>>>;

/// Puts back what a thread-local cell held before a call, even if the call unwinds.
struct Restore<T: 'static> {
    cell: &'static Cell<T>,
    outer: Option<T>,
}

impl<T: 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        let outer = self.outer.take();
        self.cell.with(|cell| *cell.borrow_mut() = outer);
    }
}

/// Runs `f` with `cell` holding `value` (calls nest: the outer value comes back after);
/// returns `f`'s result and what the cell held when `f` returned.
fn installed<T: 'static, R>(
    cell: &'static Cell<T>,
    value: T,
    f: impl FnOnce() -> R,
) -> (R, Option<T>) {
    let outer = cell.with(|current| current.borrow_mut().replace(value));
    let restore = Restore { cell, outer };
    let result = f();
    let inner = cell.with(|current| current.borrow_mut().take());
    drop(restore);
    (result, inner)
}

/// Sets `region` aside if a collection is running: its index.
pub(crate) fn set_aside(region: &Arc<Region>) -> Option<usize> {
    SINK.with(|sink| {
        let mut sink = sink.borrow_mut();
        let sink = sink.as_mut()?;
        sink.push(Attachment(Arc::clone(region)));
        Some(sink.len() - 1)
    })
}

/// Takes the attachment of `index` offered by [`provide`].
pub(crate) fn take(index: usize) -> Result<Arc<Region>, String> {
    SOURCE.with(|source| {
        let mut source = source.borrow_mut();
        let offered = source
            .as_mut()
            .ok_or("an array sent beside its value arrived without it (no attachments offered)")?;
        offered
            .get_mut(index)
            .and_then(Option::take)
            .map(|attachment| attachment.0)
            .ok_or_else(|| format!("array {index} is missing or was read twice"))
    })
}
