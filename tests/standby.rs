//! Standby credentials (issue 13) on the real API server with the real IdP stopped: alice
//! breaks the glass through the standby credential she minted at login, kubectl uses the
//! grant, the record names her and says standby, revoke is confirmed; what the standby
//! credential may not do is refused by the cluster; bob without one is refused; an expired
//! one is not used; an admin's `standby revoke` kills it; `drill --standby` passes.

mod common;

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::{IdpConfig, IdpUser};
use common::grants::Bed;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.com";
const REASON: &str = "SSO is down and checkout is failing";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_breaks_the_glass_with_her_standby_credential_while_the_idp_is_down() {
    let ClusterKind::Real(version) = cluster_kind() else {
        skip("this test needs the real kube-apiserver (Go is missing)");
        return;
    };
    // ID tokens live 45 s: the outage below starts once alice's has expired.
    let idp = IdpConfig {
        id_token_ttl: Duration::from_secs(45),
        users: vec![
            IdpUser::new("alice", &["sre"]),
            IdpUser::new("bob", &["dev"]),
            IdpUser::new("carol", &["breakglass-admins"]),
        ],
        ..IdpConfig::default()
    };
    let mut bed = Bed::start_on(ClusterKind::Real(version), ApiConfig::default(), true, idp).await;
    // A file cache, so that the test can age the cached standby credential below.
    bed.sb.cache = "file".to_string();

    // Before standby is enabled, renewal says so and names the manifest.
    bed.login("alice").await;
    let out = bed.run(&["standby", "renew"]);
    assert_fails_with(
        &out,
        &["standby credentials are not enabled", "deploy/standby/"],
    );

    let standby_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/standby");
    assert_ok(
        &bed.kubectl(&[
            "--context",
            "playground-admin",
            "apply",
            "-f",
            standby_dir.to_str().unwrap(),
        ]),
        "kubectl apply -f deploy/standby/",
    );
    // carol, a break-glass admin (not a cluster admin), provisions alice's.
    let carol = person(&bed, "carol").await;
    let out = bed_cmd(
        &bed,
        &carol,
        &[
            "standby",
            "provision",
            "--user",
            ALICE,
            "--roles",
            "incident-debug",
        ],
    );
    assert_ok(&out, "standby provision by a break-glass admin");
    let sa = standby_account(&bed);
    assert!(stderr(&out).contains(&sa), "{}", stderr(&out));
    wait_for_standby_policies(&bed, &sa).await;

    // A fresh login mints the standby credential.
    let out = bed.login_with(&["--context", "playground"], "alice").await;
    assert!(
        stderr(&out).contains("Standby credential renewed"),
        "{}",
        stderr(&out)
    );
    let out = bed.run(&["standby", "status"]);
    assert_ok(&out, "standby status");
    assert!(
        stderr(&out).contains(&format!("Standby credential held for {ALICE}")),
        "{}",
        stderr(&out)
    );
    assert_no_jwt(&stderr(&out));

    // A stolen standby token: what alice's own login could mint, used directly.
    let id_token = {
        let out = bed
            .plugin(&["--context", "playground", "credential"])
            .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
            .output()
            .unwrap();
        exec_credential(&out).1
    };
    let exp = jwt_claims(&id_token)["exp"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let as_alice = token_kubeconfig(&bed, dir.path(), "alice", &id_token);
    let mint = |kc: &Path, duration: &str| {
        let mut args = standby_token_args(&sa);
        args.extend(["--duration", duration]);
        kubectl_with(&bed, kc, &args)
    };
    let refused = mint(&as_alice, "48h");
    assert!(
        !refused.status.success(),
        "a standby token past the lifetime"
    );
    assert!(stderr(&refused).contains("at most"), "{}", stderr(&refused));
    let minted = mint(&as_alice, "1h");
    assert_ok(&minted, "alice mints her standby token");
    let stolen = token_kubeconfig(&bed, dir.path(), "stolen", stdout(&minted).trim());
    let who = kubectl_with(&bed, &stolen, &["auth", "whoami", "-o", "json"]);
    assert_ok(&who, "the stolen token authenticates");
    let who: Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(
        who["status"]["userInfo"]["username"],
        format!("system:serviceaccount:breakglass-standby:{sa}")
    );
    for attempt in [
        vec!["get", "pods", "-A"],
        vec!["get", "secrets", "-n", "breakglass-standby"],
        vec!["get", "secrets", "-n", "kube-system"],
        vec!["create", "namespace", "stolen"],
        vec!["delete", "secret", &sa, "-n", "breakglass-standby"],
        vec![
            "patch",
            "configmap",
            "breakglass-policy",
            "-n",
            "breakglass",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"standby.lifetime":"720h"}}"#,
        ],
        // Its own credential, extended or renewed: never.
        standby_token_args(&sa),
        // A role token outside the protocol (unbound), and a role it was not given.
        vec!["create", "token", "incident-debug", "-n", "breakglass"],
        vec![
            "create",
            "token",
            "cluster-admin",
            "-n",
            "breakglass",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "grant-000001-cluster-admin-seal",
        ],
    ] {
        let out = kubectl_with(&bed, &stolen, &attempt);
        assert!(
            !out.status.success(),
            "the standby token may not: kubectl {attempt:?}\n{}",
            stdout(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("forbidden") || err.contains("denied") || err.contains("Forbidden"),
            "refused by the cluster: kubectl {attempt:?}: {err}"
        );
    }

    // bob logs in on his own machine; he holds no standby credential.
    let bob = person(&bed, "bob").await;
    let bob_exp = jwt_claims(&exec_credential(&bob.credential(V1, false)).1)["exp"]
        .as_i64()
        .unwrap();

    // Both ID tokens have expired. While the IdP still answers, a refused refresh (her
    // login revoked there) is "log in again", never the standby path.
    let wait = exp.max(bob_exp) - chrono::Utc::now().timestamp() + 2;
    tokio::time::sleep(Duration::from_secs(wait.max(0) as u64)).await;
    let records_before = bed.records().len();
    bed.pg.idp.revoke_grants("alice").await.unwrap();
    let out = bed.request(&["--duration", "10m"]);
    assert_fails_with(&out, &["not logged in", "kubectl breakglass login"]);
    assert!(!stderr(&out).contains("standby"), "{}", stderr(&out));
    assert_eq!(bed.records().len(), records_before, "nothing was created");

    // The outage: the IdP is gone.
    bed.pg.idp.stop().await;

    let out = bed_cmd(&bed, &bob, &["request", "--reason", REASON]);
    assert_fails_with(
        &out,
        &[
            "cannot be reached",
            "you hold no standby credential",
            "admin context",
        ],
    );
    // Her standby credential is not for cluster-admin: refused before anything is made.
    let out = bed.request(&["--role", "cluster-admin"]);
    assert_fails_with(&out, &["may not break glass into role cluster-admin"]);
    assert_eq!(bed.records().len(), records_before, "nothing was created");

    let out = bed.run(&[
        "request",
        "--reason",
        REASON,
        "--role",
        "incident-debug",
        "--duration",
        "10m",
    ]);
    assert_ok(&out, "request through the standby credential");
    let err = stderr(&out);
    assert_no_jwt(&err);
    assert_eq!(
        err.matches("The identity provider cannot be reached")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("standby credential"), "{err}");
    assert!(
        err.contains("alice@example.com acts as incident-debug"),
        "{err}"
    );

    let who = bed.kubectl(&[
        "--context",
        "playground-breakglass",
        "auth",
        "whoami",
        "-o",
        "json",
    ]);
    assert_ok(&who, "kubectl through the elevated context");
    let who: Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(
        who["status"]["userInfo"]["username"],
        "system:serviceaccount:breakglass:incident-debug"
    );
    assert_ok(
        // Namespaces: granted to incident-debug directly, not through `view`'s aggregation
        // (which needs kube-controller-manager, absent from the oldest test bed).
        &bed.kubectl(&["--context", "playground-breakglass", "get", "namespaces"]),
        "kubectl get namespaces through the grant",
    );

    let records = bed.records();
    let r = records.last().unwrap();
    let name = r["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(r["spec"]["requester"], ALICE);
    assert_eq!(
        r["metadata"]["labels"]["breakglass.dev/standby"],
        sa.as_str()
    );
    assert_eq!(r["status"]["state"], "Active");
    let seal = bed
        .seals()
        .into_iter()
        .find(|s| s["metadata"]["name"] == format!("{name}-incident-debug-seal"))
        .expect("the seal");
    assert_eq!(
        seal["metadata"]["annotations"]["breakglass.dev/requester"],
        ALICE
    );

    // status and audit mark the grant as made through a standby credential.
    // (from the elevated context: the standby path acts for the context it came from)
    let out = bed.run(&["status", "--all", "--context", "playground-breakglass"]);
    assert_ok(&out, "status --all through the standby credential");
    assert!(
        stdout(&out).contains("alice@example.com (standby)"),
        "{}",
        stdout(&out)
    );
    let audit = admin(&bed, &["audit", "-o", "json"]);
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let row = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["standby"], sa.as_str());

    let out = bed.run(&["revoke"]);
    assert_ok(&out, "revoke through the standby credential");
    assert!(
        stderr(&out).contains(&format!("revoked {name}")),
        "{}",
        stderr(&out)
    );
    let r = bed
        .records()
        .into_iter()
        .find(|g| g["metadata"]["name"] == name.as_str())
        .unwrap();
    assert_eq!(r["status"]["state"], "Revoked");
    assert_eq!(r["status"]["revocationConfirmed"], true);

    // review shows the standby use: the requester marked, and the grant's token minted by
    // the standby ServiceAccount (the API server's audit log, read by an admin).
    let log = bed.pg.api.real().unwrap().audit_log_path().to_path_buf();
    let started = Instant::now();
    let review = loop {
        let out = admin(
            &bed,
            &[
                "review",
                &name,
                "--audit-log",
                log.to_str().unwrap(),
                "-o",
                "json",
            ],
        );
        assert_ok(&out, "review -o json");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        if r["minted"] == 1 {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the mint never reached the audit log: {r}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(review["grant"]["standby"], sa.as_str());
    assert_eq!(review["timeline"][0]["how"], "minted");
    assert_eq!(
        review["timeline"][0]["user"],
        format!("system:serviceaccount:breakglass-standby:{sa}")
    );
    // What the README's alert matches: the record's creation, authenticated as the standby
    // ServiceAccount, with its credential id.
    let standby_user = format!("system:serviceaccount:breakglass-standby:{sa}");
    let alerted: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["user"]["username"]
                .as_str()
                .is_some_and(|u| u.starts_with("system:serviceaccount:breakglass-standby:"))
        })
        .collect();
    assert!(
        alerted
            .iter()
            .any(|e| e["user"]["username"] == standby_user.as_str()
                && e["verb"] == "create"
                && e["objectRef"]["resource"] == "breakglassgrants"
                && e["user"]["extra"]["authentication.kubernetes.io/credential-id"].is_array()),
        "the standby record creation is in the audit log"
    );
    let text = admin(
        &bed,
        &["review", &name, "--audit-log", log.to_str().unwrap()],
    );
    assert_ok(&text, "review");
    assert!(
        stdout(&text).contains("alice@example.com (standby) as incident-debug"),
        "{}",
        stdout(&text)
    );

    // The outage rehearsed end to end.
    let out = bed.run(&["drill", "--standby"]);
    assert_ok(&out, "drill --standby");
    assert!(stderr(&out).contains("Drill passed"), "{}", stderr(&out));

    // The policy no longer names alice for it: one line saying so, nothing created.
    let records_before = bed.records().len();
    let user_key = format!("standby.{sa}.user");
    bed.patch_policy(serde_json::json!({ &user_key: "mallory@example.com" }));
    let out = bed.request(&["--standby", "--duration", "10m"]);
    assert_fails_with(&out, &["the policy changed", "no longer stands for"]);
    assert_eq!(bed.records().len(), records_before, "nothing was created");
    bed.patch_policy(serde_json::json!({ &user_key: ALICE }));

    // A standby credential past its lifetime is not used, and nothing is created.
    let cache = bed.sb.path("cache").join("kubectl-breakglass/tokens.json");
    let kept = std::fs::read(&cache).unwrap();
    age_standby_entry(&cache);
    let out = bed.request(&["--standby", "--duration", "10m"]);
    assert_fails_with(&out, &["standby credential", "expired at", "not used"]);
    assert_eq!(bed.records().len(), records_before, "nothing was created");
    std::fs::write(&cache, kept).unwrap();

    // The admin revokes it: the stolen token dies within the API server's cache window,
    // and the plugin says so in one line, creating nothing.
    let out = admin(&bed, &["standby", "revoke", "--user", ALICE]);
    assert_ok(&out, "standby revoke");
    let started = Instant::now();
    loop {
        let out = kubectl_with(&bed, &stolen, &["auth", "whoami"]);
        if !out.status.success() {
            assert!(stderr(&out).contains("Unauthorized"), "{}", stderr(&out));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby token still works {:?} after standby revoke",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    let out = bed.request(&["--standby", "--duration", "10m"]);
    assert_fails_with(&out, &["rejects your standby credential", "revoked"]);
    assert_eq!(bed.records().len(), records_before, "nothing was created");

    // logout removes it from this machine.
    let out = bed.run(&["logout"]);
    assert!(
        stderr(&out).contains("Removed your standby credential"),
        "{}",
        stderr(&out)
    );
}

/// The plugin as the admin (context `playground-admin`).
fn admin(bed: &Bed, args: &[&str]) -> Output {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    bed.run(&all)
}

/// The standby ServiceAccount `provision` made for alice.
fn standby_account(bed: &Bed) -> String {
    let out = bed.kubectl(&[
        "--context",
        "playground-admin",
        "get",
        "serviceaccounts",
        "-n",
        "breakglass-standby",
        "-o",
        "json",
    ]);
    assert_ok(&out, "list standby accounts");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["metadata"]["annotations"]["breakglass.dev/standby-for"] == ALICE)
        .and_then(|a| a["metadata"]["name"].as_str())
        .expect("alice's standby ServiceAccount")
        .to_string()
}

/// Admission policies take effect asynchronously: wait until an admin's attempt to mint
/// alice's standby token is refused (only alice may).
async fn wait_for_standby_policies(bed: &Bed, sa: &str) {
    let started = Instant::now();
    loop {
        let mut args = vec!["--context", "playground-admin"];
        args.extend(standby_token_args(sa));
        args.extend(["--duration", "10m"]);
        let out = bed.kubectl(&args);
        if !out.status.success() {
            assert!(
                stderr(&out).contains("only the person the policy names"),
                "{}",
                stderr(&out)
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the standby admission policies were not enforced within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `kubectl create token` of the standby ServiceAccount `sa`, bound to its Secret.
fn standby_token_args(sa: &str) -> Vec<&str> {
    vec![
        "create",
        "token",
        sa,
        "-n",
        "breakglass-standby",
        "--bound-object-kind",
        "Secret",
        "--bound-object-name",
        sa,
    ]
}

/// A kubeconfig for the playground's cluster that presents `token`.
fn token_kubeconfig(bed: &Bed, dir: &Path, name: &str, token: &str) -> PathBuf {
    let out = bed.kubectl(&[
        "config",
        "view",
        "--raw",
        "--minify",
        "--context",
        "playground",
        "-o",
        "json",
    ]);
    assert_ok(&out, "kubectl config view");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": v["clusters"][0]["cluster"]}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    });
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, kc.to_string()).unwrap();
    path
}

/// Real kubectl with the kubeconfig at `kc`.
fn kubectl_with(bed: &Bed, kc: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--kubeconfig", kc.to_str().unwrap()];
    all.extend_from_slice(args);
    bed.kubectl(&all)
}

/// `user` logged in on their own machine (home and file token cache of their own).
async fn person(bed: &Bed, user: &str) -> common::Sandbox {
    let mut sb = common::Sandbox::new(bed.pg.idp.issuer(), bed.pg.idp.client_id(), &bed.pg.ca);
    sb.cache = "file".to_string();
    sb.login(&bed.pg.idp, user).await;
    sb
}

/// The plugin as `who` (their own home and token cache) on the playground's kubeconfig.
fn bed_cmd(bed: &Bed, who: &common::Sandbox, args: &[&str]) -> Output {
    let mut cmd = Command::new(PLUGIN);
    who.env(&mut cmd);
    cmd.env("KUBECONFIG", bed.pg.kubeconfig_path())
        .env("BREAKGLASS_TOKEN_CACHE", &who.cache)
        .args(args)
        .output()
        .unwrap()
}

/// Moves the cached standby credential's expiry into the past (the token itself is
/// untouched and still valid at the API server: the plugin must not use it).
fn age_standby_entry(cache: &Path) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut all: serde_json::Map<String, Value> =
        serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    let mut aged = 0;
    for value in all.values_mut() {
        let Some(text) = value.as_str() else { continue };
        let Ok(bytes) = b64.decode(text) else {
            continue;
        };
        let Ok(mut entry) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if entry.get("serviceAccount").is_none() || entry.get("issuedAt").is_none() {
            continue;
        }
        entry["expiresAt"] = Value::String("2020-01-01T00:00:00Z".into());
        *value = Value::String(b64.encode(entry.to_string()));
        aged += 1;
    }
    assert_eq!(aged, 1, "one standby entry in the cache file");
    std::fs::write(cache, Value::Object(all).to_string()).unwrap();
}

/// `deploy/standby/`: the namespace comes first, every admission policy is bound (with the
/// policy ConfigMap as params) before the RBAC it guards, and the standby ServiceAccounts
/// may mint tokens for exactly the policy's roles.
#[test]
fn the_standby_manifest_is_ordered_bound_and_matches_the_policy_roles() {
    use serde::Deserialize;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/standby/standby.yaml")).unwrap();
    let objs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde_norway::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect();
    let kind = |o: &serde_norway::Value| o["kind"].as_str().unwrap().to_string();
    let name = |o: &serde_norway::Value| o["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(kind(&objs[0]), "Namespace");
    assert_eq!(name(&objs[0]), "breakglass-standby");
    let policies: Vec<_> = objs
        .iter()
        .filter(|o| kind(o) == "ValidatingAdmissionPolicy")
        .collect();
    assert_eq!(policies.len(), 2);
    for p in &policies {
        let b = objs
            .iter()
            .find(|o| {
                kind(o) == "ValidatingAdmissionPolicyBinding"
                    && o["spec"]["policyName"].as_str() == Some(&name(p))
            })
            .unwrap_or_else(|| panic!("binding of {}", name(p)));
        assert_eq!(p["spec"]["failurePolicy"], "Fail");
        assert_eq!(b["spec"]["paramRef"]["name"], "breakglass-policy");
        assert_eq!(b["spec"]["paramRef"]["namespace"], "breakglass");
    }
    let last_binding = objs
        .iter()
        .rposition(|o| kind(o) == "ValidatingAdmissionPolicyBinding")
        .unwrap();
    let first_rbac = objs
        .iter()
        .position(|o| kind(o) == "Role" || kind(o) == "RoleBinding")
        .unwrap();
    assert!(
        last_binding < first_rbac,
        "admission before the RBAC it guards"
    );

    let policy: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(root.join("deploy/03-policy.yaml")).unwrap(),
    )
    .unwrap();
    let mut roles: Vec<String> = policy["data"]["roles"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|r| r.trim().to_string())
        .collect();
    roles.sort();
    let request = objs
        .iter()
        .find(|o| kind(o) == "Role" && name(o) == "breakglass:standby:request")
        .unwrap();
    let rules = request["rules"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1);
    let mut names: Vec<String> = rules[0]["resourceNames"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names, roles,
        "standby token RBAC mirrors the policy's roles"
    );
    assert_eq!(rules[0]["verbs"].as_sequence().unwrap().len(), 1);
    // Nothing cluster-wide; the standby accounts' group gets the protocol in `breakglass`
    // only, and the only people here, break-glass admins, never get a token verb.
    assert!(!objs.iter().any(|o| kind(o).starts_with("Cluster")));
    for b in objs.iter().filter(|o| kind(o) == "RoleBinding") {
        let subjects = b["subjects"].as_sequence().unwrap();
        assert_eq!(subjects.len(), 1, "{}", name(b));
        let who = subjects[0]["name"].as_str().unwrap();
        match who {
            "system:serviceaccounts:breakglass-standby" => {
                assert_eq!(b["metadata"]["namespace"], "breakglass", "{}", name(b))
            }
            "breakglass-admins" => {
                let role = objs
                    .iter()
                    .find(|o| kind(o) == "Role" && o["metadata"]["name"] == b["roleRef"]["name"])
                    .unwrap_or_else(|| panic!("the Role of {}", name(b)));
                let resources: Vec<&str> = role["rules"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r["resources"].as_sequence().unwrap())
                    .map(|r| r.as_str().unwrap())
                    .collect();
                assert!(
                    !resources.contains(&"serviceaccounts/token"),
                    "{}: {resources:?}",
                    name(b)
                );
            }
            other => panic!("{} binds {other}", name(b)),
        }
    }
}
