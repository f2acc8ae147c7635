//! Where a function's entries live in a [`DirStore`](super::DirStore): a folder named
//! after the function, `<crate>/<module>/<function>-<digest>/`, so that `ls` and `du` say
//! what is where (joblib names its folders the same way).
//!
//! The digest (the first 8 bytes of every key of the function, in hex) is what makes a
//! folder a function's: Rust names cannot hold a `-`, so `<anything>-<16 hex digits>` is
//! never a module. A store learns a function's folder from its name when a `Memory` calls
//! it ([`Layout::name_with`]); a key whose function was not named in this process (a
//! store used directly, a listing) is looked up by scanning the folders once. Caches
//! written before the layout had names keep their entries in `<digest>/` at the top: a
//! named function's old folder is moved to its readable place the first time it is named.

use super::{hex, unhex};
use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

/// How deep module folders may nest before a scan stops looking.
const MAX_DEPTH: usize = 24;

/// The longest a folder name made from a path component may be (file systems allow 255).
const MAX_COMPONENT: usize = 96;

/// The folders of a store's functions that this process knows.
#[derive(Debug)]
pub(super) struct Layout {
    root: PathBuf,
    known: RwLock<HashMap<[u8; 8], PathBuf>>,
}

impl Layout {
    pub(super) fn new(root: &Path) -> Self {
        Layout {
            root: root.to_owned(),
            known: RwLock::default(),
        }
    }

    /// Records that the function with key prefix `name` is called `qualified`
    /// (`crate::module::function`), so that its entries live under a readable folder.
    /// Moves the entries a store without names kept for it (`<digest>/`) there, once.
    ///
    /// The name is made only for a function not named yet: a call names its function
    /// every time, which must cost a lookup, not an allocation.
    pub(super) fn name_with(&self, name: [u8; 8], qualified: impl FnOnce() -> String) {
        let unnamed = self.root.join(hex(&name));
        // A function known only by the unnamed folder a scan found is named all the same.
        if self
            .read_known()
            .get(&name)
            .is_some_and(|known| *known != unnamed)
        {
            return;
        }
        let folder = self.readable(name, &qualified());
        if unnamed.is_dir() {
            move_folder(&unnamed, &folder);
        }
        self.write_known().insert(name, folder);
    }

    /// The folder of the function with key prefix `name`: the one it was named with, else
    /// one found on the disk, else the unnamed `<digest>/` at the top.
    pub(super) fn folder(&self, name: [u8; 8]) -> PathBuf {
        if let Some(folder) = self.read_known().get(&name) {
            return folder.clone();
        }
        if let Ok(found) = self.scan() {
            if let Some((_, folder)) = found.into_iter().find(|(digest, _)| *digest == name) {
                self.write_known().insert(name, folder.clone());
                return folder;
            }
        }
        self.root.join(hex(&name))
    }

    /// Every folder holding entries of the function with key prefix `name` (its named one
    /// and, until it is moved, its unnamed one).
    pub(super) fn folders_of(&self, name: [u8; 8]) -> Vec<PathBuf> {
        let unnamed = self.root.join(hex(&name));
        let folder = self.folder(name);
        if folder == unnamed {
            vec![unnamed]
        } else {
            vec![folder, unnamed]
        }
    }

    /// Every function folder in the store, with its digest: a walk of the module folders
    /// (not of the entries).
    pub(super) fn scan(&self) -> std::io::Result<Vec<([u8; 8], PathBuf)>> {
        let mut found = Vec::new();
        scan_into(&self.root, 0, &mut found)?;
        Ok(found)
    }

    /// Where the function called `qualified` lives: one folder per path component, the
    /// last one followed by the digest.
    fn readable(&self, name: [u8; 8], qualified: &str) -> PathBuf {
        let components: Vec<String> = qualified
            .split("::")
            .map(sanitized)
            .filter(|component| !component.is_empty())
            .collect();
        let mut folder = self.root.clone();
        match components.split_last() {
            Some((function, modules)) => {
                folder.extend(modules);
                folder.push(format!("{function}-{}", hex(&name)));
            }
            None => folder.push(hex(&name)),
        }
        folder
    }

