//! Drives the API double with real kubectl (current and 1.27) so it cannot drift into a
//! private dialect: discovery, whoami, can-i, create/apply/get/delete, CRDs with printer
//! columns, and bound service-account tokens from `kubectl create token`.

mod apiserver_common;

use apiserver_common::{kubectl, kubectl_binaries, kubectl_stdin, ok, stderr, stdout, Bed};
use breakglass_testbed::apiserver::{ApiConfig, ApiServer, OidcConfig};
use breakglass_testbed::idp::{Idp, IdpConfig};
use breakglass_testbed::tls::Ca;
use serde_json::Value;
use std::time::Duration;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}): {s}"))
}

#[tokio::test]
async fn version_and_whoami_as_admin() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for bin in kubectl_binaries() {
        let args = ["version", "-o", "json"];
        let v = json(&ok(&bin, &args, &kubectl(&bin, &kc, &args).await));
        assert_eq!(
            v["serverVersion"]["gitVersion"],
            "v1.34.0",
            "{}",
            bin.display()
        );
        let args = ["auth", "whoami", "-o", "json"];
        let v = json(&ok(&bin, &args, &kubectl(&bin, &kc, &args).await));
        assert_eq!(v["status"]["userInfo"]["username"], "kubernetes-admin");
        let groups = v["status"]["userInfo"]["groups"].to_string();
        assert!(groups.contains("system:masters"), "{groups}");
        let args = ["auth", "whoami"];
        let table = ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        assert!(table.contains("kubernetes-admin"), "{table}");
    }
}

/// The first thing a person runs with a break-glass context answers like a cluster.
#[tokio::test]
async fn pods_are_served_and_listed_across_namespaces() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for bin in kubectl_binaries() {
        let args = ["get", "pods", "-A"];
        let out = kubectl(&bin, &kc, &args).await;
        ok(&bin, &args, &out);
        assert!(
            stderr(&out).contains("No resources found"),
            "{}: {}",
            bin.display(),
            stderr(&out)
        );
    }
}

