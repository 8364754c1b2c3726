//! The generic object store: JSON objects keyed by group, resource, namespace and name,
//! with one global resourceVersion counter and a change feed for watches.

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::broadcast;

/// group, plural, namespace ("" when cluster-scoped), name.
pub type Key = (String, String, String, String);

/// One change, as a watch event sees it.
#[derive(Debug, Clone)]
pub struct Change {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub kind: &'static str,
    pub object: Value,
    pub rv: u64,
}

const HISTORY: usize = 2000;

pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<Change>,
    tx: broadcast::Sender<Change>,
}

pub fn key(group: &str, plural: &str, namespace: &str, name: &str) -> Key {
    (
        group.to_string(),
        plural.to_string(),
        namespace.to_string(),
        name.to_string(),
    )
}

impl Store {
    pub fn new() -> Store {
        Store {
            objects: BTreeMap::new(),
            rv: 1000,
            history: VecDeque::new(),
            tx: broadcast::channel(1024).0,
        }
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Changes after `rv` still in the history, or None when `rv` is too old.
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if rv >= self.rv {
            return Some(vec![]);
        }
        match self.history.front() {
            Some(first) if first.rv <= rv + 1 => {}
            _ => return None,
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(group, plural, namespace, name))
    }

    /// Objects of one resource, in one namespace or (None) all.
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                g == group && p == plural && namespace.is_none_or(|n| n == ns)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every stored object with its key (for GC and RBAC scans).
    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter()
    }

    /// Stores `obj` (create or replace), stamping a fresh resourceVersion; returns the stored object.
    pub fn put(&mut self, k: Key, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let kind = if self.objects.contains_key(&k) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.objects.insert(k.clone(), obj.clone());
        self.emit(&k, kind, obj.clone());
        obj
    }

    /// Removes an object; returns it with the resourceVersion of the deletion.
    pub fn remove(&mut self, k: &Key) -> Option<Value> {
        let mut obj = self.objects.remove(k)?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.emit(k, "DELETED", obj.clone());
        Some(obj)
    }

    fn emit(&mut self, k: &Key, kind: &'static str, object: Value) {
        let change = Change {
            group: k.0.clone(),
            plural: k.1.clone(),
            namespace: k.2.clone(),
            kind,
            object,
            rv: self.rv,
        };
        self.history.push_back(change.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.tx.send(change);
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}
