//! Create-only review resources: SelfSubjectReview, TokenReview, SelfSubjectAccessReview,
//! SubjectAccessReview and LocalSubjectAccessReview. Nothing is stored.

use super::authn::{self, UserInfo};
use super::crud::{parse_body, Ctx, Reply};
use super::rbac::{self, Attributes};
use super::sa_tokens;
use super::status::ApiError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn response(ctx: &Ctx<'_>, body: &Value, status: Value) -> Value {
    let mut spec = body["spec"].clone();
    if spec.is_null() {
        spec = json!({});
    }
    json!({
        "kind": ctx.def.kind,
        "apiVersion": ctx.def.api_version(),
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    })
}

pub async fn create(ctx: &Ctx<'_>) -> Reply {
    let body = parse_body(ctx.body, ctx.content_type)?;
    if let Some(k) = body["kind"].as_str() {
        if k != ctx.def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ctx.def.kind
            )));
        }
    }
    match ctx.def.plural.as_str() {
        "selfsubjectreviews" => {
            let mut v = response(ctx, &body, json!({"userInfo": ctx.user.to_json()}));
            v.as_object_mut().map(|o| o.remove("spec"));
            Ok((201, v))
        }
        "tokenreviews" => token_review(ctx, &body).await,
        "selfsubjectrulesreviews" => {
            let namespace = body["spec"]["namespace"].as_str().unwrap_or_default();
            let rules = rbac::rules_for(&ctx.state.store.lock().unwrap(), ctx.user, namespace);
            let (mut resource_rules, mut non_resource_rules) = (vec![], vec![]);
            for r in rules {
                let pick = |keys: &[&str]| {
                    let mut o = json!({});
                    for k in keys {
                        if !r[*k].is_null() {
                            o[*k] = r[*k].clone();
                        }
                    }
                    o
                };
                if r["nonResourceURLs"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    non_resource_rules.push(pick(&["verbs", "nonResourceURLs"]));
                } else {
                    resource_rules.push(pick(&[
                        "verbs",
                        "apiGroups",
                        "resources",
                        "resourceNames",
                    ]));
                }
            }
            let status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
            Ok((201, response(ctx, &body, status)))
        }
        "selfsubjectaccessreviews" => {
            let status = access(ctx, ctx.user, &body["spec"]);
            Ok((201, response(ctx, &body, status)))
        }
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let spec = &body["spec"];
            if ctx.def.plural == "localsubjectaccessreviews"
                && spec["resourceAttributes"]["namespace"].as_str() != Some(&ctx.info.namespace)
            {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {}",
                    ctx.info.namespace
                )));
            }
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let extra: BTreeMap<String, Vec<String>> = spec["extra"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
                .unwrap_or_default();
            let user = UserInfo {
                username: spec["user"].as_str().unwrap_or_default().to_string(),
                uid: spec["uid"].as_str().unwrap_or_default().to_string(),
                groups: strings(&spec["groups"]),
                extra,
            };
            let status = access(ctx, &user, spec);
            Ok((201, response(ctx, &body, status)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn token_review(ctx: &Ctx<'_>, body: &Value) -> Reply {
    let token = body["spec"]["token"].as_str().unwrap_or_default();
    let audiences: Option<Vec<String>> = body["spec"]["audiences"].as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    });
    let audiences = audiences.filter(|a| !a.is_empty());
    let status = match authn::authenticate_for(ctx.state, token, audiences.as_deref()).await {
        Ok(user) => json!({
            "authenticated": true,
            "user": user.to_json(),
            "audiences": audiences.unwrap_or_else(|| vec![sa_tokens::ISSUER.to_string()]),
        }),
        Err(e) => json!({"user": {}, "error": format!("[invalid bearer token, {e}]")}),
    };
    Ok((201, response(ctx, body, status)))
}

fn access(ctx: &Ctx<'_>, user: &UserInfo, spec: &Value) -> Value {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let attrs = if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: s(&ra["verb"]),
            is_resource: true,
            group: s(&ra["group"]),
            resource: s(&ra["resource"]),
            subresource: s(&ra["subresource"]),
            name: s(&ra["name"]),
            namespace: s(&ra["namespace"]),
            path: String::new(),
        }
    } else {
        let nra = &spec["nonResourceAttributes"];
        Attributes {
            verb: s(&nra["verb"]),
            path: s(&nra["path"]),
            ..Default::default()
        }
    };
    let store = ctx.state.store.lock().unwrap();
    match rbac::authorize(&store, user, &attrs) {
        Some(reason) if reason.is_empty() => json!({"allowed": true}),
        Some(reason) => json!({"allowed": true, "reason": reason}),
        None => json!({"allowed": false}),
    }
}
