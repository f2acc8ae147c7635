//! A size bound that holds itself: [`Bounded`] wraps a store and, as it writes, removes
//! the least recently used entries until the store is back within its limits
//! (`Memory::bytes_limit`, `items_limit`, `age_limit`).
//!
//! The miss path never lists the store. Two things make that possible:
//! - **Totals kept beside the entries** ([`Ledger`]): the bytes and entries the store
//!   holds, in a small file of the cache directory that every bounded `Memory` on it
//!   updates under a lock (`flock`), so several processes share one bound; a store
//!   without a directory keeps them in memory.
//! - **This process's view of the entries in order of use** (an index): built by one
//!   listing on a background thread when the store opens, then kept up to date by this
//!   process's own writes. Eviction takes the oldest entry of the view and reads its last
//!   use again from the store (one `stat`), so an entry another process used meanwhile
//!   moves to the back instead of going. An entry another process removed is skipped, and
//!   one that two processes remove at once is counted once (the unlink says who did).
//!
//! The view and the totals change together, with the view locked: a write or a removal
//! of this process counts in both or in neither when a listing's result replaces the
//! view. Before the first listing is in, only this process's own entries count (the
//! shared totals may be stale, from a directory deleted since); a listing during which
//! another process updated the totals may have missed that process's new entries, so it
//! only ever raises the totals.
//!
//! What a listing would correct, a listing corrects, off the miss path: the totals drift
//! when an unbounded `Memory` writes to the same directory, a process dies between a write
//! and its count, or an entry is replaced; so the listing runs again (on the background
//! thread) after this process wrote half a limit's worth, after an operation that removes
//! many entries at once, and whenever the view runs out before the totals are within
//! bounds. Each listing costs time in proportion to the entries, and comes once per half a
//! limit of writes: constant amortized time per write.

use super::{Entry, EntryInfo, Key, Store};
use crate::{FunctionId, MemoryError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The name of the totals file in a cache directory.
pub(crate) const LEDGER_FILE: &str = ".usage";

/// How many entries one write may evict: a write never does unbounded work; what is left
/// is evicted by the next writes.
const MAX_EVICTIONS_PER_WRITE: usize = 64;

/// The limits a bounded store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) bytes: Option<u64>,
    pub(crate) items: Option<u64>,
    pub(crate) age: Option<Duration>,
}

impl Limits {
    pub(crate) fn any(&self) -> bool {
        self.bytes.is_some() || self.items.is_some() || self.age.is_some()
    }

    /// Whether totals of `bytes` and `items` exceed the limits.
    fn exceeded_by(&self, totals: Totals) -> bool {
        self.bytes.is_some_and(|limit| totals.bytes > limit)
            || self.items.is_some_and(|limit| totals.items > limit)
    }

    /// How much this process writes between two listings: half a limit.
    fn relist_after(&self) -> (u64, u64) {
        (
            self.bytes.map_or(u64::MAX, |limit| (limit / 2).max(1)),
            self.items.map_or(u64::MAX, |limit| (limit / 2).max(1)),
        )
    }
}

/// What a store holds: its bytes and entries; and how many updates the totals have had
/// (so that a listing can tell whether another process wrote while it ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    bytes: u64,
    items: u64,
    updates: u64,
}

/// The totals of a store, shared by the processes that bound it.
#[derive(Debug)]
enum Ledger {
    /// A 24-byte file (bytes, entries, updates; little-endian), read and written under
    /// its lock; the handle is kept open between writes, and opened again after a listing
    /// (the directory may have been deleted and created again meanwhile).
    File {
        path: PathBuf,
        file: Mutex<Option<File>>,
    },
    /// The totals of a store only this process sees.
    Local(Mutex<Totals>),
}

