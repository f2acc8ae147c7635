//! Immutable bytes, and where they live: a sealed anonymous memory file (memfd) mapped
//! read-only, which another process can map from its descriptor; a slice of a mapped
//! file (a cache entry); or, where memfd is missing, the heap.

use crate::element::Element;
use memmap2::{Mmap, MmapMut, MmapOptions};
use std::any::Any;
use std::fs::File;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Bytes that never change while any handle to them lives.
pub(crate) struct Region {
    start: *const u8,
    len: usize,
    /// What keeps `start..start + len` valid.
    _keep: Keep,
    /// The file that holds the bytes, and their offset in it: what another process maps.
    file: Option<(Arc<File>, u64)>,
    /// The element type, when the bytes are a plain vector's (`Vec<E>` kept whole).
    element: Option<&'static str>,
}

/// Held only to be dropped with the region: the bytes are reached through `start`.
#[allow(dead_code)]
enum Keep {
    Map(Arc<Mmap>),
    Heap(Box<[u64]>),
    /// A `Vec<E>` of some element type, moved in whole and movable out again.
    ///
    /// Unwind safety is asserted: the bytes are never written, so a panic cannot leave
    /// them half-changed.
    Vector(AssertUnwindSafe<Box<dyn Any + Send + Sync>>),
    Nothing,
}

// SAFETY: a region's bytes are never written after it is made (sealed memory, a read-only
// map, a heap buffer or a vector nobody else holds), so sharing them between threads is sound; the
// pointer is only an address into what `_keep` holds.
unsafe impl Send for Region {}
// SAFETY: as above: only shared reads ever reach the bytes.
unsafe impl Sync for Region {}

/// Seals that make a memfd immutable for everyone, its creator included.
const SEALS: libc::c_int =
    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;

impl Region {
    /// `len` bytes written once by `init`, in a sealed memfd when the system has them
    /// (Linux), else on the heap.
    pub(crate) fn filled(len: usize, init: impl FnOnce(&mut [u8])) -> Region {
        if len == 0 {
            return Region {
                start: std::ptr::NonNull::<u64>::dangling().as_ptr().cast(),
                len: 0,
                _keep: Keep::Nothing,
                file: None,
                element: None,
            };
        }
        let Ok((file, mut writable)) = memfd(len) else {
            return Region::on_heap(len, init);
        };
        init(&mut writable);
        // Should mapping the written memfd read-only fail, its bytes are read back rather
        // than lost.
        let reread = file.try_clone();
        seal_and_map(file, writable, len).unwrap_or_else(|_| {
            Region::on_heap(len, |into| {
                use std::os::unix::fs::FileExt;
                let read = reread.and_then(|file| file.read_exact_at(into, 0));
                assert!(
                    read.is_ok(),
                    "the array's memory can be neither mapped nor read: {read:?}"
                );
            })
        })
    }

    /// A copy of `bytes`, in a sealed memfd when the system has them, else on the heap.
    /// Written with `write`, not through a map: the kernel copies straight into the
    /// file's pages, without faulting and zeroing each first.
    pub(crate) fn copied(bytes: &[u8]) -> Region {
        #[cfg(target_os = "linux")]
        if let Some(region) = copied_to_memfd(bytes) {
            return region;
        }
        Region::filled(bytes.len(), |into| into.copy_from_slice(bytes))
    }

    /// `len` bytes on the heap, written by `fill`.
    fn on_heap(len: usize, fill: impl FnOnce(&mut [u8])) -> Region {
        let mut words = vec![0_u64; len.div_ceil(8)].into_boxed_slice();
        // SAFETY: the buffer holds `len.div_ceil(8) * 8 >= len` initialized bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), len) };
        fill(bytes);
        Region {
            start: words.as_ptr().cast(),
            len,
            _keep: Keep::Heap(words),
            file: None,
            element: None,
        }
    }

