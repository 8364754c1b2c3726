//! `--token-cache file`: an opt-in JSON file, 0600 in a 0700 directory, for
//! machines without any keyring. Anyone who can read your home can read it.

use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "file";

/// A JSON object `{ key id: base64 value }` in one file.
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// `$XDG_CACHE_HOME/kubectl-breakglass/tokens.json` (or the OS's cache dir).
    pub fn default_path() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("kubectl-breakglass").join("tokens.json"))
    }

    /// Opens the store at its default path.
    pub fn open_default() -> Result<Self, CacheError> {
        let path = Self::default_path().ok_or_else(|| CacheError::Unavailable {
            backend: NAME,
            reason: "no cache directory (set XDG_CACHE_HOME or HOME)".into(),
        })?;
        Ok(FileStore { path })
    }

    fn failed(&self, op: &'static str, e: impl std::fmt::Display) -> CacheError {
        CacheError::Backend {
            backend: NAME,
            op,
            reason: format!("{}: {e}", self.path.display()),
        }
    }

    /// Serialises read-modify-write of the whole file, so concurrent writers
    /// (two requests, a refresh and a logout) never drop each other's items.
    /// Readers need no lock: the file is replaced by a rename.
    fn lock(&self) -> Result<super::CacheLock, CacheError> {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.path.to_string_lossy().as_bytes());
        super::lock_named(&format!("file-store_{}", hex::encode(&digest[..8])))
    }

    fn read_all(&self) -> Result<BTreeMap<String, String>, CacheError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
                self.failed("read", "not a token cache file; delete it and log in again")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.failed("read", e)),
        }
    }

    fn write_all(&self, items: &BTreeMap<String, String>) -> Result<(), CacheError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.failed("write", e))?;
        // Unique per writer (threads of one process too); the lock orders the renames.
        let tmp = dir.join(format!(".tokens.json.{}.{}", std::process::id(), unique()));
        let bytes = serde_json::to_vec(items).map_err(|e| self.failed("write", e))?;
        let mut f = private_file(&tmp).map_err(|e| self.failed("write", e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| self.failed("write", e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.failed("write", e))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(unix)]
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
pub(super) fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
pub(super) fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

impl TokenStore for FileStore {
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        let items = self.read_all()?;
        match items.get(key.id()) {
            None => Ok(None),
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(|v| Some(Secret::new(v)))
                .map_err(|_| {
                    self.failed(
                        "read",
                        "a cached item is damaged; delete the file and log in again",
                    )
                }),
        }
    }

    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        let _lock = self.lock()?;
        let mut items = self.read_all()?;
        items.insert(
            key.id().to_string(),
            base64::engine::general_purpose::STANDARD.encode(value.expose()),
        );
        self.write_all(&items)
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let _lock = self.lock()?;
        let mut items = self.read_all()?;
        let removed = items.remove(key.id()).is_some();
        if removed {
            self.write_all(&items)?;
        }
        Ok(removed)
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache").join("tokens.json");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = FileStore { path };
                    for i in 0..25 {
                        let key =
                            CacheKey::identity("https://idp", &format!("t{t}"), &format!("a{i}"));
                        store
                            .set(&key, &Secret::new(vec![t as u8, i as u8]))
                            .unwrap();
                        // Deletes race with the other threads' sets too.
                        if i % 5 == 0 {
                            assert!(store.delete(&key).unwrap());
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = FileStore { path: path.clone() };
        let items = store.read_all().unwrap();
        assert_eq!(items.len(), 8 * 20, "lost or resurrected items");
        for t in 0..8u8 {
            for i in 0..25u8 {
                let key = CacheKey::identity("https://idp", &format!("t{t}"), &format!("a{i}"));
                let got = store.get(&key).unwrap();
                if i % 5 == 0 {
                    assert!(got.is_none());
                } else {
                    assert_eq!(got.unwrap().expose(), &vec![t, i]);
                }
            }
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("tokens.json")]);
    }
}
