//! What a [`DirStore`] holds, function by function and version by version: what the
//! `cache` example prints, and the clearing it offers (one function, or the versions of
//! a function other than its latest).

use super::dir::VERSION_NOTE;
use super::{hex, DirStore, Key, Store};
use crate::MemoryError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One function's entries in a [`DirStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    /// The function's path as its folders spell it (`my_crate::fits::robust_center`), or
    /// the hex digest of an entry folder written before folders had names.
    pub name: String,
    /// The hex digest of the function's name: the first 8 bytes of its keys.
    pub digest: String,
    /// The folder holding its entries.
    pub folder: PathBuf,
    /// Its code versions, the latest first.
    pub versions: Vec<VersionSummary>,
    /// The digest's bytes, which the clearing methods remove by.
    name_digest: [u8; 8],
}

/// The entries of one code version of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    /// The version's hex (bytes 8 to 16 of its keys: the code and codec version).
    pub version: String,
    /// How many entries it has.
    pub entries: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// When one of them was last written or read.
    pub last_used: SystemTime,
    /// Whether it is the function's latest version: the one that last stored a result
    /// (as the function's folder records), or the most recently used without a record.
    pub latest: bool,
    /// The version's bytes.
    version_bytes: [u8; 8],
}

impl FunctionSummary {
    /// All its entries' count.
    #[must_use]
    pub fn entries(&self) -> usize {
        self.versions.iter().map(|version| version.entries).sum()
    }

    /// All its entries' bytes.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.versions.iter().map(|version| version.bytes).sum()
    }

    /// Whether `query` names this function: its whole path, its last segments
    /// (`fits::robust_center`, `robust_center`), or its digest.
    #[must_use]
    pub fn is_named(&self, query: &str) -> bool {
        self.digest == query
            || self.name == query
            || self
                .name
                .strip_suffix(query)
                .is_some_and(|head| head.ends_with("::"))
    }
}

impl DirStore {
    /// Every function with entries in the store, with its versions: one walk of the
    /// entries, which reads their sizes and last uses.
    ///
    /// # Errors
    /// [`MemoryError::Io`] when a folder cannot be read.
    ///
    /// ```
    /// use parmemo_memory::{DirStore, FunctionId, Memory};
    /// use std::sync::Arc;
    /// static FIT: FunctionId = FunctionId::new("my_crate::fits", "robust_center", 1);
    /// let dir = tempfile::tempdir()?;
    /// let store = Arc::new(DirStore::open(dir.path())?);
    /// let memory = Memory::with_store(store.clone());
    /// memory.call(&FIT, &1_u8, || 2.0_f64);
    /// let functions = store.functions()?;
    /// assert_eq!(functions[0].name, "my_crate::fits::robust_center");
    /// assert_eq!(functions[0].entries(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn functions(&self) -> Result<Vec<FunctionSummary>, MemoryError> {
        let folders = self.layout.scan().map_err(|source| MemoryError::Io {
            path: self.root().to_owned(),
            source,
        })?;
        let mut functions = Vec::new();
        for (digest, folder) in folders {
            let mut versions: BTreeMap<[u8; 8], VersionSummary> = BTreeMap::new();
            // This folder alone: an unnamed folder left beside the named one (a move that
            // failed) is its own line, not counted twice.
            let this_folder = [(digest, folder)];
            Self::walk_folders(&this_folder, &digest, |key, path| {
                let Ok(meta) = std::fs::metadata(path) else {
                    return Ok(());
                };
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let version_bytes = version_of(&key);
                let version = versions
                    .entry(version_bytes)
                    .or_insert_with(|| VersionSummary {
                        version: hex(&version_bytes),
                        entries: 0,
                        bytes: 0,
                        last_used: SystemTime::UNIX_EPOCH,
                        latest: false,
                        version_bytes,
                    });
                version.entries += 1;
                version.bytes += meta.len();
                version.last_used = version.last_used.max(used);
                Ok(())
            })?;
            let mut versions: Vec<VersionSummary> = versions.into_values().collect();
            if versions.is_empty() {
                continue;
            }
            let [(digest, folder)] = this_folder;
            mark_latest(&mut versions, &folder);
            versions.sort_by_key(|version| (!version.latest, std::cmp::Reverse(version.last_used)));
            functions.push(FunctionSummary {
                name: name_of(self.root(), &folder),
                digest: hex(&digest),
                folder,
                versions,
                name_digest: digest,
            });
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(functions)
    }