impl Ledger {
    /// Applies `change` to the totals and returns them; `None` when the file cannot be
    /// used (the bound then waits for the next listing).
    fn update(&self, change: impl FnOnce(&mut Totals)) -> Option<Totals> {
        match self {
            Ledger::Local(totals) => {
                let mut totals = totals.lock().unwrap_or_else(PoisonError::into_inner);
                change(&mut totals);
                totals.updates = totals.updates.wrapping_add(1);
                Some(*totals)
            }
            Ledger::File { path, file } => {
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                if file.is_none() {
                    *file = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(path)
                        .ok();
                }
                let file = file.as_ref()?;
                file.lock().ok()?;
                let mut record = [0; 24];
                // A short or missing record is zero: the next listing sets it.
                let read = file.read_at(&mut record, 0).unwrap_or(0);
                let word = |at: usize| {
                    let mut word = [0; 8];
                    word.copy_from_slice(&record[at..at + 8]);
                    u64::from_le_bytes(word)
                };
                let mut totals = Totals::default();
                if read == record.len() {
                    totals = Totals {
                        bytes: word(0),
                        items: word(8),
                        updates: word(16),
                    };
                }
                change(&mut totals);
                totals.updates = totals.updates.wrapping_add(1);
                record[..8].copy_from_slice(&totals.bytes.to_le_bytes());
                record[8..16].copy_from_slice(&totals.items.to_le_bytes());
                record[16..].copy_from_slice(&totals.updates.to_le_bytes());
                let written = file.write_all_at(&record, 0);
                let _ = file.unlock();
                written.ok().map(|()| totals)
            }
        }
    }

