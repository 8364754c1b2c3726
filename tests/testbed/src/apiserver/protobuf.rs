//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//! kubectl's typed clients (create namespace/secret/serviceaccount/rolebinding/token, auth
//! whoami, auth can-i) send protobuf; answers go back as JSON, which their Accept header allows.
//! Only the kinds kubectl sends are described; field numbers follow k8s.io/api's generated.proto.

use base64::Engine;
use serde_json::{json, Map, Value};

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Time,
    MapStr,
    MapBytes,
    MapStrList,
    Msg(&'static [Field]),
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: false,
    }
}

const fn r(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: true,
    }
}

use Kind::*;

const OWNER_REF: &[Field] = &[
    f(1, "kind", Str),
    f(3, "name", Str),
    f(4, "uid", Str),
    f(5, "apiVersion", Str),
    f(6, "controller", Bool),
    f(7, "blockOwnerDeletion", Bool),
];
const OBJECT_META: &[Field] = &[
    f(1, "name", Str),
    f(2, "generateName", Str),
    f(3, "namespace", Str),
    f(5, "uid", Str),
    f(6, "resourceVersion", Str),
    f(8, "creationTimestamp", Time),
    f(9, "deletionTimestamp", Time),
    f(10, "deletionGracePeriodSeconds", Int),
    f(11, "labels", MapStr),
    f(12, "annotations", MapStr),
    r(13, "ownerReferences", Msg(OWNER_REF)),
    r(14, "finalizers", Str),
];
const META: Field = f(1, "metadata", Msg(OBJECT_META));
const NAMESPACE: &[Field] = &[
    META,
    f(2, "spec", Msg(&[r(1, "finalizers", Str)])),
    f(3, "status", Msg(&[f(1, "phase", Str)])),
];
const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Str),
    f(2, "namespace", Str),
    f(3, "name", Str),
    f(4, "uid", Str),
    f(5, "apiVersion", Str),
    f(6, "resourceVersion", Str),
    f(7, "fieldPath", Str),
];
const SERVICE_ACCOUNT: &[Field] = &[
    META,
    r(2, "secrets", Msg(OBJECT_REFERENCE)),
    r(3, "imagePullSecrets", Msg(&[f(1, "name", Str)])),
    f(4, "automountServiceAccountToken", Bool),
];
const SECRET: &[Field] = &[
    META,
    f(2, "data", MapBytes),
    f(3, "type", Str),
    f(4, "stringData", MapStr),
    f(5, "immutable", Bool),
];
const CONFIG_MAP: &[Field] = &[
    META,
    f(2, "data", MapStr),
    f(3, "binaryData", MapBytes),
    f(4, "immutable", Bool),
];
const SUBJECT: &[Field] = &[
    f(1, "kind", Str),
    f(2, "apiGroup", Str),
    f(3, "name", Str),
    f(4, "namespace", Str),
];
const ROLE_REF: &[Field] = &[f(1, "apiGroup", Str), f(2, "kind", Str), f(3, "name", Str)];
const ROLE_BINDING: &[Field] = &[
    META,
    r(2, "subjects", Msg(SUBJECT)),
    f(3, "roleRef", Msg(ROLE_REF)),
];
const POLICY_RULE: &[Field] = &[
    r(1, "verbs", Str),
    r(2, "apiGroups", Str),
    r(3, "resources", Str),
    r(4, "resourceNames", Str),
    r(5, "nonResourceURLs", Str),
];
const LABEL_SELECTOR: &[Field] = &[
    f(1, "matchLabels", MapStr),
    r(
        2,
        "matchExpressions",
        Msg(&[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)]),
    ),
];
const ROLE: &[Field] = &[META, r(2, "rules", Msg(POLICY_RULE))];
const CLUSTER_ROLE: &[Field] = &[
    META,
    r(2, "rules", Msg(POLICY_RULE)),
    f(
        3,
        "aggregationRule",
        Msg(&[r(1, "clusterRoleSelectors", Msg(LABEL_SELECTOR))]),
    ),
];
const TOKEN_REQUEST: &[Field] = &[
    META,
    f(
        2,
        "spec",
        Msg(&[
            r(1, "audiences", Str),
            f(
                3,
                "boundObjectRef",
                Msg(&[
                    f(1, "kind", Str),
                    f(2, "apiVersion", Str),
                    f(3, "name", Str),
                    f(4, "uid", Str),
                ]),
            ),
            f(4, "expirationSeconds", Int),
        ]),
    ),
];
const TOKEN_REVIEW: &[Field] = &[
    META,
    f(
        2,
        "spec",
        Msg(&[f(1, "token", Str), r(2, "audiences", Str)]),
    ),
];
const RESOURCE_ATTRIBUTES: &[Field] = &[
    f(1, "namespace", Str),
    f(2, "verb", Str),
    f(3, "group", Str),
    f(4, "version", Str),
    f(5, "resource", Str),
    f(6, "subresource", Str),
    f(7, "name", Str),
];
const NON_RESOURCE_ATTRIBUTES: &[Field] = &[f(1, "path", Str), f(2, "verb", Str)];
const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    META,
    f(
        2,
        "spec",
        Msg(&[
            f(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
            f(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
        ]),
    ),
];
const SUBJECT_ACCESS_REVIEW: &[Field] = &[
    META,
    f(
        2,
        "spec",
        Msg(&[
            f(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
            f(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
            f(3, "user", Str),
            r(4, "groups", Str),
            f(5, "extra", MapStrList),
            f(6, "uid", Str),
        ]),
    ),
];
const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[META, f(2, "spec", Msg(&[f(1, "namespace", Str)]))];
const DELETE_OPTIONS: &[Field] = &[
    f(1, "gracePeriodSeconds", Int),
    f(
        2,
        "preconditions",
        Msg(&[f(1, "uid", Str), f(2, "resourceVersion", Str)]),
    ),
    f(3, "orphanDependents", Bool),
    f(4, "propagationPolicy", Str),
    r(5, "dryRun", Str),
];

fn schema_for(kind: &str) -> Option<&'static [Field]> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Secret" => SECRET,
        "ConfigMap" => CONFIG_MAP,
        "RoleBinding" | "ClusterRoleBinding" => ROLE_BINDING,
        "Role" => ROLE,
        "ClusterRole" => CLUSTER_ROLE,
        "TokenRequest" => TOKEN_REQUEST,
        "TokenReview" => TOKEN_REVIEW,
        "SelfSubjectReview" => &[META],
        "SelfSubjectAccessReview" => SELF_SUBJECT_ACCESS_REVIEW,
        "SelfSubjectRulesReview" => SELF_SUBJECT_RULES_REVIEW,
        "SubjectAccessReview" | "LocalSubjectAccessReview" => SUBJECT_ACCESS_REVIEW,
        "DeleteOptions" => DELETE_OPTIONS,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = self.varint()? as usize;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or("truncated field")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            1 => {
                self.pos += 8;
                Wire::Fixed
            }
            5 => {
                self.pos += 4;
                Wire::Fixed
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((tag >> 3, wire)))
    }
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

fn map_entry(b: &[u8]) -> Result<(String, &[u8]), String> {
    let mut rd = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), &b[0..0]);
    while let Some((n, w)) = rd.next()? {
        match (n, w) {
            (1, Wire::Bytes(x)) => k = string(x)?,
            (2, Wire::Bytes(x)) => v = x,
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, String> {
    let mut rd = Reader { buf: b, pos: 0 };
    let mut secs = 0i64;
    while let Some((n, w)) = rd.next()? {
        if let (1, Wire::Varint(v)) = (n, w) {
            secs = v as i64;
        }
    }
    if secs == 0 {
        return Ok(Value::Null);
    }
    let t = chrono::DateTime::from_timestamp(secs, 0).ok_or("time out of range")?;
    Ok(json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn message(b: &[u8], schema: &[Field]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut rd = Reader { buf: b, pos: 0 };
    while let Some((num, wire)) = rd.next()? {
        let Some(field) = schema.iter().find(|fl| fl.num == num) else {
            continue;
        };
        let value = match (field.kind, wire) {
            (Str, Wire::Bytes(x)) => json!(string(x)?),
            (Int, Wire::Varint(v)) => json!(v as i64),
            (Bool, Wire::Varint(v)) => json!(v != 0),
            (Time, Wire::Bytes(x)) => time(x)?,
            (Msg(s), Wire::Bytes(x)) => message(x, s)?,
            (MapStr | MapBytes | MapStrList, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x)?;
                let v = match field.kind {
                    MapStr => json!(string(v)?),
                    MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(v)),
                    _ => message(v, &[r(1, "items", Str)])?["items"].clone(),
                };
                let entry = out.entry(field.name).or_insert_with(|| json!({}));
                entry[k] = v;
                continue;
            }
            _ => return Err(format!("field {} has an unexpected wire type", field.name)),
        };
        if field.repeated {
            let list = out.entry(field.name).or_insert_with(|| json!([]));
            list.as_array_mut()
                .expect("repeated field is a list")
                .push(value);
        } else if !(value.is_null() || value == json!("")) {
            out.insert(field.name.to_string(), value);
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-prefixed `runtime.Unknown` envelope into the JSON form of the object.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or("protobuf body lacks the k8s envelope")?;
    let mut rd = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &rest[0..0]);
    while let Some((n, w)) = rd.next()? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                let v = message(tm, &[f(1, "apiVersion", Str), f(2, "kind", Str)])?;
                api_version = v["apiVersion"].as_str().unwrap_or_default().to_string();
                kind = v["kind"].as_str().unwrap_or_default().to_string();
            }
            (2, Wire::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let schema = schema_for(&kind)
        .ok_or_else(|| format!("protobuf decoding of {kind} is not supported by the API double"))?;
    let mut v = message(raw, schema)?;
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(num << 3 | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_secret_envelope() {
        let meta = [field(1, b"s1"), field(3, b"ns")].concat();
        let entry = [field(1, b"k"), field(2, b"v1")].concat();
        let secret = [field(1, &meta), field(2, &entry), field(3, b"Opaque")].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "ns"}, "data": {"k": "djE="}, "type": "Opaque"})
        );
    }
}