    /// `len` bytes at `offset` of `file`, mapped read-only: what another process sent.
    ///
    /// # Errors
    /// When the file is shorter than `offset + len`, or cannot be mapped.
    ///
    /// # Safety
    /// Nobody may write or shrink the file while the region (or a clone of its handle)
    /// lives: the bytes are handed out as `&[u8]`. [`is_sealed`] proves it for a memfd.
    pub(crate) unsafe fn mapped(file: File, offset: u64, len: usize) -> io::Result<Region> {
        let file = Arc::new(file);
        let size = file.metadata()?.len();
        u64::try_from(len)
            .ok()
            .and_then(|len| offset.checked_add(len))
            .filter(|&end| end <= size)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{len} bytes at {offset} do not fit in a file of {size} bytes"),
                )
            })?;
        if len == 0 {
            return Ok(Region::filled(0, |_| {}));
        }
        // SAFETY: by this function's contract the file is never written or shrunk while
        // mapped, and its size was checked to cover the map.
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map(&*file)? };
        Ok(Region {
            start: map.as_ptr(),
            len,
            _keep: Keep::Map(Arc::new(map)),
            file: Some((file, offset)),
            element: None,
        })
    }

    /// `len` bytes at `offset` of a mapping many regions share (the arrays of one cached
    /// entry), with the file it maps, if any, for another process.
    ///
    /// # Errors
    /// When `offset + len` lies outside the mapping.
    pub(crate) fn within(
        map: Arc<Mmap>,
        file: Option<Arc<File>>,
        offset: usize,
        len: usize,
    ) -> io::Result<Region> {
        if offset.checked_add(len).is_none_or(|end| end > map.len()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{len} bytes at {offset} lie outside a mapping of {}",
                    map.len()
                ),
            ));
        }
        // SAFETY: `offset + len <= map.len()`, checked above.
        let start = unsafe { map.as_ptr().add(offset) };
        Ok(Region {
            start,
            len,
            _keep: Keep::Map(map),
            file: file.map(|file| (file, offset as u64)),
            element: None,
        })
    }

    /// A plain vector, moved in whole: its bytes are its elements', no copy.
    pub(crate) fn from_vec<E: Element>(vector: Vec<E>) -> Region {
        let start = vector.as_ptr().cast::<u8>();
        let len = size_of_val(&vector[..]);
        Region {
            start,
            len,
            // Moving the `Vec` into the box leaves its heap buffer where it is.
            _keep: Keep::Vector(AssertUnwindSafe(Box::new(vector))),
            file: None,
            element: Some(E::NAME),
        }
    }

    /// The plain vector this region was made from, moved out whole; else the region back.
    pub(crate) fn into_vec<E: Element>(self) -> Result<Vec<E>, Region> {
        let Region {
            start,
            len,
            _keep: keep,
            file,
            element,
        } = self;
        match keep {
            Keep::Vector(AssertUnwindSafe(vector)) => match vector.downcast::<Vec<E>>() {
                Ok(vector) => Ok(*vector),
                Err(other) => Err(Region {
                    start,
                    len,
                    _keep: Keep::Vector(AssertUnwindSafe(other)),
                    file,
                    element,
                }),
            },
            other => Err(Region {
                start,
                len,
                _keep: other,
                file,
                element,
            }),
        }
    }

    /// The element type of the plain vector this region was made from, if it was.
    pub(crate) fn element(&self) -> Option<&'static str> {
        self.element
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `start..start + len` is kept valid and unchanged by `_keep` for as long as
        // `self` lives (for `len == 0`, a dangling but aligned pointer is allowed).
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }

    pub(crate) fn file(&self) -> Option<(&File, u64)> {
        self.file.as_ref().map(|(file, offset)| (&**file, *offset))
    }
}

/// Whether `file` is sealed against writes and against shrinking (a memfd whose creator
/// called `F_ADD_SEALS`): then no handle of it, anywhere, can change mapped bytes.
pub(crate) fn is_sealed(file: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        const NEEDED: libc::c_int = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK;
        // SAFETY: `fcntl` reads the seals of a descriptor this borrow keeps open.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        seals >= 0 && seals & NEEDED == NEEDED
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        false
    }
}

