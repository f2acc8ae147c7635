//! Which loaded object (the executable, or a shared library) holds a function, named so
//! that another process finds the same function whatever address its loader chose.
//!
//! A function's address means nothing in another process: each object is loaded at a
//! base of its own (ASLR), and a `-C prefer-dynamic` build keeps `std` and every `dylib`
//! crate in shared objects. So a function travels as its object's *digest* and its offset
//! from that object's base. The digest is the object's GNU build-id when it has one (the
//! linker derives it from the object's contents), else a hash of its read-only segments
//! (code and constants, which the loader does not relocate). A receiver calls only an
//! offset that lands in an executable segment of a loaded object with the same digest:
//! another build of the library, or one it has not loaded, is an error, never a jump.
//!
//! The sender refuses, before anything is sent, a function in an object that was not
//! loaded when the program started (a `dlopen`ed plugin: a worker started from the same
//! executable does not load it), or in no object at all (generated code).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A place in the code of a loaded object, as another process can find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Located {
    /// The object's digest (see the module's doc).
    pub(crate) object: u64,
    /// The distance from the object's base.
    pub(crate) offset: usize,
}

/// Why a function cannot be named to another process, or found in this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreachable {
    /// The object that holds the function (its path), or what is known of where it is.
    pub(crate) object: String,
    /// Why.
    pub(crate) reason: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.object, self.reason)
    }
}

/// A function of this crate: it lies in the object that holds parmemo.
#[cfg(any(test, not(all(target_os = "linux", target_pointer_width = "64"))))]
#[inline(never)]
fn anchor() {}

#[cfg(any(test, not(all(target_os = "linux", target_pointer_width = "64"))))]
fn anchor_address() -> usize {
    anchor as fn() as usize
}

