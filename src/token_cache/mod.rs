//! Where tokens live between invocations: the OS keyring, the kernel keyring,
//! an opt-in file, or nowhere. One small trait, one backend per file.

mod chunked;
mod file;
mod key;
mod keyring_core_store;
#[cfg(target_os = "linux")]
mod keyutils;
mod kind;
mod lock;
mod memory;
mod none;
#[cfg(target_os = "linux")]
mod remembered;

pub use key::CacheKey;
pub use kind::Kind;
pub use lock::{lock, lock_named, CacheLock};
pub use memory::MemoryStore;

use crate::secret::Secret;

/// What can go wrong with a token cache; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The backend cannot be used on this machine at all.
    #[error("the {backend} token cache is not available here: {reason} (choose another with --token-cache or BREAKGLASS_TOKEN_CACHE=keyutils|secret-service|file|none)")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The backend exists but refused or failed an operation.
    #[error("the {backend} token cache failed to {op}: {reason}")]
    Backend {
        backend: &'static str,
        op: &'static str,
        reason: String,
    },
    /// The keyring that holds an item cannot be reached now (locked, or another session's).
    #[error("{} holding your cached tokens is locked or not reachable ({reason}) — unlock it (or use the session that has it) and try again, or log in again: kubectl breakglass login", label(backend))]
    Unreachable {
        backend: &'static str,
        reason: String,
    },
    /// The lock that serialises refreshes could not be taken.
    #[error("cannot lock the token cache ({path})")]
    Lock {
        path: String,
        source: std::io::Error,
    },
}

/// A place to keep secrets by key.
pub trait TokenStore {
    /// The stored value, or `None` when nothing is stored under `key`.
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError>;
    /// Stores `value` under `key`, replacing what was there.
    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError>;
    /// Removes `key`; `true` when something was removed.
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError>;
    /// The backend's name as shown to people.
    fn name(&self) -> &'static str;
}

/// A backend's name for people, as the subject of a sentence.
pub fn label(backend: &str) -> &'static str {
    match backend {
        "secret-service" => "the Secret Service keyring",
        "keyutils" => "the kernel keyring",
        "macos-keychain" => "the macOS Keychain",
        "windows-credential-manager" => "the Windows Credential Manager",
        "file" => "the token cache file",
        _ => "the keyring",
    }
}

/// Opens the token cache the person chose (`keyring` picks the OS keyring). On Linux
/// nothing is probed here: each item is read from the keyring that it was written to.
pub fn open(kind: Kind) -> Result<Box<dyn TokenStore>, CacheError> {
    open_as(kind, false)
}

/// Opens the token cache for `login`, which decides afresh where the OS keyring keeps
/// its items (Secret Service on a desktop with an open keyring, else the kernel keyring).
pub fn open_for_login(kind: Kind) -> Result<Box<dyn TokenStore>, CacheError> {
    open_as(kind, true)
}

fn open_as(kind: Kind, login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    match kind {
        Kind::Keyring => open_os_keyring(login),
        Kind::Keyutils => open_keyutils(),
        Kind::SecretService => open_secret_service(login),
        Kind::File => Ok(Box::new(file::FileStore::open_default()?)),
        Kind::None => Ok(Box::new(none::NoStore)),
    }
}

/// A one-line description of where `store` keeps tokens, for people.
pub fn describe(store: &dyn TokenStore) -> String {
    match store.name() {
        "keyutils" => "the Linux kernel keyring (keyutils, your user keyring @u)".to_string(),
        "secret-service" => "the Secret Service (D-Bus; GNOME Keyring / KWallet)".to_string(),
        "macos-keychain" => "the macOS Keychain".to_string(),
        "windows-credential-manager" => "the Windows Credential Manager".to_string(),
        "file" => format!(
            "a file, {} (0600 in a 0700 directory; chosen with --token-cache file)",
            file::FileStore::default_path().map_or_else(|| "?".into(), |p| p.display().to_string())
        ),
        "none" => "nowhere (--token-cache none): you will log in on every call".to_string(),
        other => other.to_string(),
    }
}

#[cfg(target_os = "linux")]
fn open_keyutils() -> Result<Box<dyn TokenStore>, CacheError> {
    Ok(Box::new(chunked::Chunked::new(
        keyutils::KeyutilsStore::open()?,
        keyutils::MAX_PAYLOAD,
    )))
}

#[cfg(not(target_os = "linux"))]
fn open_keyutils() -> Result<Box<dyn TokenStore>, CacheError> {
    Err(CacheError::Unavailable {
        backend: "keyutils",
        reason: "the kernel keyring exists only on Linux".into(),
    })
}

/// Login proves the service answers before asking the person to approve anything;
/// otherwise no probe: a missing or locked service is reported by the first read.
#[cfg(target_os = "linux")]
fn open_secret_service(login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    if login {
        keyring_core_store::secret_service()?;
    }
    Ok(Box::new(keyring_core_store::SecretServiceStore::new()))
}

#[cfg(not(target_os = "linux"))]
fn open_secret_service(_login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    Err(CacheError::Unavailable {
        backend: "secret-service",
        reason: "this build supports Secret Service only on Linux".into(),
    })
}

/// Linux: Secret Service when a session bus with an open keyring answers quickly
/// at login, else the kernel keyring (headless machines, containers, WSL); the
/// choice is remembered per item, so reads never probe.
#[cfg(target_os = "linux")]
fn open_os_keyring(login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    Ok(Box::new(remembered::Remembered::open(login)?))
}

#[cfg(target_os = "macos")]
fn open_os_keyring(_login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    Ok(Box::new(chunked::Chunked::new(
        keyring_core_store::macos()?,
        4000,
    )))
}

#[cfg(target_os = "windows")]
fn open_os_keyring(_login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    Ok(Box::new(chunked::Chunked::new(
        keyring_core_store::windows()?,
        2400,
    )))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn open_os_keyring(_login: bool) -> Result<Box<dyn TokenStore>, CacheError> {
    Err(CacheError::Unavailable {
        backend: "keyring",
        reason: "no OS keyring is supported on this platform".into(),
    })
}
