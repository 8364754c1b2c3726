//! A store that lives as long as the process: for a drill's token, which must never
//! replace a real grant's cached one, and for unit tests.

use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;
use std::cell::RefCell;
use std::collections::HashMap;

/// Secrets kept in memory only, by key.
#[derive(Default)]
pub struct MemoryStore(RefCell<HashMap<String, Secret<Vec<u8>>>>);

impl TokenStore for MemoryStore {
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        Ok(self.0.borrow().get(key.id()).cloned())
    }
    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        self.0
            .borrow_mut()
            .insert(key.id().to_string(), value.clone());
        Ok(())
    }
    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        Ok(self.0.borrow_mut().remove(key.id()).is_some())
    }
    fn name(&self) -> &'static str {
        "memory"
    }
}
