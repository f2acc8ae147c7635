//! The embedded default store: one sled database, one process at a time.

use super::{EntryInfo, Key, Store};
use crate::MemoryError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Entries in a sled database: the store of [`Memory::sled`](crate::Memory::sled), for
/// one long-running process with many small entries (hits under a microsecond).
///
/// sled takes an exclusive lock on its directory, so one process at a time can use it
/// (another gets [`MemoryError::Locked`], whose message names the files store), and
/// opening it reads its whole log, so a large store takes seconds to open;
/// within a process, every [`open`](Self::open) of one directory shares one database.
/// Entries live in the tree `entries`; the tree `used` keeps each key's last use (in
/// nanoseconds since the epoch) for [`Memory::reduce_size`](crate::Memory::reduce_size).
/// Uses are noted in memory and written in batches of 4 096, and before eviction reads
/// them; uses not yet written when the process ends are lost: this store does not
/// remember the last few thousand uses of a run, and eviction in a later run may remove
/// what the earlier one used most. Use the files store when eviction order matters.
#[derive(Debug)]
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    entries: sled::Tree,
    used: sled::Tree,
    pending_uses: Mutex<HashMap<[u8; 32], [u8; 8]>>,
}

/// How many hits are noted in memory before their times are written.
const USE_BATCH: usize = 4096;

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<SledStore>>>> = LazyLock::new(Mutex::default);

