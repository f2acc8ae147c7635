//! A size bound that holds itself: [`Bounded`] wraps a store and, as it writes, removes
//! the least recently used entries until the store is back within its limits
//! (`Memory::bytes_limit`, `items_limit`, `age_limit`).
//!
//! The miss path never lists the store, and costs no system call of its own: it counts
//! the write in memory and, when the store is over a limit, wakes a background thread
//! (the keeper) that removes what the limits ask for. What the keeper works from:
//! - **Totals kept beside the entries** ([`Ledger`]): the bytes and entries the store
//!   holds, in a small file of the cache directory that every bounded `Memory` on it
//!   updates under a lock (`flock`), so several processes share one bound; a store
//!   without a directory keeps them in memory. A process adds its own changes to them at
//!   every round of its keeper (at least every 100 ms while it writes).
//! - **This process's view of the entries in order of use** (the view): built by one
//!   listing when the store opens, then kept up to date by this process's own writes.
//!   Eviction takes the oldest entry of the view and reads its last use again from the
//!   store (one `stat`), so an entry another process used meanwhile moves to the back
//!   instead of going. An entry another process removed is skipped, and one that two
//!   processes remove at once is counted once (the unlink says who did).
//!
//! Writes come faster than one thread removes entries only in bursts; then the writer
//! itself removes entries once the store is over a limit by more than a 64th of it (one
//! entry for small limits), so the store never exceeds its limits by more than that, and
//! is within them once the keeper caught up (`Memory::wait_for_checks` waits for it).
//!
//! The view and the changes not yet added to the totals change together, with the view
//! locked: a write or a removal of this process counts in both or in neither when a
//! listing's result replaces the view. Before the first listing is in, only this
//! process's own entries count (the shared totals may be stale, from a directory deleted
//! since). What the listings correct, they correct off the miss path: the totals drift
//! when an unbounded `Memory` writes to the same directory or a process dies before its
//! keeper's next round, so the keeper lists again after this process wrote half a
//! limit's worth, after an operation that removes many entries at once, and whenever the
//! view runs out before the totals are within bounds. A listing during which another
//! process updated the totals may have missed that process's new entries: it only ever
//! raises the totals then. Each listing costs time in proportion to the entries, and
//! comes once per half a limit of writes: constant amortized time per write.

use super::{Entry, EntryInfo, Key, Store};
use crate::{FunctionId, MemoryError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The name of the totals file in a cache directory.
pub(crate) const LEDGER_FILE: &str = ".usage";

/// How often the keeper adds this process's changes to the shared totals, and checks the
/// age limit, when nothing wakes it sooner.
const ROUND: Duration = Duration::from_millis(100);

/// How far over a limit the store may go before a writer removes entries itself: a 64th.
const SLACK_DIVISOR: u64 = 64;

/// How many entries one write may remove itself: a write never does unbounded work.
const MAX_EVICTIONS_PER_WRITE: usize = 8;

/// How far over a limit counts as over: not at all (the keeper's goal), a quarter of the
/// slack (when a writer wakes the keeper: once per many writes for a large limit, at every
/// write over a small one), or the whole slack (when a writer removes entries itself).
#[derive(Debug, Clone, Copy)]
enum Slack {
    None,
    Quarter,
    Full,
}

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

    /// Whether `totals` exceed the limits by more than `slack`.
    fn exceeded_by(&self, totals: Totals, slack: Slack) -> bool {
        let over = |limit: u64, value: u64| {
            let full = (limit / SLACK_DIVISOR).max(1);
            let slack = match slack {
                Slack::None => 0,
                Slack::Quarter => full / 4,
                Slack::Full => full,
            };
            value > limit.saturating_add(slack)
        };
        self.bytes.is_some_and(|limit| over(limit, totals.bytes))
            || self.items.is_some_and(|limit| over(limit, totals.items))
    }

    /// Whether an entry last used at `used` is older than the age limit.
    fn too_old(&self, used: SystemTime) -> bool {
        self.age.is_some_and(|age| {
            SystemTime::now()
                .duration_since(used)
                .is_ok_and(|elapsed| elapsed > age)
        })
    }

    /// How much this process writes between two listings: half a limit.
    fn relist_after(&self) -> (u64, u64) {
        (
            self.bytes.map_or(u64::MAX, |limit| (limit / 2).max(1)),
            self.items.map_or(u64::MAX, |limit| (limit / 2).max(1)),
        )
    }
}