impl From<Unreachable> for crate::Error {
    fn from(unreachable: Unreachable) -> crate::Error {
        crate::Error::FunctionNotReachable {
            object: unreachable.object,
            reason: unreachable.reason,
        }
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub(crate) use linux::{address_of, locate, remember_start};

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub(crate) use elsewhere::{address_of, locate, remember_start};

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod linux {
    use super::{Located, Unreachable};
    use std::collections::HashMap;
    use std::ffi::CStr;
    use std::os::raw::{c_int, c_void};
    use std::sync::{Mutex, OnceLock, PoisonError};
    use twox_hash::XxHash3_64;

    /// The note type of a GNU build-id.
    const NT_GNU_BUILD_ID: u32 = 3;

    /// One loaded object, as the dynamic loader lists it.
    #[derive(Clone, Debug)]
    struct Object {
        /// Where it is loaded: every address in it is this plus an offset.
        base: usize,
        /// Its path ("" for the executable, as the loader names it).
        name: String,
        /// Its executable segments, as absolute address ranges.
        code: Vec<(usize, usize)>,
        /// Its read-only segments (code and constants), as absolute address ranges.
        read_only: Vec<(usize, usize)>,
        /// Its GNU build-id, when it has one.
        build_id: Option<Vec<u8>>,
    }

    impl Object {
        fn holds_code(&self, address: usize) -> bool {
            self.code
                .iter()
                .any(|&(start, end)| (start..end).contains(&address))
        }

        fn shown_name(&self) -> String {
            if self.name.is_empty() {
                "the executable".to_owned()
            } else {
                self.name.clone()
            }
        }

        /// The digest another process checks before it calls into this object.
        fn digest(&self) -> u64 {
            let mut hasher = XxHash3_64::new();
            if let Some(id) = &self.build_id {
                hasher.write(b"build-id");
                hasher.write(id);
            } else {
                hasher.write(b"read-only segments");
                for &(start, end) in &self.read_only {
                    // SAFETY: the loader reported this range as a loaded, non-writable
                    // segment of an object that stays loaded while we read it (objects
                    // loaded at start are never unloaded; a later one is only read while
                    // `dl_iterate_phdr` says it is there, and `dlclose` of a library a
                    // task's code lives in would break that task anyway).
                    let bytes =
                        unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
                    hasher.write(&(end - start).to_le_bytes());
                    hasher.write(bytes);
                }
            }
            hasher.finish()
        }
    }

    use std::hash::Hasher as _;

    /// The objects loaded now.
    fn loaded() -> Vec<Object> {
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut c_void,
        ) -> c_int {
            // SAFETY: `data` is the `Vec` handed to `dl_iterate_phdr` below, borrowed
            // for the duration of the call, and `info` is valid during this callback.
            let (objects, info) = unsafe { (&mut *data.cast::<Vec<Object>>(), &*info) };
            // SAFETY: as above; the loader's own description of one object.
            objects.push(unsafe { describe(info) });
            0
        }
        let mut objects: Vec<Object> = Vec::new();
        // SAFETY: the callback only reads what the loader hands it and pushes to the
        // `Vec` passed as its data, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut objects).cast()) };
        objects
    }

    /// An object from the loader's description of it.
    ///
    /// # Safety
    /// `info` is what `dl_iterate_phdr` passes its callback, read during the callback.
    // This module is built for 64-bit targets only, where ELF's u64 and usize are one size.
    #[allow(clippy::cast_possible_truncation)]
    unsafe fn describe(info: &libc::dl_phdr_info) -> Object {
        let base = info.dlpi_addr as usize;
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: the loader's names are NUL-terminated strings valid in the callback.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
            &[]
        } else {
            // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let mut object = Object {
            base,
            name,
            code: Vec::new(),
            read_only: Vec::new(),
            build_id: None,
        };
        for header in headers {
            let start = base.wrapping_add(header.p_vaddr as usize);
            if header.p_type == libc::PT_LOAD {
                if header.p_flags & libc::PF_X != 0 {
                    object
                        .code
                        .push((start, start.wrapping_add(header.p_memsz as usize)));
                }
                if header.p_flags & libc::PF_W == 0 && header.p_flags & libc::PF_R != 0 {
                    object
                        .read_only
                        .push((start, start.wrapping_add(header.p_filesz as usize)));
                }
            } else if header.p_type == libc::PT_NOTE && object.build_id.is_none() {
                // SAFETY: a note segment of a loaded object: `p_filesz` mapped bytes.
                let notes = unsafe {
                    std::slice::from_raw_parts(start as *const u8, header.p_filesz as usize)
                };
                object.build_id = build_id(notes);
            }
        }
        object
    }

