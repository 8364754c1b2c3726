//! RBAC authorization from the Role/ClusterRole/RoleBinding/ClusterRoleBinding objects in the
//! store, plus the `system:masters` bypass. Escalation checks (creating a Role that grants more
//! than the creator holds) are deliberately not emulated: the tests never rely on them.

use super::authn::UserInfo;
use super::selectors;
use super::store::Store;
use serde_json::Value;

const RBAC: &str = "rbac.authorization.k8s.io";

/// What a request wants to do.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub verb: String,
    pub is_resource: bool,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
    pub path: String,
}

/// Allowed with the real authorizer's reason, or denied.
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> Option<String> {
    if user.is_master() {
        return Some(String::new());
    }
    for crb in store.list(RBAC, "clusterrolebindings", None) {
        if let Some(reason) = binding_allows(store, &crb, "", user, a) {
            return Some(reason);
        }
    }
    if !a.namespace.is_empty() {
        for rb in store.list(RBAC, "rolebindings", Some(&a.namespace)) {
            if let Some(reason) = binding_allows(store, &rb, &a.namespace, user, a) {
                return Some(reason);
            }
        }
    }
    None
}

/// Every rule that applies to `user` in `namespace` (SelfSubjectRulesReview).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Value> {
    let mut rules = vec![];
    let mut collect = |binding: &Value, ns: &str| {
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        if !subjects.iter().any(|s| subject_matches(s, ns, user)) {
            return;
        }
        let role_ref = &binding["roleRef"];
        let name = role_ref["name"].as_str().unwrap_or_default();
        let role = match role_ref["kind"].as_str() {
            Some("ClusterRole") => store.get(RBAC, "clusterroles", "", name),
            Some("Role") if !ns.is_empty() => store.get(RBAC, "roles", ns, name),
            _ => None,
        };
        if let Some(role) = role {
            rules.extend(effective_rules(store, role));
        }
    };
    for crb in store.list(RBAC, "clusterrolebindings", None) {
        collect(&crb, "");
    }
    if !namespace.is_empty() {
        for rb in store.list(RBAC, "rolebindings", Some(namespace)) {
            collect(&rb, namespace);
        }
    }
    rules
}

fn binding_allows(
    store: &Store,
    binding: &Value,
    namespace: &str,
    user: &UserInfo,
    a: &Attributes,
) -> Option<String> {
    let subject = binding["subjects"]
        .as_array()?
        .iter()
        .find(|s| subject_matches(s, namespace, user))?;
    let role_ref = &binding["roleRef"];
    let role_name = role_ref["name"].as_str()?;
    let role_kind = role_ref["kind"].as_str()?;
    let role = match role_kind {
        "ClusterRole" => store.get(RBAC, "clusterroles", "", role_name)?,
        "Role" if !namespace.is_empty() => store.get(RBAC, "roles", namespace, role_name)?,
        _ => return None,
    };
    let rules = effective_rules(store, role);
    if !rules.iter().any(|r| rule_allows(r, a)) {
        return None;
    }
    let binding_kind = if namespace.is_empty() {
        "ClusterRoleBinding".to_string()
    } else {
        "RoleBinding".to_string()
    };
    let binding_name = binding["metadata"]["name"].as_str().unwrap_or_default();
    let where_ = if namespace.is_empty() {
        String::new()
    } else {
        format!(" in namespace {namespace:?}")
    };
    Some(format!(
        "RBAC: allowed by {binding_kind} {binding_name:?} of {role_kind} {role_name:?} to {} {:?}{where_}",
        subject["kind"].as_str().unwrap_or_default(),
        subject["name"].as_str().unwrap_or_default(),
    ))
}

/// A role's rules, including those aggregated from labelled ClusterRoles.
fn effective_rules(store: &Store, role: &Value) -> Vec<Value> {
    let mut rules: Vec<Value> = role["rules"].as_array().cloned().unwrap_or_default();
    if let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() {
        for cr in store.list(RBAC, "clusterroles", None) {
            if cr["metadata"]["name"] == role["metadata"]["name"] {
                continue;
            }
            let labels = &cr["metadata"]["labels"];
            if selectors
                .iter()
                .any(|s| selectors::label_selector_matches(s, labels))
            {
                rules.extend(cr["rules"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    rules
}

fn subject_matches(s: &Value, binding_namespace: &str, user: &UserInfo) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str() {
        Some("User") => name == user.username,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = s["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            user.username == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strings(&rule["verbs"]);
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.is_resource {
        return strings(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*"
                || *u == a.path
                || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
        });
    }
    let groups = strings(&rule["apiGroups"]);
    if !groups.iter().any(|g| *g == "*" || *g == a.group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = strings(&rule["resources"]);
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
    });
    if !resource_ok {
        return false;
    }
    let names = strings(&rule["resourceNames"]);
    names.is_empty() || names.contains(&a.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(verb: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            is_resource: true,
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: "ns".into(),
            ..Default::default()
        }
    }

    #[test]
    fn resource_names_and_subresources() {
        let rule = json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": ["bg-admin"]});
        assert!(rule_allows(
            &rule,
            &attrs("create", "serviceaccounts", "token", "bg-admin")
        ));
        assert!(!rule_allows(
            &rule,
            &attrs("create", "serviceaccounts", "token", "other")
        ));
        assert!(!rule_allows(
            &rule,
            &attrs("create", "serviceaccounts", "", "bg-admin")
        ));
        let star = json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]});
        assert!(rule_allows(&star, &attrs("delete", "secrets", "", "x")));
    }

    #[test]
    fn non_resource_urls() {
        let rule = json!({"nonResourceURLs": ["/api", "/api/*"], "verbs": ["get"]});
        let mut a = Attributes {
            verb: "get".into(),
            path: "/api/v1".into(),
            ..Default::default()
        };
        assert!(rule_allows(&rule, &a));
        a.path = "/apis".into();
        assert!(!rule_allows(&rule, &a));
    }
}
