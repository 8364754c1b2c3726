//! The Linux kernel keyring, our own store on `linux-keyutils`.
//!
//! Uses the *user* keyring (`@u`): shared by all of the person's processes and
//! sessions (SSH, tmux, IDE terminals) and usable in containers that refuse
//! the persistent keyring, which is what breaks `linux-keyutils-keyring-store`.
//! Keys get possessor *and* user permissions so that a process whose session
//! keyring does not link `@u` can still read them.

use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;
use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

/// Largest payload we put in one key; the kernel allows 32767 bytes for the
/// `user` type, and non-root users have a 20000-byte quota in total.
pub const MAX_PAYLOAD: usize = 16 * 1024;

const NAME: &str = "keyutils";

/// The kernel user keyring.
pub struct KeyutilsStore {
    ring: KeyRing,
}

impl KeyutilsStore {
    /// Opens the user keyring (`@u`), creating it if the kernel has not yet.
    pub fn open() -> Result<Self, CacheError> {
        let ring = KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(|e| {
            CacheError::Unavailable {
                backend: NAME,
                reason: format!("the kernel user keyring: {}", describe(e)),
            }
        })?;
        Ok(KeyutilsStore { ring })
    }
}

fn failed(op: &'static str, e: KeyError) -> CacheError {
    CacheError::Backend {
        backend: NAME,
        op,
        reason: describe(e),
    }
}

fn describe(e: KeyError) -> String {
    match e {
        KeyError::QuotaExceeded => {
            "the kernel key quota is used up (see /proc/sys/kernel/keys/maxbytes); \
             remove old entries with `kubectl breakglass logout`"
                .into()
        }
        KeyError::AccessDenied => "access denied by the kernel".into(),
        KeyError::OperationNotSupported => {
            "the kernel keyring is not supported here (seccomp or no CONFIG_KEYS)".into()
        }
        other => format!("{other:?}"),
    }
}

impl TokenStore for KeyutilsStore {
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        match self.ring.search(key.id()) {
            Ok(k) => match k.read_to_vec() {
                Ok(v) => Ok(Some(Secret::new(v))),
                // Removed between search and read (a concurrent logout).
                Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                    Ok(None)
                }
                Err(e) => Err(failed("read", e)),
            },
            Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                Ok(None)
            }
            Err(e) => Err(failed("read", e)),
        }
    }

    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        // add_key on an existing description updates that key in place.
        let k = self
            .ring
            .add_key(key.id(), value.expose())
            .map_err(|e| failed("write", e))?;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::ALL)
            .build();
        k.set_perms(perms).map_err(|e| failed("write", e))?;
        Ok(())
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        match self.ring.search(key.id()) {
            Ok(k) => match k.invalidate() {
                Ok(()) => Ok(true),
                Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                    Ok(false)
                }
                Err(_) => self
                    .ring
                    .unlink_key(k)
                    .map(|()| true)
                    .map_err(|e| failed("delete", e)),
            },
            Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                Ok(false)
            }
            Err(e) => Err(failed("delete", e)),
        }
    }

    fn name(&self) -> &'static str {
        NAME
    }
}