#[tokio::test]
async fn create_get_select_delete() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for (i, bin) in kubectl_binaries().iter().enumerate() {
        let ns = format!("team-{i}");
        let run = |args: Vec<String>| {
            let bin = bin.clone();
            let kc = kc.clone();
            async move {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = kubectl(&bin, &kc, &a).await;
                (ok(&bin, &a, &out), out)
            }
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (out, _) = run(s(&["create", "namespace", &ns])).await;
        assert!(out.contains(&format!("namespace/{ns} created")), "{out}");
        let (out, _) = run(s(&["create", "serviceaccount", "robot", "-n", &ns])).await;
        assert!(out.contains("serviceaccount/robot created"), "{out}");
        run(s(&[
            "create",
            "secret",
            "generic",
            "one",
            "--from-literal=k=v1",
            "-n",
            &ns,
        ]))
        .await;
        run(s(&[
            "create",
            "secret",
            "generic",
            "two",
            "--from-literal=k=v2",
            "-n",
            &ns,
        ]))
        .await;
        run(s(&["label", "secret", "one", "tier=gold", "-n", &ns])).await;
        run(s(&["label", "secret", "two", "tier=silver", "-n", &ns])).await;
        let (out, _) = run(s(&["get", "secret", "one", "-n", &ns, "-o", "json"])).await;
        let v = json(&out);
        assert_eq!(v["data"]["k"], "djE=");
        assert_eq!(v["metadata"]["labels"]["tier"], "gold");
        assert!(v["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()));
        for (selector, want) in [
            ("tier=gold", vec!["one"]),
            ("tier!=gold", vec!["two"]),
            ("tier in (gold,silver)", vec!["one", "two"]),
            ("tier notin (gold)", vec!["two"]),
            ("tier", vec!["one", "two"]),
            ("!tier", vec![]),
        ] {
            let (out, _) = run(s(&[
                "get", "secrets", "-n", &ns, "-l", selector, "-o", "json",
            ]))
            .await;
            let names: Vec<String> = json(&out)["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(names, want, "selector {selector} with {}", bin.display());
        }
        let (out, _) = run(s(&["get", "secrets", "-n", &ns])).await;
        assert!(
            out.contains("TYPE") && out.contains("Opaque"),
            "server-side table columns: {out}"
        );
        let (out, _) = run(s(&["get", "secrets", "-A", "--show-labels"])).await;
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{ns} ")))
            .unwrap_or_default();
        assert!(
            row.contains("one") && row.contains("tier=gold"),
            "all-namespaces table: {out}"
        );
        let (out, _) = run(s(&["get", "sa", "-n", &ns, "-o", "name"])).await;
        assert!(
            out.contains("serviceaccount/robot") && out.contains("serviceaccount/default"),
            "{out}"
        );
        // Not found: the real message, exit code 1.
        let args = ["get", "secret", "nope", "-n", ns.as_str()];
        let o = kubectl(bin, &kc, &args).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("secrets \"nope\" not found"),
            "{}",
            stderr(&o)
        );
        // Already exists.
        let args = ["create", "secret", "generic", "one", "-n", ns.as_str()];
        let o = kubectl(bin, &kc, &args).await;
        assert!(
            stderr(&o).contains("secrets \"one\" already exists"),
            "{}",
            stderr(&o)
        );
        // Server-side apply creates, then updates.
        for value in ["first", "second"] {
            let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: {ns}\ndata:\n  k: {value}\n");
            let args = ["apply", "--server-side", "-f", "-"];
            let out = ok(bin, &args, &kubectl_stdin(bin, &kc, &args, Some(&cm)).await);
            assert!(out.contains("configmap/ssa serverside-applied"), "{out}");
        }
        let (out, _) = run(s(&[
            "get",
            "configmap",
            "ssa",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.k}",
        ]))
        .await;
        assert_eq!(out, "second");
        let (out, _) = run(s(&["delete", "secret", "one", "-n", &ns])).await;
        assert!(out.contains("secret \"one\" deleted"), "{out}");
        let (out, _) = run(s(&["delete", "namespace", &ns])).await;
        assert!(
            out.contains(&format!("namespace \"{ns}\" deleted")),
            "{out}"
        );
        let o = kubectl(bin, &kc, &["get", "secret", "two", "-n", &ns]).await;
        assert_eq!(
            o.status.code(),
            Some(1),
            "namespace deletion removed its secrets"
        );
    }
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color: {type: string, enum: [blue, red]}
              size: {type: integer, minimum: 1}
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
"#;

#[tokio::test]
async fn apply_crd_then_custom_resources_with_printer_columns() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    let crd_file = bed.dir.path().join("crd.yaml");
    std::fs::write(&crd_file, CRD).unwrap();
    let crd_path = crd_file.to_string_lossy().to_string();
    for (i, bin) in kubectl_binaries().iter().enumerate() {
        let args = ["apply", "-f", crd_path.as_str()];
        let out = ok(bin, &args, &kubectl(bin, &kc, &args).await);
        assert!(
            out.contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com"),
            "{out}"
        );
        let args = [
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/widgets.example.com",
        ];
        let out = ok(bin, &args, &kubectl(bin, &kc, &args).await);
        assert!(out.contains("condition met"), "{out}");
        let name = format!("w{i}");
        let cr = format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{shape: round}}\nspec:\n  color: blue\n  size: {}\n",
            40 + i
        );
        let args = ["apply", "-f", "-"];
        let out = ok(bin, &args, &kubectl_stdin(bin, &kc, &args, Some(&cr)).await);
        assert!(
            out.contains(&format!("widget.example.com/{name} created")),
            "{out}"
        );
        let cm =
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  a: b\n");
        let args = ["create", "-f", "-"];
        let out = ok(bin, &args, &kubectl_stdin(bin, &kc, &args, Some(&cm)).await);
        assert!(out.contains(&format!("configmap/cm{i} created")), "{out}");
        let args = ["get", "widgets", name.as_str()];
        let out = ok(bin, &args, &kubectl(bin, &kc, &args).await);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "COLOR", "SIZE", "AGE"], "{out}");
        assert!(
            out.contains("blue") && out.contains(&(40 + i).to_string()),
            "{out}"
        );
        let args = ["get", "wd", "-l", "shape=round", "-o", "json"];
        let v = json(&ok(bin, &args, &kubectl(bin, &kc, &args).await));
        assert_eq!(v["items"][0]["metadata"]["name"], name.as_str());
        assert_eq!(v["items"].as_array().unwrap().len(), 1);
        // A second apply with a change patches the object.
        let changed = cr.replace("color: blue", "color: red");
        let args = ["apply", "-f", "-"];
        let out = ok(
            bin,
            &args,
            &kubectl_stdin(bin, &kc, &args, Some(&changed)).await,
        );
        assert!(out.contains("configured"), "{out}");
        let args = [
            "get",
            "widget",
            name.as_str(),
            "-o",
            "jsonpath={.spec.color}",
        ];
        assert_eq!(ok(bin, &args, &kubectl(bin, &kc, &args).await), "red");
        // The CRD's schema is enforced: a bad value is Invalid, an unknown field is refused
        // under kubectl's default strict field validation.
        let args = ["apply", "-f", "-"];
        let bad = cr.replace("color: blue", "color: green");
        let o = kubectl_stdin(
            bin,
            &kc,
            &args,
            Some(&bad.replace(&format!("size: {}", 40 + i), "size: 0")),
        )
        .await;
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains(&format!(r#"The Widget "{name}" is invalid"#)),
            "{err}"
        );
        assert!(
            err.contains(
                r#"spec.color: Unsupported value: "green": supported values: "blue", "red""#
            ),
            "{err}"
        );
        assert!(err.contains("spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"), "{err}");
        let typo = cr.replace("color: blue", "colour: blue\n  color: red");
        let o = kubectl_stdin(bin, &kc, &args, Some(&typo)).await;
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains(r#"strict decoding error: unknown field "spec.colour""#),
            "{err}"
        );
        let cm_typo = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndta:\n  a: b\n";
        let o = kubectl_stdin(bin, &kc, &["create", "-f", "-"], Some(cm_typo)).await;
        let err = stderr(&o);
        assert!(
            err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dta""#),
            "{err}"
        );
        // kubectl wait --for=delete watches until the object is gone.
        let waiter = {
            let (bin, kc, target) = (bin.clone(), kc.clone(), format!("widget/{name}"));
            tokio::spawn(async move {
                let args = ["wait", "--for=delete", "--timeout=20s", target.as_str()];
                kubectl(&bin, &kc, &args).await
            })
        };
        // Delete once kubectl is watching (kubectl may start slowly on a loaded machine).
        let watching = |bed: &Bed| {
            bed.api.audit_log().iter().any(|e| {
                e.verb == "watch" && e.resource == "widgets" && e.path.contains(name.as_str())
            })
        };
        let start = std::time::Instant::now();
        while !watching(&bed) && start.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(watching(&bed), "kubectl wait --for=delete started a watch");
        let args = ["delete", "widget", name.as_str()];
        ok(bin, &args, &kubectl(bin, &kc, &args).await);
        let waited = waiter.await.unwrap();
        assert!(
            waited.status.success(),
            "kubectl wait --for=delete: {}",
            stderr(&waited)
        );
    }
}

