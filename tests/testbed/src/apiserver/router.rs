//! The request pipeline: fault injection, authentication, authorization, dispatch, audit.

use super::audit::AuditEntry;
use super::authn::{self, UserInfo};
use super::crud::{self, Ctx};
use super::faults::{FaultKind, FaultRule, FaultRuleJson};
use super::paths::{self, RequestInfo};
use super::rbac::{self, Attributes};
use super::resources::{self, Storage};
use super::serve::{Body, DropConnection};
use super::status::ApiError;
use super::{
    discovery, events, impersonation, objects, openapi, reviews, sa_tokens, table, token_request,
    watch, State,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .expect("valid response")
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut()
            .insert("Retry-After", hyper::header::HeaderValue::from_static("1"));
    }
    r
}

struct Request2<'a> {
    method: &'a str,
    info: &'a RequestInfo,
    query: &'a HashMap<String, String>,
    headers: &'a hyper::HeaderMap,
    body: &'a [u8],
}

pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let timestamp = objects::now_rfc3339();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_string());
    let query = paths::parse_query(req.uri().query());
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let info = paths::request_info(&method, &path, &query);
    if std::env::var_os("BREAKGLASS_APISERVER_DEBUG").is_some() {
        eprintln!(
            "apiserver: {method} {path_and_query} content-type={:?} accept={:?} body={:?}",
            parts.headers.get("content-type"),
            parts.headers.get("accept"),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let mut entry = AuditEntry {
        timestamp,
        verb: info.verb.clone(),
        method: method.clone(),
        path: path_and_query.clone(),
        user: String::new(),
        groups: vec![],
        extra: Default::default(),
        namespace: info.namespace.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        name: info.name.clone(),
        impersonated_by: String::new(),
        code: 0,
    };
    let r = Request2 {
        method: &method,
        info: &info,
        query: &query,
        headers: &parts.headers,
        body: &body,
    };
    let result = process(&state, &r, &path_and_query, &mut entry).await;
    entry.code = result.as_ref().map_or(0, |resp| resp.status().as_u16());
    state.audit.lock().unwrap().push(entry);
    result
}

async fn process(
    state: &State,
    r: &Request2<'_>,
    path_and_query: &str,
    entry: &mut AuditEntry,
) -> Result<Response<Body>, DropConnection> {
    if !r.info.path.starts_with("/testbed/") {
        match state.faults.check(r.method, path_and_query) {
            Some(FaultKind::Latency(d)) => tokio::time::sleep(d).await,
            Some(FaultKind::Status(code)) => return Ok(error_response(&ApiError::from_code(code))),
            Some(FaultKind::Drop) => return Err(DropConnection),
            Some(FaultKind::Conflict) => {
                let name = if r.info.name.is_empty() {
                    "unknown"
                } else {
                    &r.info.name
                };
                return Ok(error_response(&ApiError::conflict(
                    &r.info.group,
                    &r.info.resource,
                    name,
                )));
            }
            None => {}
        }
    }
    let Some(token) = authn::bearer(r.headers) else {
        return Ok(error_response(&ApiError::unauthorized()));
    };
    let user = match authn::authenticate(state, &token).await {
        Ok(u) => u,
        Err(_) => return Ok(error_response(&ApiError::unauthorized())),
    };
    let user = match impersonation::impersonate(&state.store.lock().unwrap(), &user, r.headers) {
        Ok(Some(impersonated)) => {
            entry.impersonated_by = user.username.clone();
            impersonated
        }
        Ok(None) => user,
        Err(e) => {
            entry.user = user.username.clone();
            return Ok(error_response(&e));
        }
    };
    entry.user = user.username.clone();
    entry.groups = user.groups.clone();
    entry.extra = user.extra.clone();
    let result = if r.info.is_resource {
        resource(state, r, &user).await
    } else {
        non_resource(state, r, &user)
    };
    Ok(result.unwrap_or_else(|e| error_response(&e)))
}

fn non_resource(
    state: &State,
    r: &Request2<'_>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    let path = r.info.path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    if path == "/testbed/faults" {
        return faults_endpoint(state, r, user);
    }
    let attrs = Attributes {
        verb: r.info.verb.clone(),
        path: r.info.path.clone(),
        ..Default::default()
    };
    if rbac::authorize(&state.store.lock().unwrap(), user, &attrs).is_none() {
        return Err(ApiError::forbidden_path(
            &user.username,
            &attrs.verb,
            &r.info.path,
        ));
    }
    if r.method != "GET" && r.method != "HEAD" {
        return Err(ApiError::method_not_allowed());
    }
    let defs = resources::all(&state.store.lock().unwrap());
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let body = match parts.as_slice() {
        ["version"] => discovery::version(),
        ["api"] => discovery::api_versions(state.url.trim_start_matches("https://")),
        ["api", v] => {
            discovery::resource_list(&defs, "", v).ok_or_else(ApiError::path_not_found)?
        }
        ["apis"] => discovery::api_group_list(&defs),
        ["apis", g] => discovery::api_group(&defs, g).ok_or_else(ApiError::path_not_found)?,
        ["apis", g, v] => {
            discovery::resource_list(&defs, g, v).ok_or_else(ApiError::path_not_found)?
        }
        ["openapi", "v2"] => {
            return Ok(Response::builder()
                .status(200)
                .header(
                    "Content-Type",
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                )
                .body(Full::new(Bytes::from(openapi::v2_protobuf())).boxed())
                .expect("valid response"))
        }
        [".well-known", "openid-configuration"] => sa_tokens::discovery(&state.url),
        ["openid", "v1", "jwks"] => state.signer.jwks(),
        ["openapi", "v3"] => openapi::root(&defs),
        ["openapi", "v3", rest @ ..] => {
            openapi::gv_doc(&defs, &rest.join("/")).ok_or_else(ApiError::path_not_found)?
        }
        ["healthz"] | ["livez"] | ["readyz"] => {
            return Ok(Response::builder()
                .status(200)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from_static(b"ok")).boxed())
                .expect("valid response"))
        }
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(json_response(200, &body))
}

