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
        let tmp = dir.join(format!(".tokens.json.{}", std::process::id()));
        let bytes = serde_json::to_vec(items).map_err(|e| self.failed("write", e))?;
        let mut f = private_file(&tmp).map_err(|e| self.failed("write", e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| self.failed("write", e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.failed("write", e))
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
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
        let mut items = self.read_all()?;
        items.insert(
            key.id().to_string(),
            base64::engine::general_purpose::STANDARD.encode(value.expose()),
        );
        self.write_all(&items)
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
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
