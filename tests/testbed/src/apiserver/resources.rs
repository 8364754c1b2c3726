//! The resource table: built-in resources and those defined by installed CRDs.

use serde_json::Value;

/// How a resource's objects are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Stored objects with the full CRUD verb set.
    Stored,
    /// Create-only review resources (TokenReview, SelfSubjectReview, ...): nothing is stored.
    Review,
}

/// One additional printer column of a CRD version.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i64,
}

/// One served resource (group/version/plural).
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub subresources: Vec<String>,
    pub storage: Storage,
    /// Only for custom resources; built-ins have fixed columns (see `table.rs`).
    pub printer_columns: Vec<PrinterColumn>,
    pub categories: Vec<String>,
    /// Whether the object is a custom resource (no typed round-trip).
    pub custom: bool,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> Vec<&'static str> {
        match self.storage {
            Storage::Review => vec!["create"],
            Storage::Stored => vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
        }
    }
}

fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short_names: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: short_names.iter().map(|s| s.to_string()).collect(),
        subresources: vec![],
        storage: Storage::Stored,
        printer_columns: vec![],
        categories: vec![],
        custom: false,
    }
}

fn review(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> ResourceDef {
    ResourceDef {
        storage: Storage::Review,
        ..builtin(group, version, plural, kind, namespaced, &[])
    }
}

/// The built-in resources the double serves.
pub fn builtins() -> Vec<ResourceDef> {
    let mut sa = builtin("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]);
    sa.subresources = vec!["token".into()];
    let mut ns = builtin("", "v1", "namespaces", "Namespace", false, &["ns"]);
    ns.subresources = vec!["status".into(), "finalize".into()];
    let rbac = "rbac.authorization.k8s.io";
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    );
    crd.subresources = vec!["status".into()];
    // Pods are served (stored like any object, never run) so that `kubectl get pods -A`,
    // the first thing a person does with a break-glass context, answers like a cluster.
    let mut pods = builtin("", "v1", "pods", "Pod", true, &["po"]);
    pods.subresources = vec!["status".into()];
    pods.categories = vec!["all".into()];
    let mut v = vec![
        ns,
        sa,
        pods,
        builtin("", "v1", "secrets", "Secret", true, &[]),
        builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
        builtin("", "v1", "events", "Event", true, &["ev"]),
        builtin("events.k8s.io", "v1", "events", "Event", true, &["ev"]),
        builtin(rbac, "v1", "roles", "Role", true, &[]),
        builtin(rbac, "v1", "rolebindings", "RoleBinding", true, &[]),
        builtin(rbac, "v1", "clusterroles", "ClusterRole", false, &[]),
        builtin(
            rbac,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
        ),
        crd,
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy",
            false,
            &[],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            false,
            &[],
        ),
    ];
    for version in ["v1", "v1beta1", "v1alpha1"] {
        v.push(review(
            "authentication.k8s.io",
            version,
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        ));
    }
    v.push(review(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        false,
    ));
    let authz = "authorization.k8s.io";
    v.push(review(
        authz,
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
    ));
    v.push(review(
        authz,
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ));
    v.push(review(
        authz,
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ));
    v.push(review(
        authz,
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
    ));
    v
}

/// The resources defined by one CRD object (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = s(&names["kind"]);
    let mut out = vec![];
    for ver in spec["versions"].as_array().into_iter().flatten() {
        if ver["served"] == Value::Bool(false) {
            continue;
        }
        let mut subresources = vec![];
        if ver["subresources"]["status"].is_object() {
            subresources.push("status".to_string());
        }
        let printer_columns = ver["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: s(&c["name"]),
                type_: s(&c["type"]),
                json_path: s(&c["jsonPath"]),
                description: s(&c["description"]),
                priority: c["priority"].as_i64().unwrap_or(0),
            })
            .collect();
        let singular = names["singular"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase());
        out.push(ResourceDef {
            group: s(&spec["group"]),
            version: s(&ver["name"]),
            plural: s(&names["plural"]),
            singular,
            kind: kind.clone(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            short_names: strings(&names["shortNames"]),
            subresources,
            storage: Storage::Stored,
            printer_columns,
            categories: strings(&names["categories"]),
            custom: true,
        });
    }
    out
}

/// Built-ins plus every resource defined by a CRD in the store.
pub fn all(store: &super::store::Store) -> Vec<ResourceDef> {
    let mut v = builtins();
    for crd in store.list("apiextensions.k8s.io", "customresourcedefinitions", None) {
        v.extend(from_crd(&crd));
    }
    v
}

/// The resource served at group/version/plural.
pub fn find(
    store: &super::store::Store,
    group: &str,
    version: &str,
    plural: &str,
) -> Option<ResourceDef> {
    all(store)
        .into_iter()
        .find(|d| d.group == group && d.version == version && d.plural == plural)
}
