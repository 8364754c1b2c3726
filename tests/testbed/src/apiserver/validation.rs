//! Decoding, defaulting and validation of incoming objects: built-ins are round-tripped through
//! their k8s-openapi types (so malformed fields fail and unknown fields are dropped like the real
//! decoder does); names, CRDs and immutable Secrets/ConfigMaps are checked with the real messages.
//! Custom resources are stored as sent (no structural-schema validation or pruning).

use super::objects::{self, name};
use super::resources::ResourceDef;
use super::status::{ApiError, FieldError};
use base64::Engine;
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn roundtrip<T: DeserializeOwned + Serialize>(
    def: &ResourceDef,
    v: Value,
) -> Result<Value, ApiError> {
    let typed: T = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            def.kind, def.version, def.kind
        ))
    })?;
    serde_json::to_value(typed).map_err(|e| ApiError::internal(e.to_string()))
}

/// Decodes a built-in object through its typed form.
pub fn decode(def: &ResourceDef, obj: Value) -> Result<Value, ApiError> {
    if def.custom {
        return Ok(obj);
    }
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => roundtrip::<api::core::v1::Namespace>(def, obj),
        ("", "serviceaccounts") => roundtrip::<api::core::v1::ServiceAccount>(def, obj),
        ("", "secrets") => roundtrip::<api::core::v1::Secret>(def, secret_string_data(obj)?),
        ("", "configmaps") => roundtrip::<api::core::v1::ConfigMap>(def, obj),
        ("", "events") => roundtrip::<api::core::v1::Event>(def, obj),
        ("events.k8s.io", "events") => roundtrip::<api::events::v1::Event>(def, obj),
        ("rbac.authorization.k8s.io", "roles") => roundtrip::<api::rbac::v1::Role>(def, obj),
        ("rbac.authorization.k8s.io", "rolebindings") => {
            roundtrip::<api::rbac::v1::RoleBinding>(def, obj)
        }
        ("rbac.authorization.k8s.io", "clusterroles") => {
            roundtrip::<api::rbac::v1::ClusterRole>(def, obj)
        }
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            roundtrip::<api::rbac::v1::ClusterRoleBinding>(def, obj)
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            roundtrip::<apiext::CustomResourceDefinition>(def, obj)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            roundtrip::<api::admissionregistration::v1::ValidatingAdmissionPolicy>(def, obj)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            roundtrip::<api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>(def, obj)
        }
        _ => Ok(obj),
    }
}

/// `stringData` is merged into `data` on write, as the real server does.
fn secret_string_data(mut obj: Value) -> Result<Value, ApiError> {
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in sd {
            let s = v.as_str().unwrap_or_default();
            obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
        }
    }
    if obj["type"].as_str().unwrap_or_default().is_empty() {
        obj["type"] = json!("Opaque");
    }
    Ok(obj)
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// Checks the name and the kind-specific rules of a new object.
pub fn validate_create(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let n = name(obj);
    let mut errs = vec![];
    if n.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if def.group == "rbac.authorization.k8s.io" {
        if n == "." || n == ".." || n.contains('/') || n.contains('%') {
            errs.push(FieldError::invalid(
                "metadata.name",
                &json!(n),
                "may not contain '/' or '%'",
            ));
        }
    } else if def.plural == "namespaces" && def.group.is_empty() {
        if !is_label(n) {
            errs.push(FieldError::invalid("metadata.name", &json!(n), LABEL_MSG));
        }
    } else if !is_subdomain(n) {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(n),
            SUBDOMAIN_MSG,
        ));
    }
    // Like the real ValidateObjectMeta: a generateName is a name prefix, so it may end in
    // '-' but otherwise obeys the name's rule (a trailing '.' is refused).
    if let Some(prefix) = obj["metadata"]["generateName"].as_str() {
        let masked = match prefix.strip_suffix('-') {
            Some(rest) => format!("{rest}a"),
            None => prefix.to_string(),
        };
        if !prefix.is_empty() && !is_subdomain(&masked) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                &json!(prefix),
                SUBDOMAIN_MSG,
            ));
        }
    }
    if def.plural == "customresourcedefinitions" {
        crd_errors(obj, &mut errs);
    }
    finish(def, n, errs)
}

/// `events.k8s.io/v1` Events: the fields the real server requires on create.
pub fn validate_event_v1(obj: &Value) -> Result<(), ApiError> {
    let mut errs = vec![];
    event_errors(obj, &mut errs);
    if errs.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        "events.k8s.io",
        "Event",
        objects::meta_str(obj, "name"),
        errs,
    ))
}

