//! One file per entry: the default store ([`Memory::new`](crate::Memory::new)), safe for
//! many processes at once and for network file systems.

use super::filesystem::shared_file_system;
use super::layout::Layout;
use super::{hex, unhex, Entry, EntryInfo, Key, Store};
use crate::{FunctionId, MemoryError};
use std::fs::{self, File};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Entries as files: `root/<crate>/<module>/<function>-<digest>/<shard>/<version and
/// arguments>.pmc`.
///
/// A function's folder is named after its path and the hex of its name's digest (the
/// first 8 bytes of its keys), so that `ls` and `du` say which function holds what and
/// clearing one function removes one folder; a key stored without its function's name
/// (through this type directly) goes to `root/<digest>/`, and moves to the readable
/// folder when a `Memory` first calls the function. `<shard>` is the first byte of the arguments' hash (256 shards:
/// a shard holds a 256th of a function's entries, so a million entries of one function
/// make directories of about 4 000 files), and the file name the rest of the key. An
/// entry is written to a temporary file in its shard, then renamed over its final name:
/// readers in any process see the old entry, the new one, or none, never a part.
///
/// What is synced to the disk before the rename: entries of 1 MiB or more (those a hit
/// maps, whose arrays are handed out before their checksums are read), and every entry
/// when [`durable`](Self::durable) asks for it. A small entry is read and checked whole
/// at every hit, so one torn by a power loss before the kernel wrote it back reads as
/// damaged (a miss, reported and recomputed), never as a wrong result; skipping its sync
/// makes a miss several times cheaper.
/// Directories removed meanwhile (the whole cache deleted under a running program) are
/// created again at the next write. The file's modification time is its last use, moved
/// forward by reads (to within 10 ms: a hit loop does not rewrite it each time;
/// `check_call_in_cache` reads the header alone and does not count); in a read-only
/// cache that fails quietly and hits are served all the same.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    durable: bool,
    pub(super) layout: Layout,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const SUFFIX: &str = ".pmc";

/// The file in a function's folder that names the version that last cleared the others.
pub(super) const VERSION_NOTE: &str = ".version";

/// How finely last uses are recorded: far below any eviction policy's scale, far above
/// the time between the hits of a loop.
const USE_RESOLUTION: std::time::Duration = std::time::Duration::from_millis(10);

impl DirStore {
    /// The store in directory `root`, created if needed.
    ///
    /// # Errors
    /// [`MemoryError::Io`] when the directory cannot be created.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = parmemo_memory::DirStore::open(dir.path().join("cache"))?;
    /// assert!(store.root().is_dir());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(root: impl AsRef<Path>) -> Result<DirStore, MemoryError> {
        let root = root.as_ref().to_owned();
        fs::create_dir_all(&root).map_err(|source| MemoryError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(DirStore {
            layout: Layout::new(&root),
            root,
            durable: false,
        })
    }

