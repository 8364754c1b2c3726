//! Rust-level tests of the API double's behaviour over HTTPS: Status errors, conflicts,
//! immutability, dry runs, patches, TokenRequest/TokenReview, garbage collection, watches and
//! fault injection.

mod apiserver_common;

use apiserver_common::Bed;
use breakglass_testbed::apiserver::{ApiConfig, FaultKind, FaultRule};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn secret(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": "v"}})
}

const SECRETS: &str = "/api/v1/namespaces/default/secrets";

#[tokio::test]
async fn authentication_is_required() {
    let bed = Bed::start().await.unwrap();
    let resp = bed
        .http()
        .get(format!("{}/api/v1/namespaces", bed.api.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "Unauthorized");
    assert_eq!(body["kind"], "Status");
    let (code, _) = bed.call("not-a-token", "GET", "/version", None).await;
    assert_eq!(code, 401);
    let (code, v) = bed.admin("GET", "/version", None).await;
    assert_eq!((code, v["gitVersion"].as_str()), (200, Some("v1.34.0")));
}

#[tokio::test]
async fn crud_status_errors() {
    let bed = Bed::start().await.unwrap();
    let (code, v) = bed.admin("POST", SECRETS, Some(secret("s1"))).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["k"], "dg==", "stringData is merged into data");
    assert!(v.get("stringData").is_none());
    assert_eq!(v["type"], "Opaque");
    let (code, v) = bed.admin("POST", SECRETS, Some(secret("s1"))).await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("AlreadyExists")));
    assert_eq!(v["message"], r#"secrets "s1" already exists"#);
    let (code, v) = bed.admin("GET", &format!("{SECRETS}/nope"), None).await;
    assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(v["message"], r#"secrets "nope" not found"#);
    assert_eq!(v["details"], json!({"name": "nope", "kind": "secrets"}));
    let (code, v) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/ghost/secrets",
            Some(secret("s")),
        )
        .await;
    assert_eq!(
        (code, v["message"].as_str()),
        (404, Some(r#"namespaces "ghost" not found"#))
    );
    let (code, v) = bed.admin("POST", SECRETS, Some(secret("Bad_Name"))).await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(v["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueInvalid");
    assert!(v["message"].as_str().unwrap().starts_with(r#"Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#), "{v}");
    let (code, v) = bed
        .admin(
            "POST",
            SECRETS,
            Some(json!({"metadata": {"generateName": "gen-"}})),
        )
        .await;
    assert_eq!(code, 201);
    let generated = v["metadata"]["name"].as_str().unwrap();
    assert!(
        generated.starts_with("gen-") && generated.len() == 9,
        "{generated}"
    );
    // dryRun=All validates but does not persist.
    let (code, _) = bed
        .admin(
            "POST",
            &format!("{SECRETS}?dryRun=All"),
            Some(secret("dry")),
        )
        .await;
    assert_eq!(code, 201);
    let (code, _) = bed.admin("GET", &format!("{SECRETS}/dry"), None).await;
    assert_eq!(code, 404);
    let (code, _) = bed
        .admin(
            "POST",
            &format!("{SECRETS}?dryRun=Some"),
            Some(secret("dry")),
        )
        .await;
    assert_eq!(code, 400);
    // Delete answers with a success Status; a second delete is NotFound.
    let (code, v) = bed.admin("DELETE", &format!("{SECRETS}/s1"), None).await;
    assert_eq!((code, v["status"].as_str()), (200, Some("Success")));
    let (code, _) = bed.admin("DELETE", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn update_conflicts_and_patches() {
    let bed = Bed::start().await.unwrap();
    let (_, created) = bed.admin("POST", SECRETS, Some(secret("s"))).await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut changed = created.clone();
    changed["data"]["k"] = json!("eA==");
    let (code, updated) = bed
        .admin("PUT", &format!("{SECRETS}/s"), Some(changed.clone()))
        .await;
    assert_eq!(code, 200, "{updated}");
    assert_ne!(updated["metadata"]["resourceVersion"].as_str().unwrap(), rv);
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    // The same stale resourceVersion again: Conflict with the real message.
    changed["data"]["k"] = json!("eQ==");
    let (code, v) = bed
        .admin("PUT", &format!("{SECRETS}/s"), Some(changed))
        .await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")));
    assert_eq!(
        v["message"],
        r#"Operation cannot be fulfilled on secrets "s": the object has been modified; please apply your changes to the latest version and try again"#
    );
    let path = format!("{SECRETS}/s");
    let (code, v) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &path,
            Some(json!({"metadata": {"labels": {"a": "1"}}})),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!((code, &v["metadata"]["labels"]["a"]), (200, &json!("1")));
    let ops = json!([{"op": "add", "path": "/metadata/labels/b", "value": "2"}, {"op": "remove", "path": "/metadata/labels/a"}]);
    let (code, v) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &path,
            Some(ops),
            "application/json-patch+json",
        )
        .await;
    assert_eq!((code, &v["metadata"]["labels"]), (200, &json!({"b": "2"})));
    let (code, v) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &path,
            Some(json!({"metadata": {"labels": {"c": "3"}}})),
            "application/strategic-merge-patch+json",
        )
        .await;
    assert_eq!(
        (code, &v["metadata"]["labels"]),
        (200, &json!({"b": "2", "c": "3"}))
    );
    let stale = json!({"metadata": {"resourceVersion": rv}, "data": {"k": "eg=="}});
    let (code, _) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &path,
            Some(stale),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(
        code, 409,
        "a patch carrying a stale resourceVersion conflicts"
    );
    let (code, _) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &format!("{SECRETS}/missing"),
            Some(json!({})),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn immutable_secrets_refuse_data_changes() {
    let bed = Bed::start().await.unwrap();
    let mut s = secret("frozen");
    s["immutable"] = json!(true);
    let (code, created) = bed.admin("POST", SECRETS, Some(s)).await;
    assert_eq!(code, 201);
    let mut changed = created.clone();
    changed["data"]["k"] = json!("eA==");
    let (code, v) = bed
        .admin("PUT", &format!("{SECRETS}/frozen"), Some(changed))
        .await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")), "{v}");
    assert_eq!(
        v["message"],
        "Secret \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    // Labels may still change.
    let mut relabelled = created.clone();
    relabelled["metadata"]["labels"] = json!({"x": "y"});
    let (code, _) = bed
        .admin("PUT", &format!("{SECRETS}/frozen"), Some(relabelled))
        .await;
    assert_eq!(code, 200);
}

async fn wait_gone(bed: &Bed, path: &str, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if bed.admin("GET", path, None).await.0 == 404 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn garbage_collection_follows_owner_references() {
    let config = ApiConfig {
        gc_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let bed = Bed::start_with(config).await.unwrap();
    let (_, owner) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(json!({"metadata": {"name": "owner"}})),
        )
        .await;
    let owner_ref =
        |uid: &str| json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]);
    let owned =
        |name: &str, refs: Value| json!({"metadata": {"name": name, "ownerReferences": refs}});
    let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    bed.admin("POST", SECRETS, Some(owned("dep", owner_ref(&uid))))
        .await;
    bed.admin(
        "POST",
        SECRETS,
        Some(owned(
            "forged",
            owner_ref("00000000-0000-0000-0000-000000000000"),
        )),
    )
    .await;
    bed.admin("POST", SECRETS, Some(owned("orphan-me", owner_ref(&uid))))
        .await;
    assert!(
        wait_gone(&bed, &format!("{SECRETS}/forged"), Duration::from_secs(3)).await,
        "a dependent whose owner uid does not match is collected"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bed.admin("GET", &format!("{SECRETS}/dep"), None).await.0,
        200,
        "a dependent of a live owner stays"
    );
    // Orphan: deleting the owner with Orphan strips the reference from dependents.
    let (_, owner2) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(json!({"metadata": {"name": "owner2"}})),
        )
        .await;
    let uid2 = owner2["metadata"]["uid"].as_str().unwrap().to_string();
    let refs2 = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": uid2}]);
    bed.admin("POST", SECRETS, Some(owned("kept", refs2))).await;
    let (code, _) = bed
        .admin(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/owner2",
            Some(json!({"propagationPolicy": "Orphan"})),
        )
        .await;
    assert_eq!(code, 200);
    bed.admin(
        "DELETE",
        "/api/v1/namespaces/default/configmaps/owner",
        None,
    )
    .await;
    assert!(
        wait_gone(&bed, &format!("{SECRETS}/dep"), Duration::from_secs(3)).await,
        "background deletion collects dependents"
    );
    assert!(
        wait_gone(
            &bed,
            &format!("{SECRETS}/orphan-me"),
            Duration::from_secs(3)
        )
        .await
    );
    let (code, kept) = bed.admin("GET", &format!("{SECRETS}/kept"), None).await;
    assert_eq!(code, 200, "orphaned dependent survives");
    assert!(kept["metadata"]["ownerReferences"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
}

async fn sa_token(bed: &Bed, body: Value) -> (u16, Value) {
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/robot/token",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn token_requests_and_reviews() {
    let bed = Bed::start().await.unwrap();
    bed.api.set_token_auth_cache_ttl(Duration::from_secs(3));
    let (code, v) = sa_token(&bed, json!({"spec": {}})).await;
    assert_eq!(
        (code, v["message"].as_str()),
        (404, Some(r#"serviceaccounts "robot" not found"#))
    );
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(json!({"metadata": {"name": "robot"}})),
    )
    .await;
    let (code, v) = sa_token(&bed, json!({"spec": {"expirationSeconds": 300}})).await;
    assert_eq!(code, 422);
    assert_eq!(
        v["message"],
        r#"TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"#
    );
    bed.api.set_min_token_expiration(Duration::from_secs(60));
    let (code, _) = sa_token(&bed, json!({"spec": {"expirationSeconds": 300}})).await;
    assert_eq!(code, 201, "the minimum is a test knob");
    let bound = |name: &str, uid: Option<&str>| {
        let mut r = json!({"kind": "Secret", "apiVersion": "v1", "name": name});
        if let Some(u) = uid {
            r["uid"] = json!(u);
        }
        json!({"spec": {"expirationSeconds": 600, "boundObjectRef": r}})
    };
    let (code, _) = sa_token(&bed, bound("seal", None)).await;
    assert_eq!(code, 404, "bound Secret must exist");
    let (_, seal) = bed.admin("POST", SECRETS, Some(secret("seal"))).await;
    let (code, v) = sa_token(&bed, bound("seal", Some("wrong-uid"))).await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")));
    let (code, v) = sa_token(&bed, bound("seal", seal["metadata"]["uid"].as_str())).await;
    assert_eq!(code, 201, "{v}");
    let token = v["status"]["token"].as_str().unwrap().to_string();
    assert!(v["status"]["expirationTimestamp"].is_string());
    assert_eq!(v["spec"]["boundObjectRef"]["uid"], seal["metadata"]["uid"]);
    // Claims.
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:default:robot");
    assert_eq!(claims["kubernetes.io"]["secret"]["name"], "seal");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    let jti = claims["jti"].as_str().unwrap().to_string();
    // The token works and is audited with its credential id.
    let (code, v) = bed
        .call(
            &token,
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(
        v["status"]["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"],
        json!([format!("JTI={jti}")])
    );
    let entry = bed
        .api
        .audit_log()
        .into_iter()
        .rev()
        .find(|e| e.resource == "selfsubjectreviews")
        .unwrap();
    assert_eq!(entry.credential_id(), Some(format!("JTI={jti}").as_str()));
    // Revoke by deleting the seal: cached for the TTL, then rejected.
    let review = |t: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}});
    let (_, v) = bed
        .admin(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            Some(review(&token)),
        )
        .await;
    assert_eq!(v["status"]["authenticated"], true);
    bed.admin("DELETE", &format!("{SECRETS}/seal"), None).await;
    let (code, _) = bed.call(&token, "GET", "/version", None).await;
    assert_eq!(
        code, 200,
        "the authentication cache keeps a revoked token alive for its TTL"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (code, v) = bed.call(&token, "GET", "/version", None).await;
    assert_eq!((code, v["message"].as_str()), (401, Some("Unauthorized")));
    let (_, v) = bed
        .admin(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            Some(review(&token)),
        )
        .await;
    assert_ne!(v["status"]["authenticated"], true);
    assert!(
        v["status"]["error"]
            .as_str()
            .unwrap()
            .contains("service account token has been invalidated"),
        "{v}"
    );
    // Deleting and re-creating the service account invalidates its older tokens too.
    let (_, v) = sa_token(&bed, json!({"spec": {}})).await;
    let plain = v["status"]["token"].as_str().unwrap().to_string();
    bed.api.set_token_auth_cache_ttl(Duration::ZERO);
    assert_eq!(bed.call(&plain, "GET", "/version", None).await.0, 200);
    bed.admin(
        "DELETE",
        "/api/v1/namespaces/default/serviceaccounts/robot",
        None,
    )
    .await;
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(json!({"metadata": {"name": "robot"}})),
    )
    .await;
    assert_eq!(bed.call(&plain, "GET", "/version", None).await.0, 401);
}

#[tokio::test]
async fn rbac_with_resource_names_and_subresources() {
    let bed = Bed::start().await.unwrap();
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(json!({"metadata": {"name": "asker"}})),
    )
    .await;
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(json!({"metadata": {"name": "target"}})),
    )
    .await;
    bed.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(json!({"metadata": {"name": "other"}})),
    )
    .await;
    bed.admin(
        "POST",
        &format!("{rbac}/namespaces/default/roles"),
        Some(json!({"metadata": {"name": "mint"}, "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": ["target"]}]})),
    )
    .await;
    bed.admin(
        "POST",
        &format!("{rbac}/namespaces/default/rolebindings"),
        Some(json!({"metadata": {"name": "mint"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mint"}, "subjects": [{"kind": "ServiceAccount", "name": "asker", "namespace": "default"}]})),
    )
    .await;
    let (_, v) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/asker/token",
            Some(json!({})),
        )
        .await;
    let asker = v["status"]["token"].as_str().unwrap().to_string();
    let (code, _) = bed
        .call(
            &asker,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/target/token",
            Some(json!({})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, v) = bed
        .call(
            &asker,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/other/token",
            Some(json!({})),
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(
        v["message"],
        r#"serviceaccounts "other" is forbidden: User "system:serviceaccount:default:asker" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default""#
    );
    let ssar = |verb: &str, name: &str| json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": "serviceaccounts", "subresource": "token", "name": name}}});
    let (_, v) = bed
        .call(
            &asker,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(ssar("create", "target")),
        )
        .await;
    assert_eq!(v["status"]["allowed"], true);
    assert!(
        v["status"]["reason"]
            .as_str()
            .unwrap()
            .contains(r#"RoleBinding "mint""#),
        "{v}"
    );
    let (_, v) = bed
        .call(
            &asker,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(ssar("create", "other")),
        )
        .await;
    assert_eq!(v["status"]["allowed"], false);
    let (code, v) = bed
        .call(&asker, "GET", "/api/v1/namespaces/default/secrets", None)
        .await;
    assert_eq!((code, v["reason"].as_str()), (403, Some("Forbidden")));
}

#[tokio::test]
async fn watch_streams_changes() {
    let bed = Bed::start().await.unwrap();
    let (_, list) = bed.admin("GET", SECRETS, None).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut resp = bed
        .http()
        .get(format!(
            "{}{SECRETS}?watch=true&resourceVersion={rv}",
            bed.api.url()
        ))
        .bearer_auth(bed.api.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    bed.admin("POST", SECRETS, Some(secret("w"))).await;
    bed.admin("DELETE", &format!("{SECRETS}/w"), None).await;
    let mut text = String::new();
    while text.lines().count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "w");
    assert_eq!(events[1]["type"], "DELETED");
}

#[tokio::test]
async fn faults_are_injected_on_chosen_calls() {
    let bed = Bed::start().await.unwrap();
    bed.api.faults().add(FaultRule {
        method: Some("GET".into()),
        path_contains: "/secrets".into(),
        on_calls: 2..=2,
        kind: FaultKind::Status(503),
    });
    assert_eq!(bed.admin("GET", SECRETS, None).await.0, 200);
    let (code, v) = bed.admin("GET", SECRETS, None).await;
    assert_eq!(
        (code, v["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(bed.admin("GET", SECRETS, None).await.0, 200);
    bed.api.faults().clear();
    bed.api.faults().add(FaultRule {
        method: None,
        path_contains: "/configmaps".into(),
        on_calls: 1..=1,
        kind: FaultKind::Drop,
    });
    let err = bed
        .http()
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps",
            bed.api.url()
        ))
        .bearer_auth(bed.api.admin_token())
        .send()
        .await;
    assert!(err.is_err(), "dropped connection: {err:?}");
    bed.api.faults().add(FaultRule {
        method: Some("POST".into()),
        path_contains: "/secrets".into(),
        on_calls: 1..=1,
        kind: FaultKind::Conflict,
    });
    let (code, v) = bed.admin("POST", SECRETS, Some(secret("c"))).await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")));
    bed.api.faults().add(FaultRule {
        method: None,
        path_contains: "/version".into(),
        on_calls: 1..=1,
        kind: FaultKind::Latency(Duration::from_millis(300)),
    });
    let start = Instant::now();
    assert_eq!(bed.admin("GET", "/version", None).await.0, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    // The HTTP control endpoint is for the admin only.
    let rule = json!({"path_contains": "/namespaces", "on_calls": [1, 1], "kind": {"status": 500}});
    let (code, _) = bed.admin("POST", "/testbed/faults", Some(rule)).await;
    assert_eq!(code, 201);
    let (code, v) = bed.admin("GET", "/api/v1/namespaces", None).await;
    assert_eq!((code, v["reason"].as_str()), (500, Some("InternalError")));
    assert_eq!(bed.admin("DELETE", "/testbed/faults", None).await.0, 200);
    let log = bed.api.audit_log();
    assert!(log
        .iter()
        .any(|e| e.code == 503 && e.path.contains("/secrets")));
    assert!(
        log.iter()
            .any(|e| e.code == 0 && e.path.contains("/configmaps")),
        "dropped requests are audited with code 0"
    );
}

#[tokio::test]
async fn custom_resources_served_per_crd_scope() {
    let bed = Bed::start().await.unwrap();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "grants.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "grants", "singular": "grant", "kind": "Grant"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    assert_eq!(
        bed.admin("GET", "/apis/example.com/v1/grants", None)
            .await
            .0,
        404
    );
    let (code, v) = bed
        .admin(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(crd),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["status"]["conditions"][1]["type"], "Established");
    let (_, groups) = bed.admin("GET", "/apis", None).await;
    assert!(groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "example.com"));
    let (code, v) = bed
        .admin("POST", "/apis/example.com/v1/grants", Some(json!({"apiVersion": "example.com/v1", "kind": "Grant", "metadata": {"name": "g1"}, "spec": {"x": 1}})))
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["metadata"]["generation"], 1);
    assert_eq!(
        bed.admin(
            "GET",
            "/apis/example.com/v1/namespaces/default/grants/g1",
            None
        )
        .await
        .0,
        404,
        "cluster-scoped"
    );
    let (code, _) = bed
        .admin(
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/grants.example.com",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        bed.admin("GET", "/apis/example.com/v1/grants/g1", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_status_subresource_separates_status_from_the_rest() {
    let bed = Bed::start().await.unwrap();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "tickets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "tickets", "singular": "ticket", "kind": "Ticket"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let (code, v) = bed
        .admin(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(crd),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let base = "/apis/example.com/v1/namespaces/default/tickets";
    // On create the status is dropped: it is written only through /status.
    let (code, v) = bed
        .admin(
            "POST",
            base,
            Some(json!({"apiVersion": "example.com/v1", "kind": "Ticket",
            "metadata": {"name": "t1"}, "spec": {"x": 1}, "status": {"state": "Closed"}})),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    assert!(v.get("status").is_none(), "{v}");
    // Through /status, the status changes and a changed spec is ignored.
    let mut sent = v.clone();
    sent["spec"]["x"] = 2.into();
    sent["status"] = json!({"state": "Open"});
    let (code, v) = bed
        .admin("PUT", &format!("{base}/t1/status"), Some(sent))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["spec"]["x"].clone(), v["status"]["state"].clone()),
        (json!(1), json!("Open"))
    );
    // Through the main resource, the spec changes and a changed status is ignored.
    let mut sent = v.clone();
    sent["spec"]["x"] = 3.into();
    sent["status"] = json!({"state": "Closed"});
    let (code, v) = bed.admin("PUT", &format!("{base}/t1"), Some(sent)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (v["spec"]["x"].clone(), v["status"]["state"].clone()),
        (json!(3), json!("Open"))
    );
}

#[tokio::test]
async fn events_are_validated_like_the_real_server() {
    let bed = Bed::start().await.unwrap();
    let path = "/apis/events.k8s.io/v1/namespaces/default/events";
    let (code, v) = bed
        .admin(
            "POST",
            path,
            Some(json!({"metadata": {"name": "e1"}, "type": "Odd"})),
        )
        .await;
    assert_eq!(code, 422);
    let fields: Vec<&str> = v["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "eventTime",
            "type",
            "reportingController",
            "reportingInstance",
            "action",
            "reason"
        ]
    );
    let good = json!({
        "metadata": {"name": "e2"},
        "eventTime": "2026-11-27T10:00:00.000000Z",
        "type": "Normal", "reason": "Granted", "action": "Grant", "note": "granted",
        "reportingController": "breakglass.dev/kubectl-breakglass", "reportingInstance": "host-1",
        "regarding": {"apiVersion": "v1", "kind": "Secret", "name": "s", "namespace": "default"},
    });
    let (code, v) = bed.admin("POST", path, Some(good.clone())).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        (v["apiVersion"].as_str(), v["note"].as_str()),
        (Some("events.k8s.io/v1"), Some("granted"))
    );
    // One storage, two APIs: the core view shows the same Event.
    let (code, core) = bed
        .admin("GET", "/api/v1/namespaces/default/events/e2", None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "granted");
    assert_eq!(core["involvedObject"]["name"], "s");
    assert_eq!(
        core["reportingComponent"],
        "breakglass.dev/kubectl-breakglass"
    );
    let (code, v) = bed.admin("GET", &format!("{path}/missing"), None).await;
    assert_eq!(
        (code, v["message"].as_str()),
        (404, Some(r#"events.events.k8s.io "missing" not found"#))
    );
    let patch = json!({"note": "patched"});
    let (code, v) = bed
        .call_ct(
            bed.api.admin_token(),
            "PATCH",
            &format!("{path}/e2"),
            Some(patch),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!((code, v["note"].as_str()), (200, Some("patched")), "{v}");
    let mut elsewhere = good;
    elsewhere["metadata"]["name"] = json!("e3");
    elsewhere["regarding"]["namespace"] = json!("kube-system");
    let (code, v) = bed.admin("POST", path, Some(elsewhere)).await;
    assert_eq!(code, 422);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not match event.namespace"),
        "{v}"
    );
}

/// Service-account tokens verify against the public issuer discovery (`/openid/v1/jwks`),
/// independently of the double's own verifier.
#[tokio::test]
async fn service_account_tokens_verify_against_the_published_jwks() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let bed = Bed::start().await.unwrap();
    let (_, v) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            Some(json!({"spec": {"audiences": ["vault"]}})),
        )
        .await;
    let token = v["status"]["token"].as_str().unwrap().to_string();
    // Any service account may read the issuer discovery, like the real bootstrap RBAC allows.
    let (code, discovery) = bed
        .call(
            &token_for_api(&bed).await,
            "GET",
            "/.well-known/openid-configuration",
            None,
        )
        .await;
    assert_eq!(code, 200, "{discovery}");
    assert_eq!(discovery["issuer"], bed.api.service_account_issuer());
    let (_, jwks) = bed.admin("GET", "/openid/v1/jwks", None).await;
    let key = &jwks["keys"][0];
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("ES256"), key["kid"].as_str())
    );
    let mut point = vec![4u8];
    point.extend(B64.decode(key["x"].as_str().unwrap()).unwrap());
    point.extend(B64.decode(key["y"].as_str().unwrap()).unwrap());
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &B64.decode(parts[2]).unwrap(),
        )
        .expect("the token's signature verifies with the published key");
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], json!(["vault"]));
    // A token for another audience is not accepted by the API server itself.
    assert_eq!(bed.call(&token, "GET", "/version", None).await.0, 401);
}

/// A token of the default service account for the API audience.
async fn token_for_api(bed: &Bed) -> String {
    let (_, v) = bed
        .admin(
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            Some(json!({})),
        )
        .await;
    v["status"]["token"].as_str().unwrap().to_string()
}