    /// The GNU build-id among an ELF note segment's notes.
    fn build_id(mut notes: &[u8]) -> Option<Vec<u8>> {
        let word = |bytes: &[u8], at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        let padded = |n: u32| (n as usize).div_ceil(4) * 4;
        while notes.len() >= 12 {
            let (name_size, desc_size, kind) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
            let name_end = 12 + padded(name_size);
            let desc_end = name_end.checked_add(padded(desc_size))?;
            let name = notes.get(12..12 + name_size as usize)?;
            let desc = notes.get(name_end..name_end + desc_size as usize)?;
            if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
                return Some(desc.to_vec());
            }
            notes = notes.get(desc_end..)?;
        }
        None
    }

    /// The objects that were loaded when the program started (before `main`, from this
    /// crate's constructor): those a worker started from the same executable loads too.
    static AT_START: OnceLock<Vec<usize>> = OnceLock::new();

    /// Whether `object` was loaded when the program started (and so stays where it is).
    fn loaded_at_start(object: &Object) -> bool {
        AT_START
            .get()
            .is_some_and(|bases| bases.contains(&object.base))
    }

    /// Takes note of the objects loaded now as those of the program's start (the first
    /// call counts; the constructor makes it before `main`).
    pub(crate) fn remember_start() {
        AT_START.get_or_init(|| loaded().iter().map(|object| object.base).collect());
    }

    /// Digests already computed, by base (an object without a build-id is hashed whole,
    /// once).
    static DIGESTS: Mutex<Option<HashMap<(usize, String), u64>>> = Mutex::new(None);

    fn digest_of(object: &Object) -> u64 {
        // Only an object loaded at start is sure to stay what it was at its base: one
        // loaded later may be closed and another opened there.
        let at_start = loaded_at_start(object);
        if !at_start {
            return object.digest();
        }
        let key = (object.base, object.name.clone());
        if let Some(digest) = DIGESTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashMap::new)
            .get(&key)
        {
            return *digest;
        }
        let digest = object.digest();
        DIGESTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashMap::new)
            .insert(key, digest);
        digest
    }

    /// How another process of this program finds the function at `address`.
    /// Names and addresses already worked out, both ways. Only objects loaded at start
    /// are remembered: they stay where they are for the life of the process. A batch of
    /// one task resolves two names, so without this the loader's list was walked twice a
    /// task (a tenth of the cost of a tiny task on processes).
    static KNOWN: Mutex<Option<Known>> = Mutex::new(None);

    /// Names by address, and addresses by name.
    type Known = (HashMap<usize, Located>, HashMap<Located, usize>);

    fn known<T>(
        use_it: impl FnOnce(&mut (HashMap<usize, Located>, HashMap<Located, usize>)) -> T,
    ) -> T {
        let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
        use_it(known.get_or_insert_with(|| (HashMap::new(), HashMap::new())))
    }

    pub(crate) fn locate(address: usize) -> Result<Located, Unreachable> {
        if let Some(located) = known(|(by_address, _)| by_address.get(&address).copied()) {
            return Ok(located);
        }
        let located = locate_now(address)?;
        known(|(by_address, by_name)| {
            by_address.insert(address, located);
            by_name.insert(located, address);
        });
        Ok(located)
    }

    fn locate_now(address: usize) -> Result<Located, Unreachable> {
        remember_start();
        let objects = loaded();
        let Some(object) = objects.iter().find(|object| object.holds_code(address)) else {
            return Err(Unreachable {
                object: format!("code at {address:#x}"),
                reason: "lies in no loaded object's code (generated at run time?)".to_owned(),
            });
        };
        let at_start = loaded_at_start(object);
        if !at_start {
            return Err(Unreachable {
                object: object.shown_name(),
                reason: "was loaded after the program started (dlopen): a worker started \
                         from the executable does not load it"
                    .to_owned(),
            });
        }
        Ok(Located {
            object: digest_of(object),
            offset: address - object.base,
        })
    }

    /// The address, in this process, of what `located` names: only in the code of a
    /// loaded object with the same digest.
    pub(crate) fn address_of(located: Located) -> Result<usize, Unreachable> {
        if let Some(address) = known(|(_, by_name)| by_name.get(&located).copied()) {
            return Ok(address);
        }
        let (address, at_start) = address_now(located)?;
        if at_start {
            known(|(by_address, by_name)| {
                by_address.insert(address, located);
                by_name.insert(located, address);
            });
        }
        Ok(address)
    }

    /// The address, and whether its object was loaded at start (so stays where it is).
    fn address_now(located: Located) -> Result<(usize, bool), Unreachable> {
        let objects = loaded();
        // The executable and the objects holding a task's code are usually first; the
        // digests of the others are computed once and kept.
        let object = objects
            .iter()
            .find(|object| digest_of(object) == located.object)
            .ok_or_else(|| Unreachable {
                object: format!("the object of digest {:016x}", located.object),
                reason: "is not loaded in this process: it runs another build of the \
                         executable or of one of its libraries (on MPI: install the same \
                         libraries on every host, or link them statically)"
                    .to_owned(),
            })?;
        let address = object.base.wrapping_add(located.offset);
        if !object.holds_code(address) {
            return Err(Unreachable {
                object: object.shown_name(),
                reason: format!("has no code at offset {:#x}", located.offset),
            });
        }
        let at_start = loaded_at_start(object);
        Ok((address, at_start))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_build_id_note_is_found_among_others() {
            let mut notes = Vec::new();
            for (kind, name, desc) in [
                (1_u32, &b"GNU\0"[..], &[7_u8; 16][..]),
                (3, b"GNU\0", &[1, 2, 3, 4, 5]),
            ] {
                notes.extend_from_slice(&u32::try_from(name.len()).unwrap().to_ne_bytes());
                notes.extend_from_slice(&u32::try_from(desc.len()).unwrap().to_ne_bytes());
                notes.extend_from_slice(&kind.to_ne_bytes());
                notes.extend_from_slice(name);
                notes.extend_from_slice(desc);
                notes.resize(notes.len().div_ceil(4) * 4, 0);
            }
            assert_eq!(build_id(&notes), Some(vec![1, 2, 3, 4, 5]));
            assert_eq!(build_id(&notes[..20]), None, "a cut note is no build-id");
            assert_eq!(build_id(&[0xff; 64]), None);
        }

        #[test]
        fn the_executable_and_std_are_objects_loaded_at_start() {
            remember_start();
            let ours = locate(super::super::anchor_address()).unwrap();
            assert_eq!(address_of(ours).unwrap(), super::super::anchor_address());
            let sleep = std::thread::sleep as fn(std::time::Duration) as usize;
            let there = locate(sleep).unwrap();
            assert_eq!(address_of(there).unwrap(), sleep);
        }

        #[test]
        fn a_wrong_digest_or_offset_is_refused() {
            let ours = locate(super::super::anchor_address()).unwrap();
            let other = Located {
                object: ours.object ^ 1,
                offset: ours.offset,
            };
            assert!(address_of(other).is_err());
            let beyond = Located {
                object: ours.object,
                offset: usize::MAX / 2,
            };
            assert!(address_of(beyond).unwrap_err().reason.contains("no code"));
            let data = Box::new(0_u64);
            assert!(
                locate(&raw const *data as usize).is_err(),
                "the heap holds no code"
            );
        }
    }
}