/// Sets up namespace `ops` with service account `robot`, a Secret `seal`, view rights in
/// `ops` and a config map to read.
async fn setup_robot(bed: &Bed, bin: &std::path::Path, kc: &std::path::Path) {
    for args in [
        vec!["create", "namespace", "ops"],
        vec!["create", "serviceaccount", "robot", "-n", "ops"],
        vec!["create", "secret", "generic", "seal", "-n", "ops"],
        vec![
            "create",
            "configmap",
            "settings",
            "--from-literal=a=b",
            "-n",
            "ops",
        ],
        vec![
            "create",
            "rolebinding",
            "robot-view",
            "--clusterrole=view",
            "--serviceaccount=ops:robot",
            "-n",
            "ops",
        ],
    ] {
        ok(bin, &args, &kubectl(bin, kc, &args).await);
    }
    let _ = bed;
}

#[tokio::test]
async fn bound_service_account_token_lifecycle() {
    for bin in kubectl_binaries() {
        let bed = Bed::start().await.unwrap();
        bed.api.set_token_auth_cache_ttl(Duration::from_millis(500));
        let kc = bed.admin_kubeconfig();
        setup_robot(&bed, &bin, &kc).await;
        let args = [
            "create",
            "token",
            "robot",
            "-n",
            "ops",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "seal",
            "--duration",
            "10m",
        ];
        let token = ok(&bin, &args, &kubectl(&bin, &kc, &args).await)
            .trim()
            .to_string();
        assert_eq!(token.split('.').count(), 3, "a JWT");
        let robot = bed.kubeconfig("robot", &token);
        let args = ["auth", "whoami", "-o", "json"];
        let v = json(&ok(&bin, &args, &kubectl(&bin, &robot, &args).await));
        let info = &v["status"]["userInfo"];
        assert_eq!(info["username"], "system:serviceaccount:ops:robot");
        let groups = info["groups"].to_string();
        assert!(groups.contains("system:serviceaccounts:ops"), "{groups}");
        let cred = info["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .unwrap();
        assert!(cred.starts_with("JTI="), "{cred}");
        // Permitted read.
        let args = [
            "get",
            "configmap",
            "settings",
            "-n",
            "ops",
            "-o",
            "jsonpath={.data.a}",
        ];
        assert_eq!(ok(&bin, &args, &kubectl(&bin, &robot, &args).await), "b");
        // Forbidden read: exit 1 with the RBAC message.
        let o = kubectl(&bin, &robot, &["get", "secrets", "-n", "ops"]).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains(r#"secrets is forbidden: User "system:serviceaccount:ops:robot" cannot list resource "secrets" in API group "" in the namespace "ops""#),
            "{}",
            stderr(&o)
        );
        // can-i: yes (exit 0) and no (exit 1).
        let o = kubectl(
            &bin,
            &robot,
            &["auth", "can-i", "list", "configmaps", "-n", "ops"],
        )
        .await;
        assert_eq!(
            (o.status.code(), stdout(&o).trim()),
            (Some(0), "yes"),
            "{}",
            stderr(&o)
        );
        let o = kubectl(
            &bin,
            &robot,
            &["auth", "can-i", "delete", "configmaps", "-n", "ops"],
        )
        .await;
        assert_eq!(
            (o.status.code(), stdout(&o).trim()),
            (Some(1), "no"),
            "{}",
            stderr(&o)
        );
        let o = kubectl(
            &bin,
            &robot,
            &["auth", "can-i", "get", "secrets", "-n", "kube-system"],
        )
        .await;
        assert_eq!(stdout(&o).trim(), "no");
        // can-i --list (SelfSubjectRulesReview) shows the view rules bound in ops.
        let args = ["auth", "can-i", "--list", "-n", "ops"];
        let out = ok(&bin, &args, &kubectl(&bin, &robot, &args).await);
        assert!(
            out.lines()
                .any(|l| l.starts_with("configmaps ") && l.contains("[get list watch]")),
            "{out}"
        );
        assert!(!out.lines().any(|l| l.starts_with("secrets ")), "{out}");
        // An events.k8s.io Event about the config map shows in `get events` and `describe`.
        let (_, cm) = bed
            .admin("GET", "/api/v1/namespaces/ops/configmaps/settings", None)
            .await;
        let event = serde_json::json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"generateName": "settings-"},
            "eventTime": "2026-11-27T10:00:00.000000Z", "type": "Warning", "reason": "Granted",
            "action": "Grant", "note": "glass broken by alice", "reportingController": "breakglass.dev/test",
            "reportingInstance": "host-1",
            "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings", "namespace": "ops", "uid": cm["metadata"]["uid"]},
        });
        let (code, v) = bed
            .admin(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/ops/events",
                Some(event),
            )
            .await;
        assert_eq!(code, 201, "{v}");
        let args = ["get", "events", "-n", "ops"];
        let out = ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        assert!(
            out.contains("Granted")
                && out.contains("glass broken by alice")
                && out.contains("configmap/settings"),
            "{out}"
        );
        // describe reads the object and its events.
        let args = ["describe", "configmap", "settings", "-n", "ops"];
        let out = ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        assert!(out.contains("Name:") && out.contains("settings"), "{out}");
        assert!(
            out.contains("glass broken by alice"),
            "describe shows the Event: {out}"
        );
        // The request was audited with the token's credential id.
        let audited = bed.api.audit_log().iter().any(|e| {
            e.user == "system:serviceaccount:ops:robot"
                && e.resource == "configmaps"
                && e.credential_id() == Some(cred)
        });
        assert!(audited, "audit log tags the robot's requests with {cred}");
        // Revoke: delete the bound Secret; after the auth cache TTL the token is dead.
        let args = ["delete", "secret", "seal", "-n", "ops"];
        ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let o = kubectl(&bin, &robot, &["get", "configmap", "settings", "-n", "ops"]).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("You must be logged in to the server (Unauthorized)"),
            "{}",
            stderr(&o)
        );
    }
}