fn event_errors(obj: &Value, errs: &mut Vec<FieldError>) {
    let s = |f: &str| obj[f].as_str().unwrap_or_default();
    if obj["eventTime"].is_null() {
        errs.push(FieldError::required("eventTime", ""));
    }
    if !matches!(s("type"), "Normal" | "Warning") {
        errs.push(FieldError::invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {}", s("type")),
        ));
    }
    for (field, limit) in [
        ("reportingController", 0),
        ("reportingInstance", 128),
        ("action", 128),
        ("reason", 128),
    ] {
        if s(field).is_empty() {
            errs.push(FieldError::required(field, ""));
        } else if limit > 0 && s(field).len() > limit {
            errs.push(FieldError {
                reason: "FieldValueTooLong",
                field: field.to_string(),
                message: format!("Too long: may not be more than {limit} bytes"),
            });
        }
    }
    if s("note").len() > 1024 {
        errs.push(FieldError {
            reason: "FieldValueTooLong",
            field: "note".into(),
            message: "Too long: may not be more than 1024 bytes".into(),
        });
    }
    let ns = objects::meta_str(obj, "namespace");
    let regarding_ns = obj["regarding"]["namespace"].as_str().unwrap_or_default();
    let mismatch = if regarding_ns.is_empty() {
        !ns.is_empty() && ns != "default"
    } else {
        regarding_ns != ns
    };
    if mismatch {
        errs.push(FieldError::invalid(
            "regarding.namespace",
            &json!(regarding_ns),
            "does not match event.namespace",
        ));
    }
}

fn crd_errors(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let group = spec["group"].as_str().unwrap_or_default();
    if name(obj) != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(name(obj)),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = spec["scope"].as_str().unwrap_or_default();
    if scope != "Namespaced" && scope != "Cluster" {
        errs.push(FieldError::not_supported(
            "spec.scope",
            &json!(scope),
            &["Cluster", "Namespaced"],
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage = versions
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .count();
    if versions.is_empty() {
        errs.push(FieldError::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    } else if storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(versions
                .iter()
                .map(|v| v["name"].clone())
                .collect::<Vec<_>>()),
            "must have exactly one version marked as storage version",
        ));
    }
}

/// Checks what may not change on update.
pub fn validate_update(def: &ResourceDef, old: &Value, new: &Value) -> Result<(), ApiError> {
    let mut errs = vec![];
    let kind_immutable =
        def.group.is_empty() && (def.plural == "secrets" || def.plural == "configmaps");
    if kind_immutable && old["immutable"] == json!(true) {
        for field in ["data", "binaryData"] {
            if old[field] != new[field] && !(old[field].is_null() && new[field] == json!({})) {
                errs.push(FieldError::forbidden(
                    field,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        if new["immutable"] != json!(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    if def.group.is_empty() && def.plural == "secrets" && old["type"] != new["type"] {
        errs.push(FieldError::invalid(
            "type",
            &new["type"],
            "field is immutable",
        ));
    }
    if def.plural == "customresourcedefinitions" {
        crd_errors(new, &mut errs);
        if old["spec"]["names"]["plural"] != new["spec"]["names"]["plural"]
            || old["spec"]["group"] != new["spec"]["group"]
        {
            errs.push(FieldError::invalid(
                "spec.group",
                &new["spec"]["group"],
                "field is immutable",
            ));
        }
    }
    finish(def, name(new), errs)
}

fn finish(def: &ResourceDef, name: &str, errs: Vec<FieldError>) -> Result<(), ApiError> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.group, &def.kind, name, errs))
    }
}

/// Server-set fields of a new object (status, finalizers, labels) per kind.
pub fn default_on_create(def: &ResourceDef, obj: &mut Value) {
    if def.group.is_empty() && def.plural == "namespaces" {
        let n = name(obj).to_string();
        let meta = objects::metadata_mut(obj);
        if !meta.get("labels").is_some_and(Value::is_object) {
            meta.insert("labels".into(), json!({}));
        }
        meta["labels"]["kubernetes.io/metadata.name"] = json!(n);
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
    }
    if def.plural == "customresourcedefinitions" {
        let now = objects::now_rfc3339();
        let storage: Vec<Value> = obj["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["storage"] == json!(true))
            .map(|v| v["name"].clone())
            .collect();
        obj["status"] = json!({
            "acceptedNames": obj["spec"]["names"].clone(),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
            "storedVersions": storage,
        });
    }
}

/// Whether this kind of object carries `metadata.generation`.
pub fn has_generation(def: &ResourceDef, obj: &Value) -> bool {
    def.custom || obj.get("spec").is_some()
}
