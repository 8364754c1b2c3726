//! Splits values too large for one item of a store (Windows Credential
//! Manager ~2.5 KB, macOS Keychain ~4 KB, a kernel key 32 KB) across items.
//!
//! Stored form: a one-byte tag, then either the whole value (`0`) or a
//! 4-byte big-endian chunk count and the first chunk (`1`); chunk `n` lives
//! under `key.chunk(n)`.

use super::{CacheError, CacheKey, TokenStore};
use crate::secret::Secret;

const WHOLE: u8 = 0;
const SPLIT: u8 = 1;

/// Wraps a store whose items hold at most `max` bytes.
pub struct Chunked<S> {
    inner: S,
    max: usize,
}

impl<S: TokenStore> Chunked<S> {
    /// Wraps `inner`, whose items hold at most `max` bytes.
    pub fn new(inner: S, max: usize) -> Self {
        assert!(max > 16, "chunk size too small");
        Chunked { inner, max }
    }

    fn corrupt(&self, what: &str) -> CacheError {
        CacheError::Backend {
            backend: self.inner.name(),
            op: "read",
            reason: format!("a cached item is damaged ({what}); run `kubectl breakglass logout` and log in again"),
        }
    }
}

impl<S: TokenStore> TokenStore for Chunked<S> {
    fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
        let Some(head) = self.inner.get(key)? else {
            return Ok(None);
        };
        let head = head.into_inner();
        match head.first() {
            Some(&WHOLE) => Ok(Some(Secret::new(head[1..].to_vec()))),
            Some(&SPLIT) if head.len() >= 5 => {
                let count = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                let mut value = head[5..].to_vec();
                for n in 1..count {
                    match self.inner.get(&key.chunk(n))? {
                        Some(part) => value.extend_from_slice(part.expose()),
                        None => return Err(self.corrupt("a part is missing")),
                    }
                }
                Ok(Some(Secret::new(value)))
            }
            _ => Err(self.corrupt("unknown format")),
        }
    }

    fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
        let bytes = value.expose();
        let old_count = self.count(key);
        let new_count;
        if bytes.len() < self.max {
            let mut item = Vec::with_capacity(bytes.len() + 1);
            item.push(WHOLE);
            item.extend_from_slice(bytes);
            self.inner.set(key, &Secret::new(item))?;
            new_count = 1;
        } else {
            let first = self.max - 5;
            let rest: Vec<&[u8]> = bytes[first..].chunks(self.max).collect();
            new_count = 1 + rest.len();
            // Parts first, head last: a reader never sees a head without its parts.
            for (i, part) in rest.iter().enumerate() {
                self.inner
                    .set(&key.chunk(i + 1), &Secret::new(part.to_vec()))?;
            }
            let mut item = Vec::with_capacity(self.max);
            item.push(SPLIT);
            item.extend_from_slice(&(new_count as u32).to_be_bytes());
            item.extend_from_slice(&bytes[..first]);
            self.inner.set(key, &Secret::new(item))?;
        }
        for n in new_count..old_count {
            self.inner.delete(&key.chunk(n))?;
        }
        Ok(())
    }

    fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let count = self.count(key);
        let removed = self.inner.delete(key)?;
        for n in 1..count {
            self.inner.delete(&key.chunk(n))?;
        }
        Ok(removed)
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

impl<S: TokenStore> Chunked<S> {
    /// How many items the value under `key` occupies now (0 when absent or unreadable).
    fn count(&self, key: &CacheKey) -> usize {
        match self.inner.get(key) {
            Ok(Some(head)) => {
                let h = head.expose();
                if h.first() == Some(&SPLIT) && h.len() >= 5 {
                    u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize
                } else {
                    1
                }
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct MemStore(RefCell<HashMap<String, Vec<u8>>>);

    impl TokenStore for MemStore {
        fn get(&self, key: &CacheKey) -> Result<Option<Secret<Vec<u8>>>, CacheError> {
            Ok(self.0.borrow().get(key.id()).cloned().map(Secret::new))
        }
        fn set(&self, key: &CacheKey, value: &Secret<Vec<u8>>) -> Result<(), CacheError> {
            assert!(
                value.expose().len() <= 64,
                "item larger than the store allows"
            );
            self.0
                .borrow_mut()
                .insert(key.id().to_string(), value.expose().clone());
            Ok(())
        }
        fn delete(&self, key: &CacheKey) -> Result<bool, CacheError> {
            Ok(self.0.borrow_mut().remove(key.id()).is_some())
        }
        fn name(&self) -> &'static str {
            "memory"
        }
    }

    #[test]
    fn large_values_round_trip_and_shrink_cleanly() {
        let store = Chunked::new(MemStore::default(), 64);
        let key = CacheKey::identity("i", "c", "a");
        for len in [0usize, 1, 62, 63, 64, 65, 200, 1000, 10] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            store.set(&key, &Secret::new(value.clone())).unwrap();
            assert_eq!(
                store.get(&key).unwrap().unwrap().expose(),
                &value,
                "len {len}"
            );
            let items = store.inner.0.borrow().len();
            if len >= 64 {
                assert!(
                    items >= 2,
                    "len {len} should be split, is in {items} item(s)"
                );
            } else {
                assert_eq!(items, 1, "len {len}");
            }
        }
        // After shrinking to 10 bytes no stale parts remain.
        assert_eq!(store.inner.0.borrow().len(), 1);
        assert!(store.delete(&key).unwrap());
        assert!(store.inner.0.borrow().is_empty());
        assert!(store.get(&key).unwrap().is_none());
    }
}