#[tokio::test]
async fn short_token_durations_are_refused_like_the_real_server() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for bin in kubectl_binaries() {
        let args = ["create", "serviceaccount", "short", "--dry-run=none"];
        let _ = kubectl(&bin, &kc, &args).await;
        let o = kubectl(&bin, &kc, &["create", "token", "short", "--duration", "5m"]).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
            "{}",
            stderr(&o)
        );
        let o = kubectl(&bin, &kc, &["create", "token", "missing"]).await;
        assert!(
            stderr(&o).contains(r#"serviceaccounts "missing" not found"#),
            "{}",
            stderr(&o)
        );
    }
}

#[tokio::test]
async fn can_i_and_bootstrap_roles() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for bin in kubectl_binaries() {
        let o = kubectl(&bin, &kc, &["auth", "can-i", "*", "*"]).await;
        assert_eq!((o.status.code(), stdout(&o).trim()), (Some(0), "yes"));
        let args = ["get", "clusterroles", "-o", "name"];
        let out = ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        for role in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:basic-user",
            "system:discovery",
        ] {
            assert!(
                out.lines()
                    .any(|l| l == format!("clusterrole.rbac.authorization.k8s.io/{role}")),
                "{role} in {out}"
            );
        }
    }
    // A token for a service account with no bindings can still discover and ask about itself.
    let bin = &kubectl_binaries()[0];
    let args = ["create", "serviceaccount", "nobody"];
    ok(bin, &args, &kubectl(bin, &kc, &args).await);
    let args = ["create", "token", "nobody"];
    let token = ok(bin, &args, &kubectl(bin, &kc, &args).await)
        .trim()
        .to_string();
    let nobody = bed.kubeconfig("nobody", &token);
    for bin in kubectl_binaries() {
        let o = kubectl(&bin, &nobody, &["auth", "can-i", "list", "secrets"]).await;
        assert_eq!(
            (o.status.code(), stdout(&o).trim()),
            (Some(1), "no"),
            "{}",
            stderr(&o)
        );
        let o = kubectl(
            &bin,
            &nobody,
            &["auth", "can-i", "get", "configmaps/app-config"],
        )
        .await;
        assert_eq!(stdout(&o).trim(), "no");
        let o = kubectl(&bin, &nobody, &["get", "namespaces"]).await;
        assert!(
            stderr(&o).contains(r#"namespaces is forbidden: User "system:serviceaccount:default:nobody" cannot list resource "namespaces" in API group "" at the cluster scope"#),
            "{}",
            stderr(&o)
        );
    }
    // Roles made by kubectl's typed clients (protobuf bodies), including an aggregated
    // ClusterRole, grant exactly what they say.
    for args in [
        vec![
            "create",
            "role",
            "reader",
            "--verb=get",
            "--resource=configmaps",
            "--resource-name=app-config",
        ],
        vec![
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--serviceaccount=default:nobody",
        ],
        vec![
            "create",
            "clusterrole",
            "piece",
            "--verb=list",
            "--resource=secrets",
        ],
        vec!["label", "clusterrole", "piece", "aggregate-to-agg=true"],
        vec![
            "create",
            "clusterrole",
            "agg",
            "--aggregation-rule=aggregate-to-agg=true",
        ],
        vec![
            "create",
            "clusterrolebinding",
            "agg",
            "--clusterrole=agg",
            "--serviceaccount=default:nobody",
        ],
    ] {
        ok(bin, &args, &kubectl(bin, &kc, &args).await);
    }
    for bin in kubectl_binaries() {
        for (args, want) in [
            (vec!["auth", "can-i", "get", "configmaps/app-config"], "yes"),
            (vec!["auth", "can-i", "get", "configmaps/other"], "no"),
            (
                vec!["auth", "can-i", "list", "secrets", "-n", "kube-system"],
                "yes",
            ),
            (
                vec!["auth", "can-i", "delete", "secrets", "-n", "kube-system"],
                "no",
            ),
        ] {
            let o = kubectl(&bin, &nobody, &args).await;
            assert_eq!(stdout(&o).trim(), want, "{args:?}: {}", stderr(&o));
        }
    }
}

