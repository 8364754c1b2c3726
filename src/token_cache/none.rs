//! `--token-cache none`: remembers nothing.

use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;

/// A store that stores nothing.
pub struct NoStore;

impl TokenStore for NoStore {
    fn get(&self, _key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        Ok(None)
    }
    fn set(&self, _key: &CacheKey, _value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        Ok(())
    }
    fn delete(&self, _key: &CacheKey) -> Result<bool, CacheError> {
        Ok(false)
    }
    fn name(&self) -> &'static str {
        "none"
    }
}