    /// Opens the file again at the next update.
    fn reopen(&self) {
        if let Ledger::File { file, .. } = self {
            *file.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

/// This process's view of the store's entries, in order of last use.
#[derive(Debug, Default)]
struct Index {
    by_use: BTreeSet<(SystemTime, Key)>,
    entries: HashMap<Key, (SystemTime, u64)>,
    bytes: u64,
}

impl Index {
    fn insert(&mut self, key: Key, used: SystemTime, size: u64) {
        if let Some((before, before_size)) = self.entries.insert(key, (used, size)) {
            self.by_use.remove(&(before, key));
            self.bytes -= before_size;
        }
        self.by_use.insert((used, key));
        self.bytes += size;
    }

    fn remove(&mut self, key: &Key) {
        if let Some((used, size)) = self.entries.remove(key) {
            self.by_use.remove(&(used, *key));
            self.bytes -= size;
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            bytes: self.bytes,
            items: self.entries.len() as u64,
            updates: 0,
        }
    }

    fn oldest(&self) -> Option<(SystemTime, Key, u64)> {
        let &(used, key) = self.by_use.first()?;
        let size = self.entries.get(&key).map_or(0, |&(_, size)| size);
        Some((used, key, size))
    }
}

/// What the store and its background listing share.
#[derive(Debug)]
struct Shared {
    inner: Arc<dyn Store>,
    limits: Limits,
    ledger: Ledger,
    index: Mutex<Index>,
    /// Whether a listing is running, or asked for.
    listing: AtomicBool,
    /// Whether a listing has completed: before, the shared totals may be stale (counts of
    /// a directory deleted since), so only this process's own entries count.
    listed: AtomicBool,
    /// When the last listing started: entries this process wrote after it are kept when
    /// the listing replaces the view.
    listed_at: Mutex<SystemTime>,
    /// The entries this process removed while a listing ran (`None` when none runs): the
    /// listing may have seen them, and must not bring them back.
    removed_while_listing: Mutex<Option<HashSet<Key>>>,
    /// How many updates of the totals this process made: a listing compares them with
    /// the totals' own count to tell whether another process wrote meanwhile.
    own_updates: AtomicU64,
    /// What this process wrote since the last listing.
    written_bytes: AtomicU64,
    written_items: AtomicU64,
}

impl Shared {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn removed_while_listing(&self) -> MutexGuard<'_, Option<HashSet<Key>>> {
        self.removed_while_listing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets an entry this process removed from the store.
    fn forget(&self, key: &Key) {
        self.index().remove(key);
        if let Some(removed) = self.removed_while_listing().as_mut() {
            removed.insert(*key);
        }
    }

    /// The shared totals as they are (read under the lock, as an update that changes
    /// nothing).
    fn ledger_now(&self) -> Option<Totals> {
        self.update_ledger(|_| {})
    }

    /// Changes the shared totals, counting the update as this process's own.
    fn update_ledger(&self, change: impl FnOnce(&mut Totals)) -> Option<Totals> {
        self.own_updates.fetch_add(1, Ordering::Relaxed);
        self.ledger.update(change)
    }

    /// Rebuilds the view and the totals from a listing of the store.
    fn relist(&self) {
        let started = SystemTime::now();
        *self
            .listed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = started;
        self.written_bytes.store(0, Ordering::Relaxed);
        self.written_items.store(0, Ordering::Relaxed);
        self.ledger.reopen();
        let own_before = self.own_updates.load(Ordering::Relaxed);
        let before = self.update_ledger(|_| {});
        *self.removed_while_listing() = Some(HashSet::new());
        let listed = self.inner.entries();
        // The view and the totals change together: a write or an eviction of this process
        // counts in both, before the listing's result or after it, never in one alone.
        let mut index = self.index();
        // Taken with the view locked: an eviction counted after this sees the new view.
        let removed = self.removed_while_listing().take().unwrap_or_default();
        let Ok(listed) = listed else {
            return;
        };
        let mut fresh = Index::default();
        for info in listed.iter().filter(|info| !removed.contains(&info.key)) {
            fresh.insert(info.key, info.last_used, info.size);
        }
        // What this process wrote while the listing ran may be missing from it.
        for (key, &(used, size)) in &index.entries {
            if used >= started && !fresh.entries.contains_key(key) {
                fresh.insert(*key, used, size);
            }
        }
        *index = fresh;
        let listed = index.totals();
        let own = self.own_updates.load(Ordering::Relaxed) - own_before;
        self.update_ledger(|totals| {
            // Another process's writes during the listing may be missing from it: then the
            // totals only ever grow to the listing's, never shrink below what they count.
            let others_wrote =
                before.is_none_or(|before| totals.updates.wrapping_sub(before.updates) != own - 1);
            if others_wrote {
                totals.bytes = totals.bytes.max(listed.bytes);
                totals.items = totals.items.max(listed.items);
            } else {
                totals.bytes = listed.bytes;
                totals.items = listed.items;
            }
        });
        drop(index);
        self.listed.store(true, Ordering::Release);
    }

    /// Counts a write of `size` bytes under `key` in the view and the totals at once.
    fn count_write(&self, key: &Key, size: u64) -> Option<Totals> {
        let mut index = self.index();
        let replaced = index.entries.get(key).map(|&(_, size)| size);
        index.insert(*key, SystemTime::now(), size);
        let totals = self.update_ledger(|totals| {
            if let Some(before) = replaced {
                // The view knew the entry: the totals count it already.
                totals.bytes = totals.bytes.saturating_sub(before).saturating_add(size);
            } else {
                totals.bytes = totals.bytes.saturating_add(size);
                totals.items = totals.items.saturating_add(1);
            }
        });
        drop(index);
        self.totals(totals)
    }

    /// Removes the entry under `key` (of `size` bytes) from the store, the view and the
    /// totals at once: with the view locked, so that no listing's result lands between
    /// the removal and its count (it would count the entry gone, and the count would
    /// subtract it a second time).
    /// Says whether this call removed it (another process may have been first), and the
    /// totals after.
    fn remove_counted(&self, key: &Key, size: u64) -> Result<(bool, Option<Totals>), MemoryError> {
        let mut index = self.index();
        let removed_here = self.inner.remove_entry(key)?;
        index.remove(key);
        if let Some(removed) = self.removed_while_listing().as_mut() {
            removed.insert(*key);
        }
        if !removed_here {
            // Another process removed it first, and counted it.
            drop(index);
            return Ok((false, self.totals(self.ledger_now())));
        }
        let totals = self.update_ledger(|totals| {
            totals.bytes = totals.bytes.saturating_sub(size);
            totals.items = totals.items.saturating_sub(1);
        });
        drop(index);
        Ok((true, self.totals(totals)))
    }

    /// The totals to hold within the limits: the shared ones once a listing has set
    /// them, this process's own entries before.
    fn totals(&self, shared: Option<Totals>) -> Option<Totals> {
        if self.listed.load(Ordering::Acquire) {
            shared
        } else {
            Some(self.index().totals())
        }
    }
}

/// A store that holds itself within [`Limits`], least recently used entries first.
#[derive(Debug)]
pub(crate) struct Bounded {
    shared: Arc<Shared>,
}

impl Bounded {
    /// `inner` bounded by `limits`; its totals kept in `ledger_dir` (shared with the other
    /// processes bounding a store there) or, without one, in this process.
    pub(crate) fn new(inner: Arc<dyn Store>, limits: Limits, ledger_dir: Option<&Path>) -> Self {
        let ledger = match ledger_dir {
            Some(dir) => Ledger::File {
                path: dir.join(LEDGER_FILE),
                file: Mutex::new(None),
            },
            None => Ledger::Local(Mutex::default()),
        };
        let bounded = Bounded {
            shared: Arc::new(Shared {
                inner,
                limits,
                ledger,
                index: Mutex::default(),
                listing: AtomicBool::new(false),
                listed: AtomicBool::new(false),
                listed_at: Mutex::new(SystemTime::UNIX_EPOCH),
                removed_while_listing: Mutex::new(None),
                own_updates: AtomicU64::new(0),
                written_bytes: AtomicU64::new(0),
                written_items: AtomicU64::new(0),
            }),
        };
        bounded.relist_in_background();
        bounded
    }

    /// Starts a listing on a background thread, unless one is running.
    fn relist_in_background(&self) {
        if self.shared.listing.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("parmemo-bound".to_owned())
            .spawn(move || {
                shared.relist();
                shared.listing.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            // No thread to spare: list here, once, rather than never.
            self.shared.relist();
            self.shared.listing.store(false, Ordering::Release);
        }
    }

    /// Waits for a running listing.
    #[cfg(test)]
    fn settle(&self) {
        while self.shared.listing.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Counts a write of `size` bytes under `key`, then evicts what the limits ask for.
    fn wrote(&self, key: &Key, size: u64) {
        let shared = &self.shared;
        let totals = shared.count_write(key, size);
        let bytes = shared.written_bytes.fetch_add(size, Ordering::Relaxed) + size;
        let items = shared.written_items.fetch_add(1, Ordering::Relaxed) + 1;
        let (relist_bytes, relist_items) = shared.limits.relist_after();
        if bytes >= relist_bytes || items >= relist_items {
            self.relist_in_background();
        }
        self.evict(totals);
    }

    /// Removes the least recently used entries while the totals exceed the limits or the
    /// oldest entry is older than the age limit.
    fn evict(&self, mut totals: Option<Totals>) {
        let shared = &self.shared;
        let limits = shared.limits;
        let too_old = |used: SystemTime| {
            limits.age.is_some_and(|age| {
                SystemTime::now()
                    .duration_since(used)
                    .is_ok_and(|elapsed| elapsed > age)
            })
        };
        for _ in 0..MAX_EVICTIONS_PER_WRITE {
            let over = totals.is_some_and(|totals| limits.exceeded_by(totals));
            let Some((used, key, size)) = shared.index().oldest() else {
                if over {
                    // The totals count entries this view lacks: another process's, or
                    // drift. A listing brings them in.
                    self.relist_in_background();
                }
                return;
            };
            if !over && !too_old(used) {
                return;
            }
            // The store's own record of the entry's last use: another process may have
            // used it since this view saw it.
            match shared.inner.info(&key) {
                Ok(Some(info)) if info.last_used > used && !too_old(info.last_used) => {
                    // Moved to its last use; the view may have been replaced by a listing
                    // since it was read, and then has it already.
                    let mut index = shared.index();
                    if index
                        .entries
                        .get(&key)
                        .is_some_and(|&(_, known)| known == info.size)
                    {
                        index.insert(key, info.last_used, info.size);
                    }
                }
                Ok(None) => shared.forget(&key),
                Ok(Some(info)) => match shared.remove_counted(&key, info.size.max(size)) {
                    Ok((_, after)) => totals = after,
                    Err(_) => return,
                },
                Err(_) => return,
            }
        }
    }
}

impl Store for Bounded {
    fn name_function(&self, function: &FunctionId) {
        self.shared.inner.name_function(function);
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
        self.shared.inner.get(key)
    }

    fn head(&self, key: &Key, bytes: usize) -> Result<Option<(Vec<u8>, u64)>, MemoryError> {
        self.shared.inner.head(key, bytes)
    }

    fn fetch(&self, key: &Key) -> Result<Option<Entry>, MemoryError> {
        self.shared.inner.fetch(key)
    }

    fn info(&self, key: &Key) -> Result<Option<EntryInfo>, MemoryError> {
        self.shared.inner.info(key)
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError> {
        self.shared.inner.put(key, entry)?;
        self.wrote(key, entry.len() as u64);
        Ok(())
    }

    fn put_parts(&self, key: &Key, parts: &[&[u8]]) -> Result<(), MemoryError> {
        self.shared.inner.put_parts(key, parts)?;
        self.wrote(key, parts.iter().map(|part| part.len() as u64).sum());
        Ok(())
    }

    fn put_many(&self, entries: &[(Key, Vec<u8>)]) -> Result<(), MemoryError> {
        self.shared.inner.put_many(entries)?;
        for (key, entry) in entries {
            self.wrote(key, entry.len() as u64);
        }
        Ok(())
    }

    fn remove(&self, key: &Key) -> Result<(), MemoryError> {
        self.remove_entry(key).map(|_| ())
    }

    fn remove_entry(&self, key: &Key) -> Result<bool, MemoryError> {
        if let Some(info) = self.shared.inner.info(key)? {
            return Ok(self.shared.remove_counted(key, info.size)?.0);
        }
        let removed = self.shared.inner.remove_entry(key)?;
        self.shared.forget(key);
        Ok(removed)
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        let removed = self.shared.inner.remove_prefix(prefix)?;
        self.relist_in_background();
        Ok(removed)
    }

    fn remove_other_versions(&self, version: &[u8; 16]) -> Result<(usize, u64), MemoryError> {
        let removed = self.shared.inner.remove_other_versions(version)?;
        if removed.0 > 0 {
            self.relist_in_background();
        }
        Ok(removed)
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        self.shared.inner.count_prefix(prefix)
    }

    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
        self.shared.inner.entries()
    }

    fn clear(&self) -> Result<(), MemoryError> {
        self.shared.inner.clear()?;
        *self.shared.index() = Index::default();
        self.shared.update_ledger(|totals| {
            totals.bytes = 0;
            totals.items = 0;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DirStore;

    fn key(n: u8) -> Key {
        let mut key = [0; 32];
        key[16] = n;
        key[31] = n;
        Key(key)
    }

    #[test]
    fn the_view_evicts_the_oldest_first_and_the_ledger_follows() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(DirStore::open(dir.path()).unwrap());
        let limits = Limits {
            items: Some(3),
            ..Limits::default()
        };
        let bounded = Bounded::new(inner.clone(), limits, Some(dir.path()));
        bounded.settle();
        for n in 0..5 {
            bounded.put(&key(n), &[n; 10]).unwrap();
        }
        let kept: Vec<u8> = (0..5)
            .filter(|&n| inner.get(&key(n)).unwrap().is_some())
            .collect();
        assert_eq!(kept, vec![2, 3, 4]);
        let ledger = std::fs::read(dir.path().join(LEDGER_FILE)).unwrap();
        assert_eq!(&ledger[8..16], &3_u64.to_le_bytes());
        assert_eq!(&ledger[..8], &30_u64.to_le_bytes());
    }

    #[test]
    fn an_entry_used_since_the_view_saw_it_stays() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(DirStore::open(dir.path()).unwrap());
        let limits = Limits {
            items: Some(2),
            ..Limits::default()
        };
        let bounded = Bounded::new(inner.clone(), limits, Some(dir.path()));
        bounded.settle();
        bounded.put(&key(0), b"zero").unwrap();
        bounded.put(&key(1), b"one").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Another process's hit: the file's last use moves, this view does not see it.
        inner.fetch(&key(0)).unwrap();
        bounded.put(&key(2), b"two").unwrap();
        assert!(inner.get(&key(0)).unwrap().is_some(), "used: kept");
        assert!(
            inner.get(&key(1)).unwrap().is_none(),
            "the least recently used"
        );
    }

    #[test]
    fn the_view_and_the_totals_agree_while_listings_run() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(DirStore::open(dir.path()).unwrap());
        let limit = 40 * 1024;
        let limits = Limits {
            bytes: Some(limit),
            ..Limits::default()
        };
        let bounded = Bounded::new(inner.clone(), limits, Some(dir.path()));
        let used = key(200);
        bounded.put(&used, &[2; 928]).unwrap();
        // Listings start every 22 writes here (half the limit), and run while the writes
        // and evictions go on: whatever their timing, the totals stay those of the view.
        for n in 0..300_u16 {
            let mut name = [0; 32];
            name[16..18].copy_from_slice(&n.to_le_bytes());
            bounded.put(&Key(name), &[1; 928]).unwrap();
            if n % 10 == 0 {
                std::thread::sleep(Duration::from_millis(11));
                inner.fetch(&used).unwrap();
            }
            let index = bounded.shared.index();
            if bounded.shared.listing.load(Ordering::Acquire) {
                continue;
            }
            let ledger = std::fs::read(dir.path().join(LEDGER_FILE)).unwrap();
            let word = |at: usize| u64::from_le_bytes(ledger[at..at + 8].try_into().unwrap());
            assert_eq!(
                (word(0), word(8)),
                (index.bytes, index.entries.len() as u64),
                "write {n}"
            );
            assert!(index.bytes <= limit);
        }
        let on_disk = inner.entries().unwrap();
        assert!(on_disk.iter().map(|info| info.size).sum::<u64>() <= limit);
        assert!(
            on_disk.iter().any(|info| info.key == used),
            "the entry in use stays"
        );
    }
}
