//! A sequence serialized as it is produced: a document (a JSON report, a checkpoint) whose
//! list of records is read from the cluster while it is written, never held whole. The
//! first failure to produce an item ends the document and is kept for the caller, who
//! reports it (the serializer only sees a message).

use serde::ser::{Error as _, SerializeSeq as _};
use std::cell::RefCell;

pub struct Streamed<I, E> {
    items: RefCell<Option<I>>,
    failure: RefCell<Option<E>>,
}

impl<I, E> Streamed<I, E> {
    pub fn new(items: I) -> Streamed<I, E> {
        Streamed {
            items: RefCell::new(Some(items)),
            failure: RefCell::new(None),
        }
    }

    /// The failure that ended the sequence, if one did.
    pub fn failure(&self) -> Option<E> {
        self.failure.borrow_mut().take()
    }
}

impl<I, T, E> serde::Serialize for Streamed<I, E>
where
    I: Iterator<Item = Result<T, E>>,
    T: serde::Serialize,
    E: std::fmt::Display,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self
            .items
            .borrow_mut()
            .take()
            .ok_or_else(|| S::Error::custom("a streamed sequence is written once"))?;
        let mut seq = s.serialize_seq(None)?;
        for item in items {
            match item {
                Ok(t) => seq.serialize_element(&t)?,
                Err(e) => {
                    let message = e.to_string();
                    *self.failure.borrow_mut() = Some(e);
                    return Err(S::Error::custom(message));
                }
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_a_list_does_and_keeps_the_failure() {
        let items = Streamed::new([1, 2, 3].into_iter().map(Ok::<_, String>));
        let list = serde_json::to_string_pretty(&serde_json::json!({ "a": [1, 2, 3] })).unwrap();
        let streamed =
            serde_json::to_string_pretty(&std::collections::BTreeMap::from([("a", &items)]))
                .unwrap();
        assert_eq!(streamed, list);
        let empty = Streamed::new(std::iter::empty::<Result<u8, String>>());
        assert_eq!(serde_json::to_string_pretty(&empty).unwrap(), "[]");

        let failing = Streamed::new([Ok(1), Err("410 Gone".to_string()), Ok(3)].into_iter());
        let err = serde_json::to_string(&failing).unwrap_err();
        assert!(err.to_string().contains("410 Gone"), "{err}");
        assert_eq!(failing.failure().as_deref(), Some("410 Gone"));
    }
}
