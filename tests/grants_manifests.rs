//! The cluster-side install (`deploy/`) is self-consistent: every role in the policy has a
//! ServiceAccount, a binding to a ClusterRole and token RBAC for exactly the policy's groups;
//! every admission-policy binding names an existing policy and the policy ConfigMap.

use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn objects() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "deploy/ has the numbered manifests: {files:?}"
    );
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

use serde::Deserialize;

fn of_kind<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn policy(objs: &[Value]) -> BTreeMap<String, String> {
    let cm = of_kind(objs, "ConfigMap")
        .into_iter()
        .find(|c| name(c) == "breakglass-policy")
        .expect("the policy ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "breakglass");
    serde_norway::from_value(cm["data"].clone()).unwrap()
}

#[test]
fn namespace_comes_first_and_everything_lives_in_it() {
    let objs = objects();
    assert_eq!(objs[0]["kind"], "Namespace");
    assert_eq!(name(&objs[0]), "breakglass");
    for o in &objs {
        if let Some(ns) = o["metadata"]["namespace"].as_str() {
            assert_eq!(
                ns,
                "breakglass",
                "{} {}",
                o["kind"].as_str().unwrap(),
                name(o)
            );
        }
    }
}

#[test]
fn every_policy_role_has_an_account_a_cluster_role_and_mirrored_token_rbac() {
    let objs = objects();
    let policy = policy(&objs);
    let roles: Vec<&str> = policy["roles"].split(',').collect();
    assert!(roles.contains(&"incident-debug") && roles.contains(&"cluster-admin"));
    for role in roles {
        assert!(
            of_kind(&objs, "ServiceAccount")
                .iter()
                .any(|s| name(s) == role),
            "ServiceAccount {role}"
        );
        let bound = of_kind(&objs, "ClusterRoleBinding").into_iter().any(|b| {
            b["subjects"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|s| s["kind"] == "ServiceAccount" && s["name"] == role)
        });
        assert!(bound, "{role}'s ServiceAccount is bound to a ClusterRole");
        // The token Role allows exactly this account, and only `create`.
        let token_roles: Vec<&Value> = of_kind(&objs, "Role")
            .into_iter()
            .filter(|r| {
                r["rules"].as_sequence().unwrap().iter().any(|rule| {
                    strings(&rule["resources"]).contains(&"serviceaccounts/token".to_string())
                        && strings(&rule["resourceNames"]) == vec![role.to_string()]
                })
            })
            .collect();
        assert_eq!(token_roles.len(), 1, "one token Role for {role}");
        for rule in token_roles[0]["rules"].as_sequence().unwrap() {
            assert_eq!(strings(&rule["verbs"]), vec!["create"]);
        }
        let groups: Vec<String> = of_kind(&objs, "RoleBinding")
            .into_iter()
            .filter(|b| b["roleRef"]["name"] == name(token_roles[0]))
            .flat_map(|b| b["subjects"].as_sequence().unwrap().clone())
            .map(|s| {
                assert_eq!(s["kind"], "Group");
                s["name"].as_str().unwrap().to_string()
            })
            .collect();
        let mut want: Vec<String> = policy[&format!("{role}.groups")]
            .split(',')
            .map(String::from)
            .collect();
        want.sort();
        let mut got = groups;
        got.sort();
        assert_eq!(got, want, "RBAC mirrors {role}.groups");
    }
}

#[test]
fn requesters_get_nothing_beyond_the_protocol() {
    let objs = objects();
    let requester = of_kind(&objs, "Role")
        .into_iter()
        .find(|r| name(r) == "breakglass:requester")
        .unwrap();
    let mut granted: Vec<String> = Vec::new();
    for rule in requester["rules"].as_sequence().unwrap() {
        assert!(rule.get("resourceNames").is_none());
        for res in strings(&rule["resources"]) {
            for verb in strings(&rule["verbs"]) {
                granted.push(format!("{res}:{verb}"));
            }
        }
    }
    granted.sort();
    assert_eq!(
        granted,
        [
            "breakglassgrants/status:get",
            "breakglassgrants/status:patch",
            "breakglassgrants:create",
            "breakglassgrants:get",
            "breakglassgrants:list",
            "events:create",
            "secrets:create",
            "secrets:delete",
            "secrets:get",
            // The seals, by which `request` finds live grants; every Secret here is an
            // empty seal (the admission policy refuses any other), and no watch.
            "secrets:list",
        ]
    );
    // No ClusterRole or ClusterRoleBinding hands people anything.
    for b in of_kind(&objs, "ClusterRoleBinding") {
        for s in b["subjects"].as_sequence().unwrap() {
            assert_eq!(s["kind"], "ServiceAccount", "{}", name(b));
        }
    }
}

#[test]
fn the_crd_has_the_printer_columns_people_need() {
    let objs = objects();
    let crd = of_kind(&objs, "CustomResourceDefinition")[0];
    assert_eq!(name(crd), "breakglassgrants.breakglass.dev");
    let v = &crd["spec"]["versions"][0];
    assert!(
        v["subresources"]["status"].is_mapping(),
        "status subresource"
    );
    let cols: Vec<String> = v["additionalPrinterColumns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    for want in ["Requester", "Role", "Reason", "Expires", "State"] {
        assert!(cols.contains(&want.to_string()), "{want} in {cols:?}");
    }
    let spec_props = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in [
        "requester",
        "reason",
        "ticket",
        "role",
        "durationSeconds",
        "startTime",
        "expiryTime",
        "clientHost",
        "pluginVersion",
        "sequence",
        "previous",
    ] {
        assert!(spec_props.get(field).is_some(), "spec.{field}");
    }
    let status_props = &v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    for field in [
        "state",
        "jti",
        "sealName",
        "revokedBy",
        "revokedAt",
        "revocationConfirmedAfterSeconds",
    ] {
        assert!(status_props.get(field).is_some(), "status.{field}");
    }
}

#[test]
fn admission_policies_are_bound_and_cover_the_protocol() {
    let objs = objects();
    let policies = of_kind(&objs, "ValidatingAdmissionPolicy");
    let bindings = of_kind(&objs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(policies.len(), 5);
    for p in &policies {
        let b = bindings
            .iter()
            .find(|b| b["spec"]["policyName"] == name(p))
            .unwrap_or_else(|| panic!("binding for {}", name(p)));
        assert_eq!(strings(&b["spec"]["validationActions"]), vec!["Deny"]);
        assert_eq!(p["spec"]["failurePolicy"], "Fail");
        if p["spec"].get("paramKind").is_some() {
            assert_eq!(p["spec"]["paramKind"]["kind"], "ConfigMap");
            assert_eq!(b["spec"]["paramRef"]["name"], "breakglass-policy");
            assert_eq!(b["spec"]["paramRef"]["namespace"], "breakglass");
        }
        for v in p["spec"]["validations"].as_sequence().unwrap() {
            let expr = v["expression"].as_str().unwrap();
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{expr}"
            );
            assert!(v.get("message").is_some() || v.get("messageExpression").is_some());
        }
    }
    for b in &bindings {
        assert!(policies
            .iter()
            .any(|p| name(p) == b["spec"]["policyName"].as_str().unwrap()));
    }
    let all: String = policies
        .iter()
        .flat_map(|p| p["spec"]["validations"].as_sequence().unwrap().clone())
        .map(|v| v["expression"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "boundObjectRef.kind == 'Secret'",
        "expirationSeconds <= variables.maxSeconds",
        "object.spec.requester == request.userInfo.username",
        "object.spec == oldObject.spec",
        "r.kind == 'BreakGlassGrant'",
        "request.name in variables.roles",
        "breakglass.dev/requester'].orValue('') == request.userInfo.username",
        "object.metadata.name == variables.name",
        "object.spec.serviceAccount == object.spec.role",
        "request.userInfo.groups.all(g, g in object.spec.requesterGroups)",
        "'Active -> Revoked'",
    ] {
        assert!(all.contains(needle), "{needle}");
    }
}

#[test]
fn admission_is_applied_before_any_rbac_it_guards() {
    // kubectl applies a directory in name order: the policies must exist before the
    // requesters' RBAC does, so an install never leaves the RBAC without them.
    let objs = objects();
    let last_policy = objs
        .iter()
        .rposition(|o| o["kind"] == "ValidatingAdmissionPolicyBinding")
        .unwrap();
    let first_people_rbac = objs
        .iter()
        .position(|o| {
            (o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
                && o["subjects"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|s| s["kind"] != "ServiceAccount")
        })
        .unwrap();
    assert!(
        last_policy < first_people_rbac,
        "admission policies (object {last_policy}) come before people's RBAC (object {first_people_rbac})"
    );
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/04-admission.yaml"),
    )
    .unwrap();
    assert!(
        text.contains("Minimum Kubernetes version: 1.30"),
        "04-admission.yaml states the minimum version"
    );
}

#[test]
fn record_fields_that_are_printed_are_bounded_and_free_of_control_characters() {
    let objs = objects();
    let crd = of_kind(&objs, "CustomResourceDefinition")[0];
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
    let spec = &schema["spec"]["properties"];
    for (field, max) in [("reason", 1024), ("ticket", 128), ("clientHost", 253)] {
        assert_eq!(spec[field]["maxLength"].as_u64(), Some(max), "{field}");
    }
    // Every string of spec and status (but the timestamps) has the one printable pattern.
    let printable = spec["reason"]["pattern"].as_str().unwrap();
    let mut strings = 0;
    let mut check = |path: &str, v: &serde_norway::Value| {
        if v["type"] == "string" && v["format"] != "date-time" && v.get("enum").is_none() {
            strings += 1;
            assert_eq!(
                v["pattern"].as_str(),
                Some(printable),
                "{path} has no pattern"
            );
            assert!(v["maxLength"].as_u64().is_some(), "{path} is unbounded");
        }
    };
    fn walk(
        path: &str,
        v: &serde_norway::Value,
        check: &mut dyn FnMut(&str, &serde_norway::Value),
    ) {
        check(path, v);
        if let Some(props) = v["properties"].as_mapping() {
            for (k, p) in props {
                walk(&format!("{path}.{}", k.as_str().unwrap()), p, check);
            }
        }
        if !v["items"].is_null() {
            walk(&format!("{path}[]"), &v["items"], check);
        }
    }
    walk("spec", &schema["spec"], &mut check);
    walk("status", &schema["status"], &mut check);
    assert_eq!(strings, 16, "string fields of spec and status");
    // The pattern (Go's regexp syntax, which the regex crate shares here) refuses control,
    // bidi and invisible characters, and takes plain text in any script.
    let re = regex::Regex::new(printable).unwrap();
    assert!(re.is_match("checkout is down — Kasse läuft nicht, 결제 오류 INC-42"));
    for c in [
        '\n', '\r', '\t', '\u{1b}', '\u{7}', '\u{7f}', '\u{85}', '\u{9b}', '\u{202a}', '\u{202e}',
        '\u{2066}', '\u{2069}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}',
        '\u{061c}', '\u{feff}', '\u{2028}', '\u{2029}', '\u{2060}', '\u{2064}', '\u{180e}',
    ] {
        assert!(
            !re.is_match(&format!("a{c}b")),
            "U+{:04X} passes",
            u32::from(c)
        );
    }
    assert_eq!(spec["sequence"]["minimum"].as_u64(), Some(1));
    assert_eq!(spec["sequence"]["maximum"].as_u64(), Some(999_999_999));
}
