//! The arrays of a mapped hit, checked right after it.
//!
//! A hit of an entry with large arrays maps the entry's file and hands the arrays out as
//! slices of the mapping: O(1), whatever their size. Hashing them first would make a hit
//! cost a pass over every byte, so by default the hit returns at once and a background
//! thread hashes the arrays against the checksums stored with them. A mismatch (a file
//! damaged on disk, or written in place by something else) is reported on stderr and the
//! entry is removed, so the next call, through any `Memory` of any process, recomputes:
//! a damaged mapped entry is served until its check, never after. `verify_mapped_arrays(true)`
//! hashes before returning instead.
//!
//! A loop of hits on one large entry would keep a core busy hashing the same unchanged
//! bytes (and halve the loop's speed on two cores): a file that passed its check is not
//! checked again for [`RECHECK_AFTER`], unless it is another file (a new inode or size:
//! the entry was rewritten). So damage done in place to a file that just passed is found
//! at the first hit after that pause: within a second of the damage, with the hash.

use crate::store::{Key, Store};
use crate::warn::warn;
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hasher;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use twox_hash::XxHash3_64;

/// The arrays of a mapped entry that a hit returned unchecked: the entry's file, and each
/// array's place in it with its stored checksum.
pub(crate) struct Unchecked {
    pub(crate) file: Arc<File>,
    pub(crate) arrays: Vec<(usize, usize, u64)>,
}

impl Unchecked {
    /// The first array whose bytes do not match their checksum (or cannot be read).
    ///
    /// The bytes are read from the file into a small buffer, not through the hit's
    /// mapping: on a local file system both show the same pages, and reading them does
    /// not fault the pages into this process's page tables, which would contend with the
    /// caller's own mappings (a loop of 200 MB mapped hits ran at half speed that way).
    fn first_damaged(&self) -> Option<usize> {
        const CHUNK: usize = 256 << 10;
        let mut buffer = vec![0_u8; CHUNK];
        self.arrays.iter().position(|&(offset, len, checksum)| {
            let mut hasher = XxHash3_64::new();
            let mut at = 0;
            while at < len {
                let part = &mut buffer[..CHUNK.min(len - at)];
                if self.file.read_exact_at(part, (offset + at) as u64).is_err() {
                    return true;
                }
                hasher.write(part);
                at += part.len();
            }
            hasher.finish() != checksum
        })
    }
}

/// How long a file that passed its check is trusted before a hit checks it again.
pub(crate) const RECHECK_AFTER: Duration = Duration::from_millis(250);

/// A file as the checks know it: the same device, inode, length and birth time (an
/// inode number is reused once its file is gone; a new file there has a new birth time).
type FileId = (u64, u64, u64, SystemTime);

/// `None` where the file system does not record births: then every hit is checked.
fn file_id(file: &File) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let metadata = file.metadata().ok()?;
    let born = metadata.created().ok()?;
    Some((metadata.dev(), metadata.ino(), metadata.len(), born))
}

/// The files that passed their check, by key, and when; cleared when it grows past a
/// few thousand keys (a program that hits that many large entries pays a check each).
static PASSED: Mutex<Option<HashMap<Key, (FileId, Instant)>>> = Mutex::new(None);

fn passed_recently(key: &Key, id: Option<FileId>) -> bool {
    let Some(id) = id else { return false };
    PASSED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|passed| passed.get(key))
        .is_some_and(|&(known, when)| known == id && when.elapsed() < RECHECK_AFTER)
}

fn remember_passed(key: Key, id: Option<FileId>, when: Instant) {
    let Some(id) = id else { return };
    let mut passed = PASSED.lock().unwrap_or_else(PoisonError::into_inner);
    let passed = passed.get_or_insert_with(HashMap::new);
    if passed.len() >= 4096 {
        passed.clear();
    }
    passed.insert(key, (id, when));
}

/// One check to make: the arrays, and what to remove if they are damaged.
struct Check {
    unchecked: Unchecked,
    store: Arc<dyn Store>,
    key: Key,
    /// The entry's file (as far as it can be told), for the pending checks.
    id: Option<FileId>,
    function: String,
}