impl SledStore {
    /// Opens (creating it if needed) the store in directory `path`, or returns the one
    /// this process already has open there.
    ///
    /// # Errors
    /// [`MemoryError::Locked`] when another process holds the directory (use
    /// [`Memory::new`](crate::Memory::new) then); [`MemoryError::Io`] or
    /// [`MemoryError::Store`] when it cannot be created or read.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let a = parmemo_memory::SledStore::open(dir.path())?;
    /// let b = parmemo_memory::SledStore::open(dir.path())?;
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<SledStore>, MemoryError> {
        let path = path.as_ref();
        std::fs::create_dir_all(path).map_err(|source| MemoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        let canonical = path.canonicalize().map_err(|source| MemoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = open.get(&canonical).and_then(Weak::upgrade) {
            return Ok(store);
        }
        let db = sled::Config::new()
            .path(&canonical)
            .open()
            .map_err(|err| from_sled(&canonical, err))?;
        let entries = db
            .open_tree("entries")
            .map_err(|err| from_sled(&canonical, err))?;
        let used = db
            .open_tree("used")
            .map_err(|err| from_sled(&canonical, err))?;
        let store = Arc::new(SledStore {
            path: canonical.clone(),
            db,
            entries,
            used,
            pending_uses: Mutex::default(),
        });
        open.insert(canonical, Arc::downgrade(&store));
        Ok(store)
    }

    /// The directory of the database.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = parmemo_memory::SledStore::open(dir.path())?;
    /// assert_eq!(store.path(), dir.path().canonicalize()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Notes a hit for eviction, in memory: a write per hit into a large tree costs more
    /// than the read itself. Pending uses are written in batches, and before anything
    /// that reads them (listing, removing, clearing).
    fn record_use(&self, key: &Key) -> Result<(), MemoryError> {
        let mut pending = self
            .pending_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pending.insert(key.0, now_nanos());
        if pending.len() >= USE_BATCH {
            self.write_uses(&mut pending)?;
        }
        Ok(())
    }

    /// Writes the pending uses to the `used` tree (not flushed: eviction order is best
    /// effort, and a hit should cost no disk write).
    fn write_uses(&self, pending: &mut HashMap<[u8; 32], [u8; 8]>) -> Result<(), MemoryError> {
        for (key, used) in pending.drain() {
            // A use of an entry removed meanwhile must not resurrect its record.
            if self
                .entries
                .contains_key(key)
                .map_err(|err| self.fail(err))?
            {
                self.used.insert(key, &used).map_err(|err| self.fail(err))?;
            }
        }
        Ok(())
    }

    fn apply_pending_uses(&self) -> Result<(), MemoryError> {
        let mut pending = self
            .pending_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.write_uses(&mut pending)
    }

    fn fail(&self, err: sled::Error) -> MemoryError {
        from_sled(&self.path, err)
    }
}

fn from_sled(path: &Path, err: sled::Error) -> MemoryError {
    match err {
        // sled reports a held lock as an I/O error wrapping EWOULDBLOCK.
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock") =>
        {
            MemoryError::Locked {
                path: path.to_owned(),
            }
        }
        sled::Error::Io(source) => MemoryError::Io {
            path: path.to_owned(),
            source,
        },
        other => MemoryError::Store {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

fn now_nanos() -> [u8; 8] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    nanos.to_le_bytes()
}

fn time_of(bytes: &[u8]) -> SystemTime {
    let nanos = bytes.try_into().map_or(0, u64::from_le_bytes);
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

impl Store for SledStore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
        let entry = self.entries.get(key.0).map_err(|err| self.fail(err))?;
        if entry.is_some() {
            self.record_use(key)?;
        }
        Ok(entry.map(|bytes| bytes.to_vec()))
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError> {
        self.entries
            .insert(key.0, entry)
            .map_err(|err| self.fail(err))?;
        self.used
            .insert(key.0, &now_nanos())
            .map_err(|err| self.fail(err))?;
        // sled buffers writes in memory: flush so the entry survives a crash right after.
        self.db.flush().map_err(|err| self.fail(err))?;
        Ok(())
    }

    fn put_many(&self, entries: &[(Key, Vec<u8>)]) -> Result<(), MemoryError> {
        let used = now_nanos();
        for (key, entry) in entries {
            self.entries
                .insert(key.0, entry.as_slice())
                .map_err(|err| self.fail(err))?;
            self.used
                .insert(key.0, &used)
                .map_err(|err| self.fail(err))?;
        }
        // One flush for the whole batch.
        self.db.flush().map_err(|err| self.fail(err))?;
        Ok(())
    }

    fn remove(&self, key: &Key) -> Result<(), MemoryError> {
        self.apply_pending_uses()?;
        self.entries.remove(key.0).map_err(|err| self.fail(err))?;
        self.used.remove(key.0).map_err(|err| self.fail(err))?;
        self.db.flush().map_err(|err| self.fail(err))?;
        Ok(())
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        self.apply_pending_uses()?;
        let mut removed = 0;
        for item in self.entries.scan_prefix(prefix).keys() {
            let key = item.map_err(|err| self.fail(err))?;
            self.entries.remove(&key).map_err(|err| self.fail(err))?;
            self.used.remove(&key).map_err(|err| self.fail(err))?;
            removed += 1;
        }
        self.db.flush().map_err(|err| self.fail(err))?;
        Ok(removed)
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        let mut count = 0;
        for item in self.entries.scan_prefix(prefix).keys() {
            item.map_err(|err| self.fail(err))?;
            count += 1;
        }
        Ok(count)
    }

    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
        self.apply_pending_uses()?;
        let mut infos = Vec::new();
        for item in &self.entries {
            let (key, value) = item.map_err(|err| self.fail(err))?;
            let Ok(key) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            let last_used = self
                .used
                .get(key)
                .map_err(|err| self.fail(err))?
                .map_or(UNIX_EPOCH, |t| time_of(&t));
            infos.push(EntryInfo {
                key: Key(key),
                size: value.len() as u64,
                last_used,
            });
        }
        Ok(infos)
    }

    fn clear(&self) -> Result<(), MemoryError> {
        self.apply_pending_uses()?;
        self.entries.clear().map_err(|err| self.fail(err))?;
        self.used.clear().map_err(|err| self.fail(err))?;
        self.db.flush().map_err(|err| self.fail(err))?;
        Ok(())
    }
}
