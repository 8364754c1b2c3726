//! A minimal OpenAPI v3 (`/openapi/v3` and `/openapi/v3/<api|apis/group>/<version>`).
//! kubectl's `--validate` (default strict) asks whether the server supports the
//! `fieldValidation` query parameter by finding the PATCH operation of the object's
//! group/version/kind here; when it does, kubectl leaves validation to the server instead of
//! downloading full schemas. The documents therefore carry paths and operations, not schemas.

use super::discovery::is_stored;
use super::resources::ResourceDef;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn gv_path(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("api/{}", d.version)
    } else {
        format!("apis/{}/{}", d.group, d.version)
    }
}

fn query_params() -> Vec<Value> {
    [
        "dryRun",
        "fieldManager",
        "fieldValidation",
        "force",
        "pretty",
    ]
    .iter()
    .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
    .collect()
}

fn op(d: &ResourceDef, action: &str) -> Value {
    json!({
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
        "parameters": query_params(),
        "responses": {"200": {"description": "OK"}},
    })
}

/// The document of one group/version (`api/v1`, `apis/g/v`).
pub fn gv_doc(defs: &[ResourceDef], gv: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for d in defs.iter().filter(|d| is_stored(d) && gv_path(d) == gv) {
        let base = if d.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}", d.plural)
        } else {
            format!("/{gv}/{}", d.plural)
        };
        paths.insert(
            base.clone(),
            json!({"post": op(d, "post"), "get": op(d, "list")}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op(d, "get"), "put": op(d, "put"), "patch": op(d, "patch"), "delete": op(d, "delete")}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// The root index: every group/version with a content-hashed URL.
pub fn root(defs: &[ResourceDef]) -> Value {
    let mut gvs: Vec<String> = defs.iter().filter(|d| is_stored(d)).map(gv_path).collect();
    gvs.dedup();
    gvs.sort();
    gvs.dedup();
    let mut paths = serde_json::Map::new();
    for gv in gvs {
        if let Some(doc) = gv_doc(defs, &gv) {
            let hash = hex_upper(&Sha256::digest(doc.to_string().as_bytes()));
            paths.insert(
                gv.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn pb_field(num: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![num << 3 | 2];
    let mut len = payload.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            v.push(b);
            break;
        }
        v.push(b | 0x80);
    }
    v.extend_from_slice(payload);
    v
}

/// `/openapi/v2` as the gnostic `openapi_v2.Document` protobuf kubectl asks for: swagger,
/// info and empty paths, no definitions. Older kubectl (1.27) fails `apply` of an existing
/// object without it; with no schema for a kind it falls back to its built-in patch logic.
pub fn v2_protobuf() -> Vec<u8> {
    let info = [pb_field(1, b"Kubernetes"), pb_field(2, b"v1.34.0")].concat();
    [pb_field(1, b"2.0"), pb_field(2, &info), pb_field(8, &[])].concat()
}
