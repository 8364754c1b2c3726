//! `--token-cache keyring` on Linux: the Secret Service on a desktop, else the kernel
//! keyring. Which one is decided when an item is written (at `login`, or when `request`
//! caches a grant), never when it is read: a small state file records which backend holds
//! each item, so the hot path opens exactly that backend with no probing, and a login stays
//! found when the session changes (SSH instead of the desktop, a locked keyring). When the
//! backend that holds an item cannot be reached, reads fail with `Unreachable`, not "absent".
//!
//! The state file (`$XDG_STATE_HOME/kubectl-breakglass/keyring.json`, 0600 in a 0700
//! directory) holds no secrets: item names are digests, and it keeps the non-secret
//! current-account pointers themselves (one read fewer on the hot path).

use super::keyring_core_store::{self, KeyringCoreStore};
use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;

const SECRET_SERVICE: &str = "secret-service";
const KEYUTILS: &str = "keyutils";

/// What the state file holds.
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Item name → the backend holding it.
    #[serde(default)]
    items: BTreeMap<String, String>,
    /// Current-account pointer name → its value (JSON naming an account; not secret).
    #[serde(default)]
    pointers: BTreeMap<String, String>,
}

/// The OS keyring on Linux, with each item's backend remembered.
pub struct Remembered {
    path: PathBuf,
    /// A login decides afresh where its items go; other writes keep an item where it is.
    login: bool,
    state: RefCell<Option<State>>,
    decided: OnceCell<&'static str>,
    keyutils: OnceCell<Result<Box<dyn TokenStore>, String>>,
    secret_service: OnceCell<Result<KeyringCoreStore, String>>,
    /// The backend of the last item touched, for `name()`.
    last: Cell<Option<&'static str>>,
}

impl Remembered {
    /// Opens the store; nothing is read or probed until an item is asked for.
    pub fn open(login: bool) -> Result<Self, CacheError> {
        let dir = dirs::state_dir().ok_or_else(|| CacheError::Unavailable {
            backend: "keyring",
            reason: "no state directory to remember which keyring holds your tokens (set XDG_STATE_HOME or HOME)".into(),
        })?;
        Ok(Remembered {
            path: dir.join("kubectl-breakglass").join("keyring.json"),
            login,
            state: RefCell::new(None),
            decided: OnceCell::new(),
            keyutils: OnceCell::new(),
            secret_service: OnceCell::new(),
            last: Cell::new(None),
        })
    }

    fn failed(&self, op: &'static str, e: impl std::fmt::Display) -> CacheError {
        CacheError::Backend {
            backend: "keyring",
            op,
            reason: format!("{}: {e}", self.path.display()),
        }
    }

