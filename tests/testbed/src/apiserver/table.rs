//! Server-side printing: `meta.k8s.io/v1 Table` responses for `kubectl get`, with the columns
//! the real server prints for built-ins and a CRD's `additionalPrinterColumns`.

use super::objects::{human_age, json_path, meta_str, name};
use super::resources::{PrinterColumn, ResourceDef};
use serde_json::{json, Value};

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn col(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn name_col() -> Value {
    col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.",
        0,
    )
}

fn age_col() -> Value {
    col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    )
}

fn count(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len())
}

fn cell_value(v: Option<&Value>, c: &PrinterColumn) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if c.type_ == "date" => json!(human_age(s)),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
        Some(other) => json!(other.to_string()),
    }
}

/// Column definitions and a row-cell function for a resource.
/// Computes a row's cells from an object.
type Cells = Box<dyn Fn(&Value) -> Vec<Value>>;

fn columns(def: &ResourceDef) -> (Vec<Value>, Cells) {
    let age = |o: &Value| json!(human_age(meta_str(o, "creationTimestamp")));
    let n = |o: &Value| json!(name(o));
    if def.custom {
        let pcs = def.printer_columns.clone();
        if pcs.is_empty() {
            return (
                vec![name_col(), age_col()],
                Box::new(move |o| vec![n(o), age(o)]),
            );
        }
        let mut defs = vec![name_col()];
        for c in &pcs {
            defs.push(col(
                &c.name,
                if c.type_ == "date" { "date" } else { &c.type_ },
                "",
                &c.description,
                c.priority,
            ));
        }
        return (
            defs,
            Box::new(move |o| {
                let mut cells = vec![n(o)];
                cells.extend(
                    pcs.iter()
                        .map(|c| cell_value(json_path(o, &c.json_path), c)),
                );
                cells
            }),
        );
    }
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "secrets") => (
            vec![
                name_col(),
                col("Type", "string", "", "", 0),
                col("Data", "string", "", "", 0),
                age_col(),
            ],
            Box::new(move |o| vec![n(o), o["type"].clone(), json!(count(&o["data"])), age(o)]),
        ),
        ("", "configmaps") => (
            vec![name_col(), col("Data", "string", "", "", 0), age_col()],
            Box::new(move |o| {
                vec![
                    n(o),
                    json!(count(&o["data"]) + count(&o["binaryData"])),
                    age(o),
                ]
            }),
        ),
        ("", "serviceaccounts") => (
            vec![name_col(), col("Secrets", "string", "", "", 0), age_col()],
            Box::new(move |o| {
                vec![
                    n(o),
                    json!(o["secrets"].as_array().map_or(0, Vec::len)),
                    age(o),
                ]
            }),
        ),
        ("", "namespaces") => (
            vec![
                name_col(),
                col("Status", "string", "", "The status of the namespace", 0),
                age_col(),
            ],
            Box::new(move |o| vec![n(o), o["status"]["phase"].clone(), age(o)]),
        ),
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => (
            vec![name_col(), col("Role", "string", "", "", 0), age_col()],
            Box::new(move |o| {
                let role = format!(
                    "{}/{}",
                    o["roleRef"]["kind"].as_str().unwrap_or_default(),
                    o["roleRef"]["name"].as_str().unwrap_or_default()
                );
                vec![n(o), json!(role), age(o)]
            }),
        ),
        ("rbac.authorization.k8s.io", "roles" | "clusterroles")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => (
            vec![name_col(), col("Created At", "date", "", "", 0)],
            Box::new(move |o| vec![n(o), json!(meta_str(o, "creationTimestamp"))]),
        ),
        (_, "events") => (
            vec![
                col("Last Seen", "string", "", "", 0),
                col("Type", "string", "", "", 0),
                col("Reason", "string", "", "", 0),
                col("Object", "string", "", "", 0),
                col("Message", "string", "", "", 0),
            ],
            Box::new(move |o| {
                let target = if o["regarding"].is_object() {
                    &o["regarding"]
                } else {
                    &o["involvedObject"]
                };
                let object = format!(
                    "{}/{}",
                    target["kind"].as_str().unwrap_or_default().to_lowercase(),
                    target["name"].as_str().unwrap_or_default()
                );
                let msg = o["note"]
                    .as_str()
                    .or(o["message"].as_str())
                    .unwrap_or_default();
                vec![
                    age(o),
                    o["type"].clone(),
                    o["reason"].clone(),
                    json!(object),
                    json!(msg),
                ]
            }),
        ),
        _ => (
            vec![name_col(), age_col()],
            Box::new(move |o| vec![n(o), age(o)]),
        ),
    }
}

fn partial_metadata(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

/// A Table of one object or of a list's items.
pub fn to_table(def: &ResourceDef, body: &Value, include_object: &str) -> Value {
    let objects: Vec<Value> = match body["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![body.clone()],
    };
    let (defs, cells) = columns(def);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(o)});
            match include_object {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => row["object"] = partial_metadata(o),
            }
            row
        })
        .collect();
    let rv = body["metadata"]["resourceVersion"].clone();
    // One object (get, or a watch event): its own resourceVersion.
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": defs,
        "rows": rows,
    })
}
