//! A cross-process lock per cache key, so that one refresh serves every
//! concurrent kubectl: a file lock in a private (0700) runtime directory.

use super::{CacheError, CacheKey};
use std::fs::{self, File};
use std::path::PathBuf;

/// Holds the lock until dropped (the kernel releases it if the process dies).
#[derive(Debug)]
pub struct CacheLock {
    file: File,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

/// Takes the exclusive lock for `key`, waiting for whoever holds it.
pub fn lock(key: &CacheKey) -> Result<CacheLock, CacheError> {
    lock_named(&key.id().replace(':', "_"))
}

/// Takes the exclusive lock called `name` (a plain file name), waiting for whoever holds it.
pub fn lock_named(name: &str) -> Result<CacheLock, CacheError> {
    let dir = lock_dir();
    let path = dir.join(format!("{name}.lock"));
    let err = |source| CacheError::Lock {
        path: path.display().to_string(),
        source,
    };
    create_private_dir(&dir).map_err(err)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    fs4::FileExt::lock(&file).map_err(err)?;
    Ok(CacheLock { file })
}

/// `$XDG_RUNTIME_DIR/kubectl-breakglass`, else a per-user directory in the temp dir.
fn lock_dir() -> PathBuf {
    if let Some(dir) = dirs::runtime_dir() {
        return dir.join("kubectl-breakglass");
    }
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc_getuid() };
        std::env::temp_dir().join(format!("kubectl-breakglass-{uid}"))
    }
    #[cfg(not(unix))]
    {
        std::env::temp_dir().join("kubectl-breakglass")
    }
}

#[cfg(unix)]
extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[cfg(unix)]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    // In a shared temp dir someone else could have made it first.
    // SAFETY: getuid has no preconditions and cannot fail.
    if !meta.is_dir() || meta.uid() != unsafe { libc_getuid() } {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by you",
            dir.display()
        )));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}