/// What a store holds: its bytes and entries; and how many updates the shared totals
/// have had (so that a listing can tell whether another process wrote while it ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    bytes: u64,
    items: u64,
    updates: u64,
}

/// Changes this process made to the store that the shared totals do not count yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Delta {
    bytes: i64,
    items: i64,
}

impl Delta {
    fn applied_to(self, totals: Totals) -> Totals {
        Totals {
            bytes: totals.bytes.saturating_add_signed(self.bytes),
            items: totals.items.saturating_add_signed(self.items),
            updates: totals.updates,
        }
    }
}

/// A size as a signed change.
fn signed(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The totals of a store, shared by the processes that bound it.
#[derive(Debug)]
enum Ledger {
    /// A 24-byte file (bytes, entries, updates; little-endian), read and written under
    /// its lock; the handle is kept open between updates, and opened again before a
    /// listing (the directory may have been deleted and created again meanwhile).
    File {
        path: PathBuf,
        file: Mutex<Option<File>>,
    },
    /// The totals of a store only this process sees.
    Local(Mutex<Totals>),
}

impl Ledger {
    /// Applies `change` to the totals and returns them; `None` when the file cannot be
    /// used (the bound then waits for the next round).
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

/// This process's view of the store: its entries in order of last use, and its changes
/// the shared totals do not count yet.
#[derive(Debug, Default)]
struct View {
    by_use: BTreeSet<(SystemTime, Key)>,
    entries: HashMap<Key, (SystemTime, u64)>,
    bytes: u64,
    pending: Delta,
    /// The shared totals as last read; `None` until a listing has set them.
    shared: Option<Totals>,
    /// The entries this process removed while a listing ran (`None` when none runs): the
    /// listing may have seen them, and must not bring them back.
    removed_while_listing: Option<HashSet<Key>>,
}

impl View {
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
        if let Some(removed) = self.removed_while_listing.as_mut() {
            removed.insert(*key);
        }
    }

    fn oldest(&self) -> Option<(SystemTime, Key, u64)> {
        let &(used, key) = self.by_use.first()?;
        let size = self.entries.get(&key).map_or(0, |&(_, size)| size);
        Some((used, key, size))
    }

    /// What this process's own view holds.
    fn own_totals(&self) -> Totals {
        Totals {
            bytes: self.bytes,
            items: self.entries.len() as u64,
            updates: 0,
        }
    }

    /// The store's totals as best known: the shared ones with this process's changes,
    /// or, before a listing has set the shared ones, this process's own entries.
    fn estimate(&self) -> Totals {
        match self.shared {
            Some(shared) => self.pending.applied_to(shared),
            None => self.own_totals(),
        }
    }

    /// Counts a write of `size` bytes under `key`.
    fn count_write(&mut self, key: &Key, size: u64) {
        let replaced = self.entries.get(key).map(|&(_, size)| size);
        self.insert(*key, SystemTime::now(), size);
        if let Some(before) = replaced {
            // The view knew the entry: the totals count it already.
            self.pending.bytes += signed(size) - signed(before);
        } else {
            self.pending.bytes += signed(size);
            self.pending.items += 1;
        }
    }

    /// Counts the removal of the entry under `key`, of `size` bytes.
    fn count_removal(&mut self, key: &Key, size: u64) {
        self.remove(key);
        self.pending.bytes -= signed(size);
        self.pending.items -= 1;
    }
}

/// What writers ask of the keeper, and what it has done.
#[derive(Debug, Default)]
struct Requests {
    asked: u64,
    done: u64,
    stop: bool,
}

/// What the store, its writers and its keeper share.
#[derive(Debug)]
struct Shared {
    inner: Arc<dyn Store>,
    limits: Limits,
    ledger: Ledger,
    view: Mutex<View>,
    requests: Mutex<Requests>,
    /// Wakes the keeper (a request) and those waiting for it (a round done).
    signal: Condvar,
    /// Whether the keeper should list the store at its next round.
    relist: AtomicBool,
    /// What this process wrote since the last listing.
    written_bytes: AtomicU64,
    written_items: AtomicU64,
}

impl Shared {
    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn requests(&self) -> MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the keeper for a round, unless one is asked for already.
    fn wake_keeper(&self) {
        let mut requests = self.requests();
        if requests.asked == requests.done {
            requests.asked += 1;
            self.signal.notify_all();
        }
    }

    /// Adds this process's pending changes to the shared totals.
    fn flush(&self) {
        let mut view = self.view();
        if view.shared.is_none() {
            return;
        }
        let pending = view.pending;
        if let Some(totals) = self
            .ledger
            .update(|totals| *totals = pending.applied_to(*totals))
        {
            view.shared = Some(totals);
            view.pending = Delta::default();
        }
    }

    /// Rebuilds the view and the totals from a listing of the store.
    fn relist(&self) {
        let started = SystemTime::now();
        self.written_bytes.store(0, Ordering::Relaxed);
        self.written_items.store(0, Ordering::Relaxed);
        self.ledger.reopen();
        let before = self.ledger.update(|_| {});
        self.view().removed_while_listing = Some(HashSet::new());
        let listed = self.inner.entries();
        // The view and its pending changes are replaced together with the view locked:
        // a write or removal of this process counts before the listing's result or after.
        let mut view = self.view();
        let removed = view.removed_while_listing.take().unwrap_or_default();
        let Ok(listed) = listed else {
            return;
        };
        let mut fresh = View::default();
        for info in listed.iter().filter(|info| !removed.contains(&info.key)) {
            fresh.insert(info.key, info.last_used, info.size);
        }
        // What this process wrote while the listing ran may be missing from it.
        for (key, &(used, size)) in &view.entries {
            if used >= started && !fresh.entries.contains_key(key) {
                fresh.insert(*key, used, size);
            }
        }
        let listed = fresh.own_totals();
        let shared = self.ledger.update(|totals| {
            // The reading above was an update: any other since is another process's,
            // whose new entries the listing may have missed. Then the totals only grow.
            let others_wrote = before.is_none_or(|before| totals.updates != before.updates);
            if others_wrote {
                totals.bytes = totals.bytes.max(listed.bytes);
                totals.items = totals.items.max(listed.items);
            } else {
                totals.bytes = listed.bytes;
                totals.items = listed.items;
            }
        });
        fresh.shared = shared.or(Some(listed));
        *view = fresh;
    }

    /// Removes the least recently used entries while the store is over its limits or its
    /// oldest entry is older than the age limit; at most `budget` removals.
    fn evict(&self, budget: usize) {
        let limits = self.limits;
        let mut removed = 0;
        while removed < budget {
            let (over, oldest) = {
                let view = self.view();
                (
                    limits.exceeded_by(view.estimate(), Slack::None),
                    view.oldest(),
                )
            };
            let Some((used, key, size)) = oldest else {
                if over {
                    // The totals count entries this view lacks: another process's, or
                    // drift. A listing brings them in.
                    self.relist.store(true, Ordering::Relaxed);
                }
                return;
            };
            if !over && !limits.too_old(used) {
                return;
            }
            // The store's own record of the entry's last use: another process may have
            // used it since this view saw it.
            match self.inner.info(&key) {
                Ok(Some(info)) if info.last_used > used && !limits.too_old(info.last_used) => {
                    let mut view = self.view();
                    // The view may have been replaced by a listing since; then it has the
                    // entry's use already.
                    if view
                        .entries
                        .get(&key)
                        .is_some_and(|&(_, known)| known == info.size)
                    {
                        view.insert(key, info.last_used, info.size);
                    }
                }
                Ok(Some(info)) => {
                    if self.remove_counted(&key, info.size.max(size)).is_err() {
                        return;
                    }
                    removed += 1;
                }
                Ok(None) => self.view().remove(&key),
                Err(_) => return,
            }
        }
    }

    /// Removes the entry under `key` (of `size` bytes) from the store and counts it. Says
    /// whether this call removed it (another process may have been first, and counted
    /// it). The view stays locked across the removal and its count, on every thread: no
    /// listing's result may land between them (it would count the entry gone, and the
    /// count would subtract it a second time), and no writer may see the store one entry
    /// fuller than it is and remove one more than the limit asks (an unlink counted after
    /// the lock was let go left 9 entries of a limit of 10 now and then).
    fn remove_counted(&self, key: &Key, size: u64) -> Result<bool, MemoryError> {
        let mut view = self.view();
        let removed = self.inner.remove_entry(key)?;
        if removed {
            view.count_removal(key, size);
        } else {
            view.remove(key);
        }
        Ok(removed)
    }

    /// The keeper: lists the store when asked, adds this process's changes to the shared
    /// totals and removes what the limits ask for, at every request and every round.
    fn keep(&self) {
        loop {
            let goal = {
                let mut requests = self.requests();
                if requests.asked == requests.done && !requests.stop {
                    requests = self
                        .signal
                        .wait_timeout(requests, ROUND)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if requests.stop {
                    drop(requests);
                    self.flush();
                    return;
                }
                requests.asked
            };
            if self.relist.swap(false, Ordering::Relaxed) {
                self.relist();
            }
            self.flush();
            self.evict(usize::MAX);
            self.flush();
            let mut requests = self.requests();
            requests.done = requests.done.max(goal);
            self.signal.notify_all();
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
        let shared = Arc::new(Shared {
            inner,
            limits,
            ledger,
            view: Mutex::default(),
            requests: Mutex::default(),
            signal: Condvar::new(),
            relist: AtomicBool::new(true),
            written_bytes: AtomicU64::new(0),
            written_items: AtomicU64::new(0),
        });
        let keeper = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("parmemo-bound".to_owned())
            .spawn(move || keeper.keep());
        if spawned.is_err() {
            // No thread to spare: the writers hold the bound themselves, from their own
            // entries (no listing, no shared totals).
            shared.requests().stop = true;
        }
        shared.wake_keeper();
        Bounded { shared }
    }

    /// Waits until the keeper has done a round asked for after this call: the store is
    /// then within its limits, as far as this process knows.
    pub(crate) fn settle(&self) {
        let round = {
            let mut requests = self.shared.requests();
            requests.asked += 1;
            self.shared.signal.notify_all();
            requests.asked
        };
        let mut requests = self.shared.requests();
        while requests.done < round && !requests.stop {
            requests = self
                .shared
                .signal
                .wait(requests)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Counts a write of `size` bytes under `key`; wakes the keeper if the store is over a
    /// limit, and removes entries here if it is over by more than the slack.
    fn wrote(&self, key: &Key, size: u64) {
        let shared = &self.shared;
        let estimate = {
            let mut view = shared.view();
            view.count_write(key, size);
            view.estimate()
        };
        let bytes = shared.written_bytes.fetch_add(size, Ordering::Relaxed) + size;
        let items = shared.written_items.fetch_add(1, Ordering::Relaxed) + 1;
        let (relist_bytes, relist_items) = shared.limits.relist_after();
        let relist = bytes >= relist_bytes || items >= relist_items;
        if relist {
            shared.relist.store(true, Ordering::Relaxed);
        }
        if relist || shared.limits.exceeded_by(estimate, Slack::Quarter) {
            shared.wake_keeper();
        }
        if shared.limits.exceeded_by(estimate, Slack::Full) || shared.requests().stop {
            shared.evict(MAX_EVICTIONS_PER_WRITE);
        }
    }
}

impl Drop for Bounded {
    fn drop(&mut self) {
        // The keeper adds what is pending to the shared totals, and ends.
        self.shared.requests().stop = true;
        self.shared.signal.notify_all();
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
            return self.shared.remove_counted(key, info.size);
        }
        let removed = self.shared.inner.remove_entry(key)?;
        self.shared.view().remove(key);
        Ok(removed)
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        let removed = self.shared.inner.remove_prefix(prefix)?;
        self.shared.relist.store(true, Ordering::Relaxed);
        self.shared.wake_keeper();
        Ok(removed)
    }

    fn remove_other_versions(&self, version: &[u8; 16]) -> Result<(usize, u64), MemoryError> {
        let removed = self.shared.inner.remove_other_versions(version)?;
        if removed.0 > 0 {
            self.shared.relist.store(true, Ordering::Relaxed);
            self.shared.wake_keeper();
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
        let mut view = self.shared.view();
        self.shared.inner.clear()?;
        let cleared = self.shared.ledger.update(|totals| {
            totals.bytes = 0;
            totals.items = 0;
        });
        *view = View {
            shared: cleared.or(view.shared),
            ..View::default()
        };
        Ok(())
    }

    fn settle(&self) {
        Bounded::settle(self);
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

    /// A file store in a fresh directory, and a bound on it with its totals there.
    fn bounded(limits: Limits) -> (tempfile::TempDir, Arc<DirStore>, Bounded) {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(DirStore::open(dir.path()).unwrap());
        let bounded = Bounded::new(inner.clone(), limits, Some(dir.path()));
        (dir, inner, bounded)
    }

    #[test]
    fn the_view_evicts_the_oldest_first_and_the_ledger_follows() {
        let (dir, inner, bounded) = bounded(Limits {
            items: Some(3),
            ..Limits::default()
        });
        for n in 0..5 {
            bounded.put(&key(n), &[n; 10]).unwrap();
        }
        bounded.settle();
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
        let (_dir, inner, bounded) = bounded(Limits {
            items: Some(2),
            ..Limits::default()
        });
        bounded.put(&key(0), b"zero").unwrap();
        bounded.put(&key(1), b"one").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Another process's hit: the file's last use moves, this view does not see it.
        inner.fetch(&key(0)).unwrap();
        bounded.put(&key(2), b"two").unwrap();
        bounded.settle();
        assert!(inner.get(&key(0)).unwrap().is_some(), "used: kept");
        assert!(
            inner.get(&key(1)).unwrap().is_none(),
            "the least recently used"
        );
    }

    #[test]
    fn the_view_and_the_totals_agree_while_listings_run() {
        let limit = 40 * 1024;
        let (dir, inner, bounded) = bounded(Limits {
            bytes: Some(limit),
            ..Limits::default()
        });
        let used = key(200);
        bounded.put(&used, &[2; 928]).unwrap();
        // Listings start every 22 writes here (half the limit), and run while the writes
        // and evictions go on: whatever their timing, the totals end as those of the view.
        for n in 0..300_u16 {
            let mut name = [0; 32];
            name[16..18].copy_from_slice(&n.to_le_bytes());
            bounded.put(&Key(name), &[1; 928]).unwrap();
            if n % 10 == 0 {
                std::thread::sleep(Duration::from_millis(11));
                inner.fetch(&used).unwrap();
            }
            if n % 25 == 0 {
                // Once the keeper caught up, the shared totals are those of the view.
                bounded.settle();
                let view = bounded.shared.view();
                let ledger = std::fs::read(dir.path().join(LEDGER_FILE)).unwrap();
                let word = |at: usize| u64::from_le_bytes(ledger[at..at + 8].try_into().unwrap());
                assert_eq!(view.pending, Delta::default());
                let own = (view.bytes, view.entries.len() as u64);
                assert_eq!((word(0), word(8)), own, "write {n}");
                assert!(view.bytes <= limit);
            }
        }
        bounded.settle();
        let on_disk = inner.entries().unwrap();
        assert!(on_disk.iter().map(|info| info.size).sum::<u64>() <= limit);
        assert!(
            on_disk.iter().any(|info| info.key == used),
            "the entry in use stays"
        );
    }
}