#[tokio::test]
async fn oidc_users_authenticate_with_their_id_token() {
    let ca = Ca::generate().unwrap();
    let idp = Idp::start(IdpConfig::default(), &ca).await.unwrap();
    let config = ApiConfig {
        oidc: Some(OidcConfig {
            issuer_url: idp.issuer().to_string(),
            client_id: idp.client_id().to_string(),
            ca_pem: ca.cert_pem().to_string(),
        }),
        ..Default::default()
    };
    let api = ApiServer::start(config, &ca).await.unwrap();
    let bed = Bed {
        ca,
        api,
        dir: tempfile::tempdir().unwrap(),
    };
    let alice = idp.client().login_tokens("alice").await.unwrap().id_token;
    let bob = idp.client().login_tokens("bob").await.unwrap().id_token;
    let admin = bed.admin_kubeconfig();
    let bin0 = &kubectl_binaries()[0];
    let args = [
        "create",
        "clusterrolebinding",
        "sre-view",
        "--clusterrole=view",
        "--group=sre",
    ];
    ok(bin0, &args, &kubectl(bin0, &admin, &args).await);
    let alice_kc = bed.kubeconfig("alice", &alice);
    let bob_kc = bed.kubeconfig("bob", &bob);
    // Alice's token with its claims changed to another person: the signature no longer verifies.
    let forged = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let parts: Vec<&str> = alice.split('.').collect();
        let claims = String::from_utf8(B64.decode(parts[1]).unwrap()).unwrap();
        assert!(claims.contains("alice@example.com"));
        let claims = claims.replace("alice@example.com", "mallory@example.com");
        format!("{}.{}.{}", parts[0], B64.encode(claims), parts[2])
    };
    let forged_kc = bed.kubeconfig("forged", &forged);
    for bin in kubectl_binaries() {
        let args = ["auth", "whoami", "-o", "json"];
        let v = json(&ok(&bin, &args, &kubectl(&bin, &alice_kc, &args).await));
        let info = &v["status"]["userInfo"];
        assert_eq!(info["username"], "alice@example.com");
        assert_eq!(
            info["groups"],
            serde_json::json!(["sre", "system:authenticated"])
        );
        let args = ["get", "configmaps", "-n", "kube-system"];
        ok(&bin, &args, &kubectl(&bin, &alice_kc, &args).await);
        let o = kubectl(&bin, &bob_kc, &args).await;
        assert!(
            stderr(&o).contains(r#"configmaps is forbidden: User "bob@example.com" cannot list resource "configmaps" in API group "" in the namespace "kube-system""#),
            "{}",
            stderr(&o)
        );
        let o = kubectl(&bin, &forged_kc, &["auth", "whoami"]).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("Unauthorized"), "{}", stderr(&o));
    }
}

