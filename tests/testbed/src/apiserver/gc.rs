//! The garbage collector: like the real one, a dependent all of whose owners are gone (absent,
//! or present with another uid) is deleted (background propagation, so chains cascade one pass
//! at a time); dangling references next to a live owner are removed. Foreground deletion is
//! treated as background.

use super::crud::remove_object;
use super::resources::{self, ResourceDef};
use super::store::{Key, Store};
use super::State;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(state: Arc<State>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    loop {
        tick.tick().await;
        collect(&mut state.store.lock().unwrap());
    }
}

/// Is this owner reference satisfied by a live object?
fn owner_alive(store: &Store, defs: &[ResourceDef], dependent_ns: &str, r: &Value) -> Option<bool> {
    let api_version = r["apiVersion"].as_str().unwrap_or_default();
    let kind = r["kind"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    // An owner of an unknown kind cannot be resolved: the real GC leaves the dependent alone.
    let def = defs.iter().find(|d| d.group == group && d.kind == kind)?;
    let ns = if def.namespaced { dependent_ns } else { "" };
    let name = r["name"].as_str().unwrap_or_default();
    Some(
        store
            .get(&def.group, &def.plural, ns, name)
            .is_some_and(|o| o["metadata"]["uid"] == r["uid"]),
    )
}

/// One pass over every object with owner references.
pub fn collect(store: &mut Store) {
    let defs = resources::all(store);
    let mut delete: Vec<Key> = vec![];
    let mut prune: Vec<(Key, Value)> = vec![];
    for (k, obj) in store.all() {
        let Some(refs) = obj["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        if refs.is_empty() {
            continue;
        }
        let states: Vec<Option<bool>> = refs
            .iter()
            .map(|r| owner_alive(store, &defs, &k.2, r))
            .collect();
        if states.iter().all(|s| *s == Some(false)) {
            delete.push(k.clone());
        } else if states.contains(&Some(false)) {
            let mut o = obj.clone();
            let kept: Vec<Value> = refs
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != Some(false))
                .map(|(r, _)| r.clone())
                .collect();
            o["metadata"]["ownerReferences"] = Value::Array(kept);
            prune.push((k.clone(), o));
        }
    }
    for k in delete {
        if let Some(def) = defs.iter().find(|d| d.group == k.0 && d.plural == k.1) {
            remove_object(store, def, &k.2, &k.3, false);
        }
    }
    for (k, o) in prune {
        store.put(k, o);
    }
}