    /// Removes the entries of `function`'s versions other than its latest; returns how
    /// many, and their bytes.
    ///
    /// # Errors
    /// [`MemoryError::Io`] when an entry cannot be removed.
    pub fn clear_stale(&self, function: &FunctionSummary) -> Result<(usize, u64), MemoryError> {
        let Some(latest) = function.versions.iter().find(|version| version.latest) else {
            return Ok((0, 0));
        };
        let mut prefix = [0; 16];
        prefix[..8].copy_from_slice(&function.name_digest);
        prefix[8..].copy_from_slice(&latest.version_bytes);
        self.remove_versions_except(&prefix)
    }

    /// Removes every entry of `function`, all versions; returns how many.
    ///
    /// # Errors
    /// [`MemoryError::Io`] when an entry cannot be removed.
    pub fn clear_function(&self, function: &FunctionSummary) -> Result<usize, MemoryError> {
        self.remove_prefix(&function.name_digest)
    }
}

/// Bytes 8 to 16 of a key: its function's code and codec version.
fn version_of(key: &Key) -> [u8; 8] {
    let mut version = [0; 8];
    version.copy_from_slice(&key.as_bytes()[8..16]);
    version
}

/// Marks the version the folder's note names, or else the most recently used, latest.
fn mark_latest(versions: &mut [VersionSummary], folder: &Path) {
    let noted = std::fs::read_to_string(folder.join(VERSION_NOTE)).unwrap_or_default();
    // The note holds the whole 16-byte prefix: the name digest, then the version.
    let noted = noted.get(16..).unwrap_or_default();
    let index = versions
        .iter()
        .position(|version| version.version == noted)
        .or_else(|| {
            versions
                .iter()
                .enumerate()
                .max_by_key(|(_, version)| version.last_used)
                .map(|(index, _)| index)
        });
    if let Some(index) = index {
        versions[index].latest = true;
    }
}

/// A function folder's path as a Rust path: `a/b/f-<digest>` is `a::b::f`.
fn name_of(root: &Path, folder: &Path) -> String {
    let relative = folder.strip_prefix(root).unwrap_or(folder);
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        if let Some((function, _digest)) = last.rsplit_once('-') {
            *last = function.to_owned();
        }
    }
    parts.join("::")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FunctionId, Memory};
    use std::sync::Arc;

    static FIT: FunctionId = FunctionId::new("c::fits", "center", 1);

    #[test]
    fn an_unnamed_folder_left_beside_the_named_one_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(DirStore::open(dir.path()).unwrap());
        let memory = Memory::with_store(store.clone());
        memory.call(&FIT, &1_u8, || 1_u8);
        memory.call(&FIT, &2_u8, || 2_u8);
        // What a move that failed leaves: one entry still in `<digest>/<shard>/`.
        let key = FIT.key(&3_u8).unwrap();
        let named = store.path_of(&FIT.key(&1_u8).unwrap());
        let unnamed = dir
            .path()
            .join(hex(&key.as_bytes()[..8]))
            .join(hex(&key.as_bytes()[16..17]));
        std::fs::create_dir_all(&unnamed).unwrap();
        std::fs::copy(
            named,
            unnamed.join(format!("{}.pmc", hex(&key.as_bytes()[8..]))),
        )
        .unwrap();
        let functions = store.functions().unwrap();
        let counts: Vec<(String, usize)> = functions
            .iter()
            .map(|function| (function.name.clone(), function.entries()))
            .collect();
        assert_eq!(
            counts,
            [
                ("c::fits::center".to_owned(), 2),
                (hex(&key.as_bytes()[..8]), 1)
            ]
        );
        assert_eq!(
            store.clear_function(&functions[0]).unwrap(),
            3,
            "both folders"
        );
    }
}
