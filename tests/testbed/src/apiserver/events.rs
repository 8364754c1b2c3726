//! `events.k8s.io/v1` Events are stored as core `v1` Events, as in the real server, so an Event
//! written through one API shows in the other (`kubectl get events`, `kubectl describe`).
//! Requests to the events.k8s.io resource are converted to the core form on the way in and back
//! on the way out.

use super::crud::parse_body;
use super::resources::{builtins, ResourceDef};
use super::status::ApiError;
use serde_json::{json, Value};

/// (events.k8s.io/v1 field, core v1 field).
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether a resource is the events.k8s.io view of core Events.
pub fn is_events_v1(def: &ResourceDef) -> bool {
    def.group == "events.k8s.io" && def.plural == "events"
}

/// The core Event resource that stores them.
pub fn core_def() -> ResourceDef {
    builtins()
        .into_iter()
        .find(|d| d.group.is_empty() && d.plural == "events")
        .expect("core events are built in")
}

fn rename(mut v: Value, to_core: bool) -> Value {
    if let Some(o) = v.as_object_mut() {
        for (new, old) in RENAMED {
            let (from, to) = if to_core { (new, old) } else { (old, new) };
            if let Some(x) = o.remove(*from) {
                o.insert(to.to_string(), x);
            }
        }
    }
    v
}

/// An events.k8s.io/v1 Event in its core form.
pub fn to_core(v: Value) -> Value {
    let mut v = rename(v, true);
    if v.is_object() {
        v["apiVersion"] = json!("v1");
        if v["involvedObject"].is_null() {
            v["involvedObject"] = json!({});
        }
    }
    v
}

/// A core Event in its events.k8s.io/v1 form.
pub fn to_v1(v: Value) -> Value {
    let mut v = rename(v, false);
    if v.is_object() {
        v["apiVersion"] = json!("events.k8s.io/v1");
    }
    v
}

/// The request body for the core resource: objects converted, patches renamed.
pub fn request_to_core(verb: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    if body.is_empty() || !matches!(verb, "create" | "update" | "patch") {
        return Ok(body.to_vec());
    }
    let v = parse_body(body, content_type)?;
    let converted = if content_type.starts_with("application/json-patch+json") {
        let mut ops = v;
        for op in ops.as_array_mut().into_iter().flatten() {
            for key in ["path", "from"] {
                if let Some(p) = op[key].as_str() {
                    let mut segs: Vec<String> = p.split('/').map(String::from).collect();
                    if let Some((_, old)) = RENAMED
                        .iter()
                        .find(|(new, _)| segs.get(1).map(String::as_str) == Some(*new))
                    {
                        segs[1] = old.to_string();
                    }
                    op[key] = json!(segs.join("/"));
                }
            }
        }
        ops
    } else if verb == "patch" {
        rename(v, true)
    } else {
        to_core(v)
    };
    Ok(converted.to_string().into_bytes())
}

/// A response of the core resource in events.k8s.io/v1 terms.
pub fn response_to_v1(mut v: Value) -> Value {
    match v["kind"].as_str() {
        Some("Event") => to_v1(v),
        Some("EventList") => {
            let items: Vec<Value> = v["items"].as_array().cloned().unwrap_or_default();
            v["items"] = Value::Array(items.into_iter().map(to_v1).collect());
            v["apiVersion"] = json!("events.k8s.io/v1");
            v
        }
        Some("Status") => {
            if v["details"]["kind"] == "events" || v["details"]["kind"] == "Event" {
                v["details"]["group"] = json!("events.k8s.io");
            }
            if let Some(m) = v["message"].as_str() {
                let m = m
                    .replacen("events \"", "events.events.k8s.io \"", 1)
                    .replacen("Event \"", "Event.events.k8s.io \"", 1);
                v["message"] = json!(m);
            }
            v
        }
        _ => v,
    }
}

/// Parses and checks an events.k8s.io/v1 Event the way that API validates it.
pub fn validate_v1(
    verb: &str,
    content_type: &str,
    body: &[u8],
    namespace: &str,
) -> Result<(), ApiError> {
    if verb != "create" {
        return Ok(());
    }
    let mut v = parse_body(body, content_type)?;
    if v["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
        && v.is_object()
    {
        v["metadata"]["namespace"] = json!(namespace);
    }
    super::validation::validate_event_v1(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_between_the_two_forms() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Secret", "name": "s"}, "note": "hi", "reportingController": "c",
            "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal"});
        let core = to_core(v1.clone());
        assert_eq!(core["involvedObject"]["name"], "s");
        assert_eq!(core["message"], "hi");
        assert_eq!(core["reportingComponent"], "c");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(to_v1(core), v1);
        let patch = request_to_core(
            "patch",
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/note","value":"x"}]"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(patch).unwrap(),
            r#"[{"op":"replace","path":"/message","value":"x"}]"#
        );
    }
}
