//! Objects the real control plane creates at start-up: system namespaces with their default
//! service accounts, and the bootstrap RBAC roles and bindings that matter to clients.

use super::crud::insert_system;
use super::resources::{builtins, ResourceDef};
use super::State;
use serde_json::{json, Value};

fn def(group: &str, plural: &str) -> ResourceDef {
    builtins()
        .into_iter()
        .find(|d| d.group == group && d.plural == plural)
        .expect("built-in resource")
}

fn bootstrap_meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn view_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "serviceaccounts",
                "events",
                "namespaces",
                "pods",
            ],
            READ,
        ),
        rule(&["events.k8s.io"], &["events"], READ),
    ]
}

fn edit_rules() -> Vec<Value> {
    let mut rules = view_rules();
    rules.push(rule(
        &[""],
        &["configmaps", "secrets", "serviceaccounts", "events", "pods"],
        WRITE,
    ));
    rules.push(rule(&[""], &["secrets"], READ));
    rules.push(rule(&[""], &["serviceaccounts/token"], &["create"]));
    rules.push(rule(&["events.k8s.io"], &["events"], WRITE));
    rules
}

fn admin_rules() -> Vec<Value> {
    let mut rules = edit_rules();
    let rbac = "rbac.authorization.k8s.io";
    rules.push(rule(&[rbac], &["roles", "rolebindings"], READ));
    rules.push(rule(&[rbac], &["roles", "rolebindings"], WRITE));
    rules.push(rule(
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
        &["create"],
    ));
    rules
}

/// Installs the bootstrap objects into a fresh store.
pub fn install(state: &State) {
    let mut store = state.store.lock().unwrap();
    let ns = def("", "namespaces");
    let sa = def("", "serviceaccounts");
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        insert_system(&mut store, &ns, json!({"metadata": {"name": name}}));
        insert_system(
            &mut store,
            &sa,
            json!({"metadata": {"name": "default", "namespace": name}}),
        );
    }
    let rbac = "rbac.authorization.k8s.io";
    let cr = def(rbac, "clusterroles");
    let roles: Vec<(&str, Vec<Value>)> = vec![
        (
            "cluster-admin",
            vec![
                rule(&["*"], &["*"], &["*"]),
                json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            ],
        ),
        ("admin", admin_rules()),
        ("edit", edit_rules()),
        ("view", view_rules()),
        (
            "system:basic-user",
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        (
            "system:discovery",
            vec![
                json!({"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}),
            ],
        ),
        (
            "system:public-info-viewer",
            vec![
                json!({"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}),
            ],
        ),
        (
            "system:service-account-issuer-discovery",
            vec![
                json!({"nonResourceURLs": ["/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"], "verbs": ["get"]}),
            ],
        ),
        (
            "system:auth-delegator",
            vec![
                rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
                rule(
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                    &["create"],
                ),
            ],
        ),
    ];
    for (name, rules) in roles {
        insert_system(
            &mut store,
            &cr,
            json!({"metadata": bootstrap_meta(name), "rules": rules}),
        );
    }
    let crb = def(rbac, "clusterrolebindings");
    let group = |g: &str| json!({"kind": "Group", "apiGroup": rbac, "name": g});
    let bindings = vec![
        ("cluster-admin", vec![group("system:masters")]),
        ("system:basic-user", vec![group("system:authenticated")]),
        ("system:discovery", vec![group("system:authenticated")]),
        (
            "system:service-account-issuer-discovery",
            vec![group("system:serviceaccounts")],
        ),
        (
            "system:public-info-viewer",
            vec![
                group("system:authenticated"),
                group("system:unauthenticated"),
            ],
        ),
    ];
    for (name, subjects) in bindings {
        insert_system(
            &mut store,
            &crb,
            json!({
                "metadata": bootstrap_meta(name),
                "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }),
        );
    }
}