    /// Whether every entry is synced to the disk before it is renamed into place (an
    /// `fdatasync` per write, which costs more than the rest of a small miss), so that a
    /// result a call returned survives a power loss. Off by default: a small entry lost or
    /// torn by a power loss is a miss, since every entry is checksummed; entries that hits
    /// map (1 MiB and up) are synced either way.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = parmemo_memory::DirStore::open(dir.path())?.durable(true);
    /// assert!(store.is_durable());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Whether every write is synced (see [`durable`](Self::durable)).
    #[must_use]
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// The store's directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = parmemo_memory::DirStore::open(dir.path())?;
    /// assert_eq!(store.root(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the entry of `key` lives.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = parmemo_memory::DirStore::open(dir.path())?;
    /// let key = parmemo_memory::FunctionId::new("m", "f", 1).key(&1_u8)?;
    /// assert!(store.path_of(&key).starts_with(dir.path()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path_of(&self, key: &Key) -> PathBuf {
        let mut path = self.layout.folder(function_digest(key));
        path.push(hex(&key.0[16..17]));
        path.push(format!("{}{SUFFIX}", hex(&key.0[8..])));
        path
    }

    fn io(path: &Path, source: std::io::Error) -> MemoryError {
        MemoryError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Calls `visit` with the key and path of every entry whose key starts with
    /// `prefix`. A prefix that names a function reads that function's folder alone.
    pub(super) fn walk(
        &self,
        prefix: &[u8],
        visit: impl FnMut(Key, &Path) -> Result<(), MemoryError>,
    ) -> Result<(), MemoryError> {
        let folders = match <[u8; 8]>::try_from(prefix.get(..8).unwrap_or(&[])) {
            Ok(name) => self
                .layout
                .folders_of(name)
                .into_iter()
                .map(|folder| (name, folder))
                .collect(),
            Err(_) => self
                .layout
                .scan()
                .map_err(|source| Self::io(&self.root, source))?,
        };
        Self::walk_folders(&folders, prefix, visit)
    }

    /// [`walk`](Self::walk) over the given function folders, each with its name digest.
    pub(super) fn walk_folders(
        folders: &[([u8; 8], PathBuf)],
        prefix: &[u8],
        mut visit: impl FnMut(Key, &Path) -> Result<(), MemoryError>,
    ) -> Result<(), MemoryError> {
        let wanted = hex(prefix);
        for (name, function) in folders {
            let function_hex = hex(name);
            if !prefix_matches(&function_hex, &wanted) {
                continue;
            }
            for shard in read_dir_or_empty(function)? {
                // A function's folder holds its shards, and the note of its last version.
                if file_name(&shard).starts_with('.') {
                    continue;
                }
                for file in read_dir_or_empty(&shard)? {
                    let name = file_name(&file);
                    let Some(rest_hex) = name.strip_suffix(SUFFIX) else {
                        continue;
                    };
                    let full = format!("{function_hex}{rest_hex}");
                    if !prefix_matches(&full, &wanted) {
                        continue;
                    }
                    if let Some(key) = parse_key(&full) {
                        visit(key, &file)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl DirStore {
    /// Removes the entries of the function whose keys start with `version[..8]` but not
    /// with all of `version`: its other code versions. Returns how many, and their bytes.
    /// One function's entries share its folder: only that folder is read.
    pub(super) fn remove_versions_except(
        &self,
        version: &[u8; 16],
    ) -> Result<(usize, u64), MemoryError> {
        let mut removed = (0, 0);
        self.walk(&version[..8], |key, path| {
            if key.as_bytes().starts_with(version) {
                return Ok(());
            }
            let size = fs::metadata(path).map_or(0, |meta| meta.len());
            ignore_missing(fs::remove_file(path)).map_err(|source| Self::io(path, source))?;
            removed.0 += 1;
            removed.1 += size;
            Ok(())
        })?;
        Ok(removed)
    }
}

/// The first 8 bytes of a key: its function's name digest.
fn function_digest(key: &Key) -> [u8; 8] {
    let mut name = [0; 8];
    name.copy_from_slice(&key.0[..8]);
    name
}

/// Whether `full` (hex) starts with `prefix` (hex), comparing only the shorter length.
fn prefix_matches(full: &str, prefix: &str) -> bool {
    let n = full.len().min(prefix.len());
    full[..n] == prefix[..n]
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parse_key(hex_key: &str) -> Option<Key> {
    unhex(hex_key).map(Key)
}

/// The entries of a directory; a directory that does not exist (another process just
/// removed it) has none.
fn read_dir_or_empty(dir: &Path) -> Result<Vec<PathBuf>, MemoryError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(Result::ok).map(|e| e.path()).collect()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(DirStore::io(dir, source)),
    }
}

/// Entries at least this large are mapped rather than read (their arrays are
/// page-aligned in the file for it).
const MAP_ABOVE: u64 = super::MAPPED_FROM;

impl DirStore {
    /// The entry under `key`, mapped when it has at least `map_above` bytes.
    fn fetch_as(&self, key: &Key, map_above: u64) -> Result<Option<Entry>, MemoryError> {
        let path = self.path_of(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Self::io(&path, source)),
        };
        let metadata = file.metadata().map_err(|source| Self::io(&path, source))?;
        // The last use, for eviction; best effort (a read-only cache still serves hits).
        // Writing a file's times costs as much as reading a small entry, so a use within
        // `USE_RESOLUTION` of the last recorded one is not written again.
        let now = SystemTime::now();
        let recent = metadata.modified().is_ok_and(|used| {
            now.duration_since(used)
                .is_ok_and(|age| age < USE_RESOLUTION)
        });
        if !recent {
            let _ = file.set_modified(now);
        }
        if metadata.len() >= map_above && shared_file_system(&file).is_none() {
            // SAFETY: entries are written to a temporary file and renamed into place,
            // never written or truncated in place, so the mapped bytes do not change
            // (a replaced or removed entry keeps its old inode alive under the map, which
            // only a local file system promises: on others the entry is read, above).
            // A process that writes an entry file in place is outside the threat model
            // (SECURITY.md); accidental damage is found by the arrays' checksums, checked
            // after the hit (`Memory`'s background check).
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) };
            let map = map.map_err(|source| Self::io(&path, source))?;
            return Ok(Some(Entry::Mapped {
                map: Arc::new(map),
                file: Arc::new(file),
            }));
        }
        let mut entry = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        // Reading exactly the file's length spares the read that would find its end.
        (&file)
            .take(metadata.len())
            .read_to_end(&mut entry)
            .map_err(|source| Self::io(&path, source))?;
        Ok(Some(Entry::Owned(entry)))
    }
}

fn write_entry(mut file: File, parts: &[&[u8]], sync: bool) -> std::io::Result<()> {
    // One `writev` for the header, the payload and the arrays: a small miss is a handful
    // of system calls, and each one shows.
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|part| IoSlice::new(part)).collect();
    let mut remaining = &mut slices[..];
    let len: u64 = parts.iter().map(|part| part.len() as u64).sum();
    while !remaining.is_empty() {
        match file.write_vectored(remaining) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut remaining, written),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    // The kernel stamps writes with a coarse clock (one tick, milliseconds), so entries
    // written in a burst would tie for eviction; the precise time orders them.
    file.set_modified(SystemTime::now())?;
    // A mapped entry's arrays are served before their checksums are read: it must be
    // whole on the disk before its name appears.
    if sync || len >= MAP_ABOVE {
        file.sync_data()?;
    }
    Ok(())
}

/// A new temporary file for an entry of `key` in `shard`, opened only if no file had its
/// name. The name holds the process id, but ids repeat: in another pid namespace (two
/// containers on one cache) or after a killed writer left its file. Opening an existing
/// one would mix two writers' bytes in one entry.
fn create_temp(shard: &Path, key: &Key) -> std::io::Result<(PathBuf, File)> {
    let mut attempts = 0;
    loop {
        let temp = shard.join(temp_name(key, TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Err(err) if err.kind() == ErrorKind::AlreadyExists && attempts < 64 => {
                attempts += 1;
            }
            opened => return opened.map(|file| (temp, file)),
        }
    }
}

/// The name of this process's `n`th temporary file for an entry of `key`.
fn temp_name(key: &Key, n: u64) -> String {
    format!(".{}.{}.{n}.tmp", hex(&key.0[16..24]), std::process::id())
}

fn ignore_missing(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl Store for DirStore {
    fn name_function(&self, function: &FunctionId) {
        self.layout
            .name_with(function.name_prefix(), || function.qualified_name());
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, MemoryError> {
        match self.fetch_as(key, u64::MAX)? {
            Some(Entry::Owned(bytes)) => Ok(Some(bytes)),
            Some(mapped) => Ok(Some(mapped.bytes().to_vec())),
            None => Ok(None),
        }
    }

    fn fetch(&self, key: &Key) -> Result<Option<Entry>, MemoryError> {
        self.fetch_as(key, MAP_ABOVE)
    }

    fn head(&self, key: &Key, bytes: usize) -> Result<Option<(Vec<u8>, u64)>, MemoryError> {
        let path = self.path_of(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Self::io(&path, source)),
        };
        let total = file
            .metadata()
            .map_err(|source| Self::io(&path, source))?
            .len();
        let mut head = Vec::with_capacity(bytes);
        file.take(bytes as u64)
            .read_to_end(&mut head)
            .map_err(|source| Self::io(&path, source))?;
        Ok(Some((head, total)))
    }

    fn info(&self, key: &Key) -> Result<Option<EntryInfo>, MemoryError> {
        let path = self.path_of(key);
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(EntryInfo {
                key: *key,
                size: meta.len(),
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Self::io(&path, source)),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), MemoryError> {
        self.put_parts(key, &[entry])
    }

    fn put_parts(&self, key: &Key, parts: &[&[u8]]) -> Result<(), MemoryError> {
        let path = self.path_of(key);
        let shard = path.parent().unwrap_or(&self.root);
        // The shard usually exists: creating its folders first would cost every write a
        // failed `mkdir` per level.
        let created = match create_temp(shard, key) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                fs::create_dir_all(shard).and_then(|()| create_temp(shard, key))
            }
            created => created,
        };
        let (temp, file) = created.map_err(|source| Self::io(shard, source))?;
        let written = write_entry(file, parts, self.durable);
        if let Err(source) = written.and_then(|()| fs::rename(&temp, &path)) {
            let _ = fs::remove_file(&temp);
            return Err(Self::io(&path, source));
        }
        Ok(())
    }

    fn remove(&self, key: &Key) -> Result<(), MemoryError> {
        self.remove_entry(key).map(|_| ())
    }

    fn remove_entry(&self, key: &Key) -> Result<bool, MemoryError> {
        let path = self.path_of(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Self::io(&path, source)),
        }
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        let mut removed = 0;
        self.walk(prefix, |_, path| {
            ignore_missing(fs::remove_file(path)).map_err(|source| Self::io(path, source))?;
            removed += 1;
            Ok(())
        })?;
        Ok(removed)
    }

    fn remove_other_versions(&self, version: &[u8; 16]) -> Result<(usize, u64), MemoryError> {
        // A note in the function's folder names the version that last cleared the others:
        // a process of the same build reads it and is done, instead of listing every
        // entry (a worker's first store would otherwise read a folder of 100 000 files).
        // A note that is missing, torn or another version's only costs the listing.
        let mut name = [0; 8];
        name.copy_from_slice(&version[..8]);
        let note = self.layout.folder(name).join(VERSION_NOTE);
        let current = hex(version);
        if fs::read_to_string(&note).is_ok_and(|noted| noted == current) {
            return Ok((0, 0));
        }
        let removed = self.remove_versions_except(version)?;
        // Best effort: a read-only cache cannot take the note, and lists again next time.
        let _ = fs::write(&note, current);
        Ok(removed)
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, MemoryError> {
        let mut count = 0;
        self.walk(prefix, |_, _| {
            count += 1;
            Ok(())
        })?;
        Ok(count)
    }

    fn entries(&self) -> Result<Vec<EntryInfo>, MemoryError> {
        let mut infos = Vec::new();
        self.walk(&[], |key, path| {
            // An entry removed by another process between listing and reading is gone.
            if let Ok(meta) = fs::metadata(path) {
                infos.push(EntryInfo {
                    key,
                    size: meta.len(),
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
            Ok(())
        })?;
        Ok(infos)
    }

    fn clear(&self) -> Result<(), MemoryError> {
        for function in read_dir_or_empty(&self.root)? {
            // Dot names hold the caches' own records (the size limit's totals, the
            // workers' tallies), not entries.
            if function.is_dir() && !file_name(&function).starts_with('.') {
                ignore_missing(fs::remove_dir_all(&function))
                    .map_err(|source| Self::io(&function, source))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_left_at_the_next_name_is_never_reopened() {
        let shard = tempfile::tempdir().unwrap();
        let key = Key([7; 32]);
        // The names the next writes of this process would take, as a killed writer of the
        // same id (another container, or before a restart) leaves them.
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        let planted: Vec<PathBuf> = (next..next + 8)
            .map(|n| {
                let path = shard.path().join(temp_name(&key, n));
                fs::write(&path, b"the other writer's bytes").unwrap();
                path
            })
            .collect();
        let (temp, mut file) = create_temp(shard.path(), &key).unwrap();
        file.write_all(b"ours").unwrap();
        assert!(!planted.contains(&temp), "{temp:?} was reopened");
        for path in &planted {
            assert_eq!(fs::read(path).unwrap(), b"the other writer's bytes");
        }
        assert_eq!(fs::read(&temp).unwrap(), b"ours");
    }

    #[test]
    fn a_symlink_planted_at_the_next_name_is_never_followed() {
        // Another user who can write the shard links the next names to a file this user
        // owns: opening them as before (create and truncate) would have emptied it.
        let shard = tempfile::tempdir().unwrap();
        let victim = shard.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let key = Key([9; 32]);
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        for n in next..next + 8 {
            std::os::unix::fs::symlink(&victim, shard.path().join(temp_name(&key, n))).unwrap();
        }
        let (temp, mut file) = create_temp(shard.path(), &key).unwrap();
        file.write_all(b"ours").unwrap();
        assert!(!fs::symlink_metadata(&temp).unwrap().is_symlink());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }
}