/// The project's own install manifests apply cleanly (twice: create, then no-op/patch) with
/// both kubectl versions, and the RBAC they install answers as written.
#[tokio::test]
async fn project_install_manifests_apply_and_authorise() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let deploy = deploy
        .canonicalize()
        .expect("the repository's deploy/ directory");
    let deploy = deploy.to_string_lossy().to_string();
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for bin in kubectl_binaries() {
        let args = ["apply", "-f", deploy.as_str()];
        let out = ok(&bin, &args, &kubectl(&bin, &kc, &args).await);
        assert!(
            out.contains(
                "customresourcedefinition.apiextensions.k8s.io/breakglassgrants.breakglass.dev"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "validatingadmissionpolicy.admissionregistration.k8s.io/breakglass-token-requests"
            ),
            "{out}"
        );
        let args = ["get", "breakglassgrants", "-n", "breakglass"];
        let o = kubectl(&bin, &kc, &args).await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("No resources found in breakglass namespace."),
            "{}",
            stderr(&o)
        );
    }
    let sar = |group: &str, verb: &str, resource: &str, sub: &str, name: &str| {
        serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": format!("someone-in-{group}@example.com"),
                "groups": [group, "system:authenticated"],
                "resourceAttributes": {"namespace": "breakglass", "verb": verb, "resource": resource, "subresource": sub, "name": name},
            },
        })
    };
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let (_, v) = bed
        .admin(
            "POST",
            path,
            Some(sar(
                "sre",
                "create",
                "serviceaccounts",
                "token",
                "incident-debug",
            )),
        )
        .await;
    assert_eq!(v["status"]["allowed"], true, "{v}");
    let (_, v) = bed
        .admin(
            "POST",
            path,
            Some(sar(
                "dev",
                "create",
                "serviceaccounts",
                "token",
                "incident-debug",
            )),
        )
        .await;
    assert_eq!(v["status"]["allowed"], false, "{v}");
    let (_, v) = bed
        .admin(
            "POST",
            path,
            Some(sar("dev", "get", "configmaps", "", "breakglass-policy")),
        )
        .await;
    assert_eq!(
        v["status"]["allowed"], true,
        "everyone signed in may read the policy: {v}"
    );
}