/// `POST /testbed/faults` (one rule or an array) and `DELETE /testbed/faults`: admin only.
fn faults_endpoint(
    state: &State,
    r: &Request2<'_>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    if !user.is_master() {
        return Err(ApiError::forbidden_path(
            &user.username,
            &r.info.verb,
            &r.info.path,
        ));
    }
    match r.method {
        "POST" => {
            let v: Value = serde_json::from_slice(r.body)
                .map_err(|e| ApiError::bad_request(format!("fault rule is not JSON: {e}")))?;
            let rules: Vec<FaultRuleJson> = match v {
                Value::Array(_) => serde_json::from_value(v),
                other => serde_json::from_value(other).map(|r| vec![r]),
            }
            .map_err(|e| ApiError::bad_request(format!("invalid fault rule: {e}")))?;
            let n = rules.len();
            for rule in rules {
                state.faults.add(FaultRule::from(rule));
            }
            Ok(json_response(201, &serde_json::json!({"added": n})))
        }
        "DELETE" => {
            state.faults.clear();
            Ok(json_response(200, &serde_json::json!({"cleared": true})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn resource(
    state: &State,
    r: &Request2<'_>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    let info = r.info;
    let def = resources::find(
        &state.store.lock().unwrap(),
        &info.group,
        &info.version,
        &info.resource,
    )
    .ok_or_else(ApiError::path_not_found)?;
    let cluster_namespace_path =
        !def.namespaced && !info.namespace.is_empty() && def.plural != "namespaces";
    let namespaced_without_ns = def.namespaced
        && info.namespace.is_empty()
        && !matches!(info.verb.as_str(), "list" | "watch" | "deletecollection");
    let unknown_sub = !info.subresource.is_empty() && !def.subresources.contains(&info.subresource);
    if cluster_namespace_path || namespaced_without_ns || unknown_sub {
        return Err(ApiError::path_not_found());
    }
    let attrs = Attributes {
        verb: info.verb.clone(),
        is_resource: true,
        group: info.group.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        name: info.name.clone(),
        namespace: info.namespace.clone(),
        path: info.path.clone(),
    };
    if rbac::authorize(&state.store.lock().unwrap(), user, &attrs).is_none() {
        return Err(ApiError::forbidden(
            &user.username,
            &info.verb,
            &info.group,
            &info.resource,
            &info.subresource,
            &info.name,
            &info.namespace,
        ));
    }
    let content_type = r
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    // events.k8s.io Events live in core Event storage.
    let served = def.clone();
    let converted_events = events::is_events_v1(&def);
    let (def, body, content_type) = if converted_events {
        events::validate_v1(&info.verb, content_type, r.body, &info.namespace)?;
        let body = events::request_to_core(&info.verb, content_type, r.body)?;
        let ct = if info.verb == "patch" {
            content_type
        } else {
            "application/json"
        };
        (events::core_def(), body, ct)
    } else {
        (def, r.body.to_vec(), content_type)
    };
    let ctx = Ctx {
        state,
        def: &def,
        info,
        query: r.query,
        body: &body,
        content_type,
        user,
    };
    if def.storage == Storage::Review {
        if info.verb != "create" || !info.name.is_empty() {
            return Err(ApiError::method_not_allowed());
        }
        let (code, v) = reviews::create(&ctx).await?;
        return Ok(json_response(code, &v));
    }
    if info.subresource == "token" {
        if info.verb != "create" {
            return Err(ApiError::method_not_allowed());
        }
        let (code, v) = token_request::create(&ctx)?;
        return Ok(json_response(code, &v));
    }
    let accept = r
        .headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = match info.verb.as_str() {
        "get" => crud::get(&ctx),
        "list" => crud::list(&ctx),
        "watch" => {
            let table = table::wants_table(accept).then(|| {
                r.query
                    .get("includeObject")
                    .map_or("Metadata", String::as_str)
                    .to_string()
            });
            let body = watch::watch(&ctx, &served, table)?;
            return Ok(Response::builder()
                .status(200)
                .header("Content-Type", "application/json")
                .body(body)
                .expect("valid response"));
        }
        "create" if info.name.is_empty() => crud::create(&ctx),
        "update" => crud::update(&ctx),
        "patch" => crud::patch(&ctx),
        "delete" if info.subresource.is_empty() => crud::delete(&ctx),
        "deletecollection" => crud::delete_collection(&ctx),
        _ => return Err(ApiError::method_not_allowed()),
    };
    let (code, v) = match result {
        Ok((code, v)) if converted_events => (code, events::response_to_v1(v)),
        Ok(ok) => ok,
        Err(e) if converted_events => {
            let status = events::response_to_v1(e.to_status());
            return Ok(json_response(e.code, &status));
        }
        Err(e) => return Err(e),
    };
    if code == 200 && matches!(info.verb.as_str(), "get" | "list") && table::wants_table(accept) {
        let include = r
            .query
            .get("includeObject")
            .map_or("Metadata", String::as_str);
        return Ok(json_response(200, &table::to_table(&served, &v, include)));
    }
    Ok(json_response(code, &v))
}