/// A check as the queue counts it: the same key in two stores (two cache directories)
/// is two files, so the file is part of it.
type Pending = HashMap<(Key, Option<FileId>), usize>;

/// The checks queued or running, and the signal that one ended (for [`settled`]).
type Queued = Arc<(Mutex<Pending>, Condvar)>;

/// The checker's queue, and the checks queued or running: a file hit a thousand times
/// while its check waits is checked once (a file that cannot be told apart, each time).
struct Checker {
    queue: Sender<Check>,
    pending: Queued,
}

/// Counts the check of `slot` as ended, and wakes [`settled`].
fn finished(queued: &Queued, slot: (Key, Option<FileId>)) {
    let (pending, changed) = &**queued;
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(count) = pending.get_mut(&slot) {
        *count -= 1;
        if *count == 0 {
            pending.remove(&slot);
        }
    }
    changed.notify_all();
}

static CHECKER: OnceLock<Mutex<Option<Checker>>> = OnceLock::new();

/// Queues a check of `unchecked`, the arrays of the entry under `key` of `function` in
/// `store`. When no thread can be started, checks here and now.
pub(crate) fn check_later(unchecked: Unchecked, store: Arc<dyn Store>, key: Key, function: &str) {
    let id = file_id(&unchecked.file);
    if passed_recently(&key, id) {
        return;
    }
    let check = Check {
        unchecked,
        store,
        key,
        id,
        function: function.to_owned(),
    };
    let slot = CHECKER.get_or_init(|| Mutex::new(start()));
    let guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(checker) = guard.as_ref() else {
        drop(guard);
        run(&check);
        return;
    };
    {
        let mut pending = checker
            .pending
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let queued = pending.entry((key, id)).or_insert(0);
        if *queued > 0 && id.is_some() {
            return;
        }
        *queued += 1;
    }
    if let Err(refused) = checker.queue.send(check) {
        // The checker thread is gone: check here, and let `settled` not wait for it.
        finished(&checker.pending, (key, id));
        drop(guard);
        run(&refused.0);
    }
}

fn start() -> Option<Checker> {
    let (queue, checks) = mpsc::channel::<Check>();
    let pending: Queued = Arc::new((Mutex::new(Pending::new()), Condvar::new()));
    let theirs = Arc::clone(&pending);
    std::thread::Builder::new()
        .name("parmemo-verify".to_owned())
        .spawn(move || {
            for check in checks {
                // A check that panicked still ends, so that `settled` never waits forever.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&check)));
                finished(&theirs, (check.key, check.id));
            }
        })
        .ok()?;
    Some(Checker { queue, pending })
}

fn run(check: &Check) {
    // Taken before the hashing, so the pause counts from what the hash saw.
    let started = Instant::now();
    let Some(array) = check.unchecked.first_damaged() else {
        remember_passed(check.key, check.id, started);
        return;
    };
    let removed = check.store.remove(&check.key);
    warn(&format!(
        "cache entry {} of {} was served with damaged data (array {array} does not match its \
         checksum: the file changed on disk); {}",
        check.key.to_hex(),
        check.function,
        match removed {
            Ok(()) => "it is removed, so the next call recomputes it. Results computed from \
                       that hit are wrong: rerun them, or set \
                       Memory::verify_mapped_arrays(true) to check before every hit"
                .to_owned(),
            Err(err) => format!("it could not be removed ({err}): clear the cache"),
        }
    ));
}

/// Waits until every check queued so far has been made (for tests, and for a program
/// that wants to know its mapped hits were sound before it exits).
pub(crate) fn settled() {
    let Some(slot) = CHECKER.get() else {
        return;
    };
    let guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(checker) = guard.as_ref() else {
        return;
    };
    let queued = Arc::clone(&checker.pending);
    drop(guard);
    let (pending, changed) = &*queued;
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    while !pending.is_empty() {
        pending = changed
            .wait(pending)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