/// A new memfd of `len` bytes (it can be sealed), mapped writable for its creator.
#[cfg(target_os = "linux")]
fn memfd(len: usize) -> io::Result<(File, MmapMut)> {
    use std::os::fd::FromRawFd;
    // SAFETY: a valid NUL-terminated name and flags; the result is checked.
    let fd = unsafe {
        libc::memfd_create(
            c"parmemo-shared".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len as u64)?;
    // SAFETY: a fresh memfd that nothing else can reach yet. `populate` takes its pages
    // in one call rather than one fault each.
    let writable = unsafe { MmapOptions::new().len(len).populate().map_mut(&file)? };
    Ok((file, writable))
}

#[cfg(not(target_os = "linux"))]
fn memfd(_len: usize) -> io::Result<(File, MmapMut)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "memfd is Linux's",
    ))
}

/// `bytes` written into a new memfd, sealed and mapped; `None` if any step fails.
#[cfg(target_os = "linux")]
fn copied_to_memfd(bytes: &[u8]) -> Option<Region> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    if bytes.is_empty() {
        return None;
    }
    // SAFETY: a valid NUL-terminated name and flags; the result is checked.
    let fd = unsafe {
        libc::memfd_create(
            c"parmemo-shared".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes).ok()?;
    // SAFETY: `fcntl` on an fd this function owns.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return None;
    }
    // SAFETY: sealed just above against every write and every change of size.
    unsafe { Region::mapped(file, 0, bytes.len()) }.ok()
}

/// Seals a written memfd against every change and maps it read-only. Should sealing
/// fail, the memory stays private to this process (no file to pass on): unsealed, whoever
/// received the descriptor could still write it.
fn seal_and_map(file: File, writable: MmapMut, len: usize) -> io::Result<Region> {
    // The seal refuses while a writable map exists; its pages stay in the memfd.
    drop(writable);
    #[cfg(target_os = "linux")]
    let sealed = {
        use std::os::fd::AsRawFd;
        // SAFETY: `fcntl` on an fd this function owns.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) == 0 }
    };
    #[cfg(not(target_os = "linux"))]
    let sealed = false;
    // SAFETY: sealed against every write and change of size; or, where sealing failed,
    // a file that only this function holds (its writable map dropped above), and the
    // region keeps no handle to pass on.
    let mut region = unsafe { Region::mapped(file, 0, len)? };
    if !sealed {
        region.file = None;
    }
    Ok(region)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_filled_region_is_sealed_against_every_write() {
        let region = Region::filled(10_000, |bytes| bytes.fill(7));
        assert!(region.bytes().iter().all(|&b| b == 7));
        let (file, offset) = region.file().expect("a memfd on Linux");
        assert_eq!(offset, 0);
        let mut writer = file;
        assert!(
            writer.write_all(b"x").is_err(),
            "a sealed memfd refuses writes"
        );
        assert!(file.set_len(1).is_err(), "and shrinking");
        // SAFETY: mapping a sealed file writable must fail, not succeed.
        let writable = unsafe { MmapOptions::new().len(10_000).map_mut(file) };
        assert!(writable.is_err(), "and writable maps");
    }

    #[test]
    fn a_copied_region_is_sealed_too() {
        let region = Region::copied(&[3; 5000]);
        assert_eq!(region.bytes(), &[3; 5000][..]);
        let (file, _) = region.file().expect("a memfd on Linux");
        let mut writer = file;
        assert!(writer.write_all(b"x").is_err());
    }

    #[test]
    fn regions_check_their_bounds() {
        let region = Region::filled(100, |bytes| bytes[99] = 1);
        let (file, _) = region.file().unwrap();
        let again = file.try_clone().unwrap();
        assert!(is_sealed(&again));
        // SAFETY: a sealed memfd.
        assert!(unsafe { Region::mapped(again, 50, 51) }.is_err());
        let again = file.try_clone().unwrap();
        // SAFETY: a sealed memfd.
        let tail = unsafe { Region::mapped(again, 0, 100) }.unwrap();
        assert_eq!(tail.bytes()[99], 1);
        assert_eq!(Region::filled(0, |_| {}).bytes(), &[] as &[u8]);
    }
}
