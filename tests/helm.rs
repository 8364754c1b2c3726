//! helm (a client-go tool, built from the Go module proxy) through both of the plugin's
//! exec entries: the person's identity and the break-glass token, each seen by the API
//! server as the right user; after `revoke` the break-glass one fails with the plugin's
//! fail-fast message.

mod common;

use common::grants::Bed;
use common::prerequisites::go_peer;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Admin setup: a team's ordinary helm read access for alice (list release Secrets
/// anywhere), nothing more.
const ALICE_HELM_READER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: helm-release-reader}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-helm-release-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: helm-release-reader}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice@example.com}
"#;

fn helm(bed: &Bed, helm: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(helm);
    bed.sb.env(&mut cmd);
    cmd.env("KUBECONFIG", bed.pg.kubeconfig_path())
        .env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache)
        .args(args)
        .output()
        .unwrap()
}

/// A chart with one ConfigMap, to install as admin so there is a release to list.
fn chart(dir: &Path) -> std::path::PathBuf {
    let chart = dir.join("demo");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  hello: world\n",
    )
    .unwrap();
    chart
}

/// The users the API server saw listing helm's release Secrets across all namespaces,
/// with the credential id of each request.
fn helm_listers(bed: &Bed) -> Vec<(String, Option<String>)> {
    bed.pg
        .api
        .audit_log()
        .into_iter()
        .filter(|e| {
            e.verb == "list"
                && e.resource == "secrets"
                && e.namespace.is_empty()
                && e.path.contains("owner%3Dhelm")
                && e.code == 200
        })
        .map(|e| (e.user.clone(), e.credential_id().map(str::to_string)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_works_as_the_person_and_as_the_break_glass_grant() {
    let Some(helm_bin) = go_peer("helm") else {
        return;
    };
    let bed = Bed::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let rbac = tmp.path().join("helm-reader.yaml");
    std::fs::write(&rbac, ALICE_HELM_READER).unwrap();
    assert_ok(
        &bed.kubectl(&[
            "--context",
            "playground-admin",
            "apply",
            "-f",
            rbac.to_str().unwrap(),
        ]),
        "kubectl apply helm reader RBAC",
    );
    let chart = chart(tmp.path());
    let out = helm(
        &bed,
        &helm_bin,
        &[
            "install",
            "demo",
            chart.to_str().unwrap(),
            "--namespace",
            "default",
            "--kube-context",
            "playground-admin",
        ],
    );
    assert_ok(&out, "helm install (admin)");
    bed.login("alice").await;

    // The person: the identity exec entry serves alice's ID token.
    let out = helm(
        &bed,
        &helm_bin,
        &["list", "-A", "--kube-context", "playground"],
    );
    assert_ok(&out, "helm list -A --kube-context playground");
    assert!(stdout(&out).contains("demo"), "{}", stdout(&out));
    assert_no_jwt(&stderr(&out));
    assert_eq!(
        helm_listers(&bed),
        [("alice@example.com".to_string(), None)]
    );

    // The break-glass grant: the elevated exec entry serves the ServiceAccount token,
    // and the API server ties each request to the grant's token id.
    let out = bed.request(&["--role", "cluster-admin", "-o", "json"]);
    assert_ok(&out, "request");
    let grant: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jti = grant["jti"].as_str().expect("the grant's jti").to_string();
    let out = helm(
        &bed,
        &helm_bin,
        &["list", "-A", "--kube-context", "playground-breakglass"],
    );
    assert_ok(&out, "helm list -A --kube-context playground-breakglass");
    assert!(stdout(&out).contains("demo"), "{}", stdout(&out));
    assert_no_jwt(&stderr(&out));
    assert_eq!(
        helm_listers(&bed)[1..],
        [(
            "system:serviceaccount:breakglass:cluster-admin".to_string(),
            Some(format!("JTI={jti}"))
        )]
    );

    // Revoked: helm shows the plugin's fail-fast message, which says what to run.
    assert_ok(&bed.run(&["revoke"]), "revoke");
    let out = helm(
        &bed,
        &helm_bin,
        &["list", "-A", "--kube-context", "playground-breakglass"],
    );
    assert!(!out.status.success(), "helm list after revoke succeeded");
    let err = stderr(&out);
    assert!(
        err.contains(
            "no active break-glass grant for playground — run: kubectl breakglass request --context playground"
        ),
        "{err}"
    );
    assert_no_jwt(&err);
}
