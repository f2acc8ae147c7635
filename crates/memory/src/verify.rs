//! The arrays of a mapped hit, checked right after it.
//!
//! A hit of an entry with large arrays maps the entry's file and hands the arrays out as
//! slices of the mapping: O(1), whatever their size. Hashing them first would make a hit
//! cost a pass over every byte, so by default the hit returns at once and a background
//! thread hashes the arrays against the checksums stored with them. A mismatch (a file
//! damaged on disk, or written in place by something else) is reported on stderr and the
//! entry is removed, so the next call, through any `Memory` of any process, recomputes:
//! a damaged mapped entry can be served once, never again. `verify_mapped_arrays(true)`
//! hashes before returning instead.

use crate::store::{Key, Store};
use crate::warn::warn;
use std::collections::HashSet;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use twox_hash::XxHash3_64;

/// The arrays of a mapped entry that a hit returned unchecked: the mapping, and each
/// array's place in it with its stored checksum.
pub(crate) struct Unchecked {
    pub(crate) map: Arc<memmap2::Mmap>,
    pub(crate) arrays: Vec<(usize, usize, u64)>,
}

impl Unchecked {
    /// The first array whose bytes do not match their checksum.
    fn first_damaged(&self) -> Option<usize> {
        self.arrays.iter().position(|&(offset, len, checksum)| {
            self.map
                .get(offset..offset + len)
                .is_none_or(|bytes| XxHash3_64::oneshot(bytes) != checksum)
        })
    }
}

/// One check to make: the arrays, and what to remove if they are damaged.
struct Check {
    unchecked: Unchecked,
    store: Arc<dyn Store>,
    key: Key,
    function: String,
}

/// The checker's queue, and the keys queued or being checked: a key hit a thousand
/// times while its check waits is checked once.
struct Checker {
    queue: Sender<Check>,
    pending: Arc<Mutex<HashSet<Key>>>,
    /// Checks finished, for [`settled`].
    done: Arc<(Mutex<u64>, std::sync::Condvar)>,
}

static CHECKER: OnceLock<Mutex<Option<Checker>>> = OnceLock::new();

/// Queues a check of `unchecked`, the arrays of the entry under `key` of `function` in
/// `store`. When no thread can be started, checks here and now.
pub(crate) fn check_later(unchecked: Unchecked, store: Arc<dyn Store>, key: Key, function: &str) {
    let check = Check {
        unchecked,
        store,
        key,
        function: function.to_owned(),
    };
    let slot = CHECKER.get_or_init(|| Mutex::new(start()));
    let guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(checker) = guard.as_ref() else {
        drop(guard);
        run(&check);
        return;
    };
    if !checker
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key)
    {
        return;
    }
    if let Err(refused) = checker.queue.send(check) {
        drop(guard);
        run(&refused.0);
    }
}

fn start() -> Option<Checker> {
    let (queue, checks) = mpsc::channel::<Check>();
    let pending = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new((Mutex::new(0_u64), std::sync::Condvar::new()));
    let (theirs, their_done) = (Arc::clone(&pending), Arc::clone(&done));
    std::thread::Builder::new()
        .name("parmemo-verify".to_owned())
        .spawn(move || {
            for check in checks {
                run(&check);
                theirs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&check.key);
                let (count, changed) = &*their_done;
                *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                changed.notify_all();
            }
        })
        .ok()?;
    Some(Checker {
        queue,
        pending,
        done,
    })
}

fn run(check: &Check) {
    if let Some(array) = check.unchecked.first_damaged() {
        let removed = check.store.remove(&check.key);
        warn(&format!(
            "cache entry {} of {} was served with damaged data (array {array} does not match \
             its checksum: the file changed on disk); {}",
            check.key.to_hex(),
            check.function,
            match removed {
                Ok(()) => "it is removed, so the next call recomputes it. Results computed \
                           from that hit are wrong: rerun them, or set \
                           Memory::verify_mapped_arrays(true) to check before every hit"
                    .to_owned(),
                Err(err) => format!("it could not be removed ({err}): clear the cache"),
            }
        ));
    }
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
    let (pending, done) = (Arc::clone(&checker.pending), Arc::clone(&checker.done));
    drop(guard);
    let (count, changed) = &*done;
    let mut finished = count.lock().unwrap_or_else(PoisonError::into_inner);
    while !pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
    {
        finished = changed
            .wait_timeout(finished, std::time::Duration::from_millis(50))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}