/// `kubectl --as/--as-group` impersonation: allowed for the admin, refused with the real
/// message for others, and answered as the impersonated user.
#[tokio::test]
async fn impersonation_with_as_and_as_group() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    let bin0 = &kubectl_binaries()[0];
    for args in [
        vec![
            "create",
            "clusterrolebinding",
            "sre-view",
            "--clusterrole=view",
            "--group=sre",
        ],
        vec!["create", "serviceaccount", "nobody"],
    ] {
        ok(bin0, &args, &kubectl(bin0, &kc, &args).await);
    }
    let args = ["create", "token", "nobody"];
    let token = ok(bin0, &args, &kubectl(bin0, &kc, &args).await)
        .trim()
        .to_string();
    let nobody = bed.kubeconfig("nobody", &token);
    for bin in kubectl_binaries() {
        let args = [
            "auth",
            "whoami",
            "-o",
            "json",
            "--as=alice@example.com",
            "--as-group=sre",
        ];
        let v = json(&ok(&bin, &args, &kubectl(&bin, &kc, &args).await));
        assert_eq!(v["status"]["userInfo"]["username"], "alice@example.com");
        assert_eq!(
            v["status"]["userInfo"]["groups"],
            serde_json::json!(["sre", "system:authenticated"])
        );
        let o = kubectl(
            &bin,
            &kc,
            &[
                "auth",
                "can-i",
                "list",
                "configmaps",
                "--as=alice@example.com",
                "--as-group=sre",
            ],
        )
        .await;
        assert_eq!(stdout(&o).trim(), "yes", "{}", stderr(&o));
        let o = kubectl(
            &bin,
            &kc,
            &[
                "auth",
                "can-i",
                "list",
                "configmaps",
                "--as=bob@example.com",
            ],
        )
        .await;
        assert_eq!(stdout(&o).trim(), "no", "{}", stderr(&o));
        let o = kubectl(&bin, &kc, &["get", "configmaps", "--as=bob@example.com"]).await;
        assert!(
            stderr(&o).contains(r#"configmaps is forbidden: User "bob@example.com" cannot list resource "configmaps" in API group "" in the namespace "default""#),
            "{}",
            stderr(&o)
        );
        let o = kubectl(
            &bin,
            &nobody,
            &["get", "configmaps", "--as=bob@example.com"],
        )
        .await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains(r#"users "bob@example.com" is forbidden: User "system:serviceaccount:default:nobody" cannot impersonate resource "users" in API group "" at the cluster scope"#),
            "{}",
            stderr(&o)
        );
    }
    let log = bed.api.audit_log();
    assert!(log
        .iter()
        .any(|e| e.user == "alice@example.com" && e.impersonated_by == "kubernetes-admin"));
}