    fn read_known(&self) -> std::sync::RwLockReadGuard<'_, HashMap<[u8; 8], PathBuf>> {
        self.known.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_known(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<[u8; 8], PathBuf>> {
        self.known.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The digest a function folder's name ends with (`name-<16 hex>`, or the bare 16 hex of
/// an unnamed one); `None` for a module folder.
pub(super) fn digest_of(folder_name: &str) -> Option<[u8; 8]> {
    let digest = match folder_name.rsplit_once('-') {
        Some((_, digest)) => digest,
        None => folder_name,
    };
    unhex(digest)
}

fn scan_into(
    folder: &Path,
    depth: usize,
    found: &mut Vec<([u8; 8], PathBuf)>,
) -> std::io::Result<()> {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Dot names are the store's notes and temporary files, never folders of entries.
        if name.starts_with('.') || !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        match digest_of(&name) {
            Some(digest) => found.push((digest, entry.path())),
            None if depth < MAX_DEPTH => scan_into(&entry.path(), depth + 1, found)?,
            None => {}
        }
    }
    Ok(())
}

/// A path component as a folder name: Rust identifiers stay as they are; anything else
/// (`{{closure}}`, generic brackets) becomes `_`.
fn sanitized(component: &str) -> String {
    component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_COMPONENT)
        .collect::<String>()
        .trim_matches('_')
        .to_owned()
}

/// Moves a function's entries from `from` to `to`: the whole folder when `to` does not
/// exist yet, else entry by entry. Best effort: another process may be moving it too,
/// and what stays behind is still listed, counted and cleared (only not found by calls).
fn move_folder(from: &Path, to: &Path) {
    if let Some(parent) = to.parent() {
        let _ = fs::create_dir_all(parent);
    }
    if fs::rename(from, to).is_ok() {
        return;
    }
    let Ok(shards) = fs::read_dir(from) else {
        return;
    };
    for shard in shards.filter_map(Result::ok) {
        let target = to.join(shard.file_name());
        if !shard.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let _ = fs::create_dir_all(&target);
        let Ok(files) = fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.filter_map(Result::ok) {
            let name = file.file_name();
            if !name.to_string_lossy().starts_with('.') {
                let _ = fs::rename(file.path(), target.join(name));
            }
        }
    }
    let _ = fs::remove_dir_all(from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_folders_are_named_after_the_path_and_end_in_the_digest() {
        let layout = Layout::new(Path::new("/cache"));
        let name = [0xab; 8];
        assert_eq!(
            layout.readable(name, "my_crate::fits::robust_center"),
            Path::new("/cache/my_crate/fits/robust_center-abababababababab")
        );
        assert_eq!(
            layout.readable(name, "t::outer::{{closure}}::inner"),
            Path::new("/cache/t/outer/closure/inner-abababababababab")
        );
        assert_eq!(digest_of("robust_center-abababababababab"), Some(name));
        assert_eq!(
            digest_of("abababababababab"),
            Some(name),
            "an unnamed folder"
        );
        assert_eq!(digest_of("fits"), None, "a module");
        assert_eq!(digest_of("x-notahexdigest!"), None);
    }

    #[test]
    fn an_unnamed_folder_moves_to_its_readable_place_once() {
        let dir = tempfile::tempdir().unwrap();
        let name = [0x12; 8];
        let unnamed = dir.path().join(hex(&name)).join("00");
        fs::create_dir_all(&unnamed).unwrap();
        fs::write(unnamed.join("entry.pmc"), b"old").unwrap();
        let layout = Layout::new(dir.path());
        assert_eq!(layout.folder(name), dir.path().join(hex(&name)));
        layout.name_with(name, || "c::m::f".into());
        let moved = dir.path().join("c/m/f-1212121212121212");
        assert_eq!(fs::read(moved.join("00/entry.pmc")).unwrap(), b"old");
        assert!(!dir.path().join(hex(&name)).exists());
        // A fresh process finds it by scanning.
        assert_eq!(Layout::new(dir.path()).folder(name), moved);
    }

    #[test]
    fn an_unnamed_folder_merges_into_an_existing_readable_one() {
        let dir = tempfile::tempdir().unwrap();
        let name = [0x34; 8];
        let readable = dir.path().join("c/f-3434343434343434/01");
        fs::create_dir_all(&readable).unwrap();
        fs::write(readable.join("new.pmc"), b"new").unwrap();
        let unnamed = dir.path().join(hex(&name)).join("01");
        fs::create_dir_all(&unnamed).unwrap();
        fs::write(unnamed.join("old.pmc"), b"old").unwrap();
        Layout::new(dir.path()).name_with(name, || "c::f".into());
        assert_eq!(fs::read(readable.join("old.pmc")).unwrap(), b"old");
        assert_eq!(fs::read(readable.join("new.pmc")).unwrap(), b"new");
        assert!(!dir.path().join(hex(&name)).exists());
    }
}
