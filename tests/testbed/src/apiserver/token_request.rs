//! `POST .../serviceaccounts/<name>/token` (TokenRequest): validation like the real server
//! (minimum duration, bound object kinds and uids), then a signed, optionally Secret-bound JWT.

use super::admission::{self, AdmissionRequest, Operation};
use super::crud::{parse_body, Ctx, Reply};
use super::objects::{meta_str, uid};
use super::sa_tokens::{self, BoundSecret};
use super::status::{ApiError, FieldError};
use serde_json::{json, Value};

const GROUP: &str = "authentication.k8s.io";

fn invalid(name: &str, err: FieldError) -> ApiError {
    ApiError::invalid(GROUP, "TokenRequest", name, vec![err])
}

/// "10 minutes", like the real validation message.
fn describe(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(60) {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} seconds")
    }
}

pub fn create(ctx: &Ctx<'_>) -> Reply {
    let body = parse_body(ctx.body, ctx.content_type)?;
    let sa_name = ctx.info.name.as_str();
    let ns = ctx.info.namespace.as_str();
    let spec = &body["spec"];
    let expiration = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    let min = ctx.state.settings.lock().unwrap().min_token_expiration;
    if expiration < min.as_secs() as i64 {
        return Err(invalid(
            sa_name,
            FieldError::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                &format!("may not specify a duration less than {}", describe(min)),
            ),
        ));
    }
    if expiration > 1 << 32 {
        return Err(invalid(
            sa_name,
            FieldError::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                "may not specify a duration larger than 2^32 seconds",
            ),
        ));
    }
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![sa_tokens::ISSUER.to_string()]);
    let sa = ctx
        .state
        .store
        .lock()
        .unwrap()
        .get("", "serviceaccounts", ns, sa_name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", sa_name))?;
    let sent_ref = spec
        .get("boundObjectRef")
        .filter(|r| r.is_object())
        .cloned();
    // Admission sees the request as sent (after the service account is found, before the
    // bound object is resolved), as in the real TokenREST.Create.
    let mut out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": sa_name, "namespace": ns, "creationTimestamp": meta_str(&sa, "creationTimestamp")},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": sent_ref.clone().unwrap_or(Value::Null)},
        "status": {"token": "", "expirationTimestamp": null},
    });
    admission::admit(
        ctx.state,
        &ctx.state.store.lock().unwrap(),
        &AdmissionRequest {
            operation: Operation::Create,
            resource: ctx.def,
            subresource: "token",
            namespace: ns,
            name: sa_name,
            object: Some(&out),
            old_object: None,
            user: ctx.user,
        },
    )?;
    let store = ctx.state.store.lock().unwrap();
    let mut bound_ref = Value::Null;
    let mut secret = None;
    if let Some(r) = &sent_ref {
        let kind = r["kind"].as_str().unwrap_or_default();
        let name = r["name"].as_str().unwrap_or_default();
        let obj = match kind {
            "Secret" => store.get("", "secrets", ns, name).cloned(),
            "Pod" => match store.get("", "pods", ns, name) {
                None => return Err(ApiError::not_found("", "pods", name)),
                // The double stores pods but runs none; it does not bind tokens to them.
                Some(_) => {
                    return Err(ApiError::internal(
                        "the API double does not bind tokens to Pods".to_string(),
                    ))
                }
            },
            "Node" => return Err(ApiError::not_found("", "nodes", name)),
            other => {
                return Err(invalid(
                    sa_name,
                    FieldError::not_supported(
                        "spec.boundObjectRef.kind",
                        &json!(other),
                        &["Pod", "Node", "Secret"],
                    ),
                ))
            }
        };
        let obj = obj.ok_or_else(|| ApiError::not_found("", "secrets", name))?;
        if let Some(want) = r["uid"].as_str().filter(|u| !u.is_empty()) {
            if want != uid(&obj) {
                return Err(ApiError::conflict_msg(
                    "",
                    "Secret",
                    name,
                    &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
                ));
            }
        }
        bound_ref = json!({"kind": "Secret", "apiVersion": "v1", "name": name, "uid": uid(&obj)});
        secret = Some(BoundSecret {
            name: name.to_string(),
            uid: uid(&obj).to_string(),
        });
    }
    drop(store);
    out["spec"]["boundObjectRef"] = bound_ref;
    if ctx.query.get("dryRun").map(String::as_str) == Some("All") {
        return Ok((201, out));
    }
    let (token, exp) = sa_tokens::issue(
        ctx.state,
        ns,
        sa_name,
        uid(&sa),
        &audiences,
        expiration,
        secret.as_ref(),
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    out["status"] = json!({
        "token": token,
        "expirationTimestamp": chrono::DateTime::from_timestamp(exp, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    Ok((201, out))
}