    fn read_state(&self) -> Result<State, CacheError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
                self.failed(
                    "read",
                    "damaged; delete it and log in again (kubectl breakglass login)",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(self.failed("read", e)),
        }
    }

    /// Runs `f` on the state, read once per process.
    fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, CacheError> {
        let mut cached = self.state.borrow_mut();
        if cached.is_none() {
            *cached = Some(self.read_state()?);
        }
        Ok(f(cached.as_ref().expect("just filled")))
    }

    /// Changes the state file under a lock (read, change, write a temp file, rename).
    fn update(&self, f: impl FnOnce(&mut State)) -> Result<(), CacheError> {
        let _lock = super::lock_named("keyring-state")?;
        let mut state = self.read_state()?;
        f(&mut state);
        let dir = self.path.parent().expect("the path has a directory");
        super::file::create_private_dir(dir).map_err(|e| self.failed("write", e))?;
        let tmp = dir.join(format!(".keyring.json.{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| self.failed("write", e))?;
        let written = super::file::private_file(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.failed("write", e));
        }
        *self.state.borrow_mut() = Some(state);
        Ok(())
    }

    /// Where new items go: the Secret Service when it answers with an open keyring, else
    /// the kernel keyring. Probed at most once per process, and only when writing.
    fn decide(&self) -> &'static str {
        self.decided.get_or_init(|| {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty()) {
                if let Some(store) = keyring_core_store::secret_service_if_quick() {
                    let _ = self.secret_service.set(Ok(store));
                    return SECRET_SERVICE;
                }
            }
            KEYUTILS
        })
    }

    /// The backend called `name`, opened once (no probe).
    fn backend(&self, name: &str) -> Result<&dyn TokenStore, CacheError> {
        match name {
            SECRET_SERVICE => match self.secret_service.get_or_init(|| {
                keyring_core_store::secret_service_unprobed().map_err(|e| e.to_string())
            }) {
                Ok(store) => Ok(store),
                Err(reason) => Err(CacheError::Unreachable {
                    backend: SECRET_SERVICE,
                    reason: reason.clone(),
                }),
            },
            KEYUTILS => match self
                .keyutils
                .get_or_init(|| super::open_keyutils().map_err(|e| e.to_string()))
            {
                Ok(store) => Ok(store.as_ref()),
                Err(reason) => Err(CacheError::Unreachable {
                    backend: KEYUTILS,
                    reason: reason.clone(),
                }),
            },
            other => Err(self.failed(
                "read",
                format!("names an unknown keyring {other:?}; delete it and log in again"),
            )),
        }
    }

    fn placed(&self, key: &CacheKey) -> Result<Option<&'static str>, CacheError> {
        let name = self.with_state(|s| s.items.get(key.id()).cloned())?;
        Ok(name.map(|n| match n.as_str() {
            SECRET_SERVICE => SECRET_SERVICE,
            KEYUTILS => KEYUTILS,
            // Unknown names fail in backend() with a message.
            _ => "unknown",
        }))
    }
}

fn is_pointer(key: &CacheKey) -> bool {
    key.kind() == "account"
}

impl TokenStore for Remembered {
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        if is_pointer(key) {
            return self.with_state(|s| {
                s.pointers
                    .get(key.id())
                    .map(|v| Secret::new(v.as_bytes().to_vec()))
            });
        }
        let Some(name) = self.placed(key)? else {
            return Ok(None);
        };
        self.last.set(Some(name));
        if name == SECRET_SERVICE {
            // The hot path: one connection, one search, one read; a locked item is
            // reported, never unlocked (that would prompt on someone's desktop).
            return keyring_core_store::secret_service_read(key);
        }
        self.backend(name)?.get(key)
    }

    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        if is_pointer(key) {
            let text = String::from_utf8(value.expose().clone())
                .map_err(|_| self.failed("write", "an account pointer is not text"))?;
            return self.update(|s| {
                s.pointers.insert(key.id().to_string(), text);
            });
        }
        let old = self.placed(key)?;
        let mut target = match old {
            Some(name) if !self.login => name,
            _ => self.decide(),
        };
        let mut written = self.backend(target).and_then(|b| b.set(key, value));
        if written.is_err() && !self.login && target != self.decide() {
            // Its keyring is gone (another session, locked): the new value goes where
            // new items go now, and the state follows it.
            target = self.decide();
            written = self.backend(target).and_then(|b| b.set(key, value));
        }
        written?;
        self.last.set(Some(target));
        self.update(|s| {
            s.items.insert(key.id().to_string(), target.to_string());
        })?;
        if let Some(old) = old.filter(|o| *o != target) {
            // The superseded copy (with its refresh token), where it can still be reached.
            if let Ok(b) = self.backend(old) {
                let _ = b.delete(key);
            }
        }
        Ok(())
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        if is_pointer(key) {
            let mut removed = false;
            self.update(|s| removed = s.pointers.remove(key.id()).is_some())?;
            return Ok(removed);
        }
        let Some(name) = self.placed(key)? else {
            return Ok(false);
        };
        self.last.set(Some(name));
        let removed = self.backend(name)?.delete(key)?;
        self.update(|s| {
            s.items.remove(key.id());
        })?;
        Ok(removed)
    }

    fn name(&self) -> &'static str {
        self.last.get().unwrap_or_else(|| self.decide())
    }
}