/// Where no loader lists its objects with their segments: only the object that holds this
/// crate's code (found with `dladdr`) can be named, by its path and the offset in it.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod elsewhere {
    use super::{Located, Unreachable};

    fn object_of(address: usize) -> Option<(usize, String)> {
        let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: `dladdr` writes the struct it is given, and only reads the address.
        if unsafe { libc::dladdr(address as *const libc::c_void, info.as_mut_ptr()) } == 0 {
            return None;
        }
        // SAFETY: `dladdr` succeeded, so it filled the struct.
        let info = unsafe { info.assume_init() };
        let name = if info.dli_fname.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated path owned by the loader.
            unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
                .to_string_lossy()
                .into_owned()
        };
        Some((info.dli_fbase as usize, name))
    }

    pub(crate) fn remember_start() {}

    fn ours() -> Option<(usize, String)> {
        object_of(super::anchor_address())
    }

    pub(crate) fn locate(address: usize) -> Result<Located, Unreachable> {
        let (base, name) = object_of(address).ok_or_else(|| Unreachable {
            object: format!("code at {address:#x}"),
            reason: "lies in no loaded object".to_owned(),
        })?;
        match ours() {
            Some((our_base, _)) if our_base == base => Ok(Located {
                object: 0,
                offset: address - base,
            }),
            _ => Err(Unreachable {
                object: name,
                reason: "is not the object that holds parmemo: on this platform only its \
                         functions can be sent to another process"
                    .to_owned(),
            }),
        }
    }

    pub(crate) fn address_of(located: Located) -> Result<usize, Unreachable> {
        let (base, _) = ours().ok_or_else(|| Unreachable {
            object: "parmemo's own object".to_owned(),
            reason: "could not be found".to_owned(),
        })?;
        if located.object != 0 {
            return Err(Unreachable {
                object: format!("object {:016x}", located.object),
                reason: "is not this process's".to_owned(),
            });
        }
        Ok(base.wrapping_add(located.offset))
    }
}
