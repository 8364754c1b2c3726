//! A grant's life after the request: status, expiry (kubectl then fails fast), confirmed
//! revocation (kubectl then fails), admin `revoke --all`, and concurrent requests.

mod common;

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use common::grants::Bed;
use common::*;
use std::time::Duration;

const FAIL_FAST: &str = "no active break-glass grant for playground — run: kubectl breakglass request --context playground --reason \"...\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_is_refused_with_the_group_he_lacks_and_nothing_is_created() {
    let bed = Bed::start().await;
    bed.login("bob").await;
    let out = bed.request(&[]);
    assert_fails_with(
        &out,
        &[
            "bob@example.com may not request role incident-debug",
            "group sre",
        ],
    );
    assert!(bed.records().is_empty());
    assert!(bed.seals().is_empty());
    assert!(!bed.kubeconfig_text().contains("playground-breakglass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_grant_makes_kubectl_fail_fast() {
    let bed = Bed::start_double().await;
    bed.login("alice").await;
    bed.allow_short_grants(6);
    let out = bed.request(&["--duration", "15s"]);
    assert_ok(&out, "request");
    let who = bed.kubectl_elevated(&["auth", "whoami"]);
    assert_ok(&who, "kubectl auth whoami");
    assert!(stdout(&who).contains("system:serviceaccount:breakglass:incident-debug"));
    // incident-debug is read-only and cannot read Secrets.
    let denied = bed.kubectl_elevated(&["get", "secrets", "-A"]);
    assert!(
        !denied.status.success(),
        "incident-debug must not read secrets"
    );
    assert_ok(
        &bed.kubectl_elevated(&["get", "configmaps", "-A"]),
        "get configmaps -A",
    );

    let expiry = bed.records()[0]["spec"]["expiryTime"]
        .as_str()
        .unwrap()
        .to_string();
    let expiry = chrono::DateTime::parse_from_rfc3339(&expiry).unwrap();
    let wait = (expiry.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64 + 1000)).await;
    let out = bed.kubectl_elevated(&["get", "configmaps", "-A"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(FAIL_FAST), "{err}");
    assert!(err.contains("expired at"), "{err}");
    assert_no_jwt(&err);
    // The record stays as the audit trail; status shows nothing live.
    assert_eq!(bed.records()[0]["status"]["state"], "Active");
    let status = bed.run(&["status", "-o", "json"]);
    assert_ok(&status, "status");
    assert_eq!(stdout(&status).trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_is_confirmed_by_the_cluster_rejecting_the_token() {
    let api = ApiConfig {
        token_auth_cache_ttl: Duration::from_secs(5),
        ..ApiConfig::default()
    };
    let bed = Bed::start_with(api, true).await;
    bed.login("alice").await;
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    assert_ok(
        &bed.kubectl_elevated(&["get", "secrets", "-A"]),
        "get secrets -A",
    );

    let status = bed.run(&["status", "-o", "json"]);
    assert_ok(&status, "status");
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["name"], "grant-000001");
    assert_eq!(rows[0]["role"], "cluster-admin");
    assert_eq!(rows[0]["reason"], "checkout is down, need to look");
    let left = rows[0]["secondsLeft"].as_i64().unwrap();
    assert!((3540..=3600).contains(&left), "{left}");
    // From the elevated context, status acts for the person's own context it came from.
    let via = bed.run(&["--context", "playground-breakglass", "status", "-o", "json"]);
    assert_ok(&via, "status --context playground-breakglass");
    let via: serde_json::Value = serde_json::from_slice(&via.stdout).unwrap();
    assert_eq!(via[0]["name"], "grant-000001");
    let table = bed.run(&["status"]);
    assert!(
        stdout(&table).contains("grant-000001"),
        "{}",
        stdout(&table)
    );

    // Used just now, so the API server's token cache still vouches for it.
    assert_ok(
        &bed.kubectl_elevated(&["auth", "whoami"]),
        "whoami before revoke",
    );
    let out = bed.run(&["revoke", "-o", "json"]);
    assert_ok(&out, "revoke");
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome[0]["name"], "grant-000001");
    assert_eq!(outcome[0]["confirmation"], "observed");
    let after = outcome[0]["confirmedAfterSeconds"].as_f64().unwrap();
    // The double caches successful token checks for 5 s, like a real server's 10 s:
    // revoke must have kept presenting the token until the cache let go.
    assert!((0.5..15.0).contains(&after), "confirmed after {after} s");
    assert!(
        stderr(&out).contains("the cluster rejected its token"),
        "{}",
        stderr(&out)
    );

    let out = bed.kubectl_elevated(&["get", "secrets", "-A"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(FAIL_FAST), "{}", stderr(&out));

    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Revoked");
    assert_eq!(r["status"]["revokedBy"], "alice@example.com");
    assert_eq!(r["status"]["revocationConfirmed"], true);
    assert_eq!(
        r["status"]["revocationConfirmedAfterSeconds"]
            .as_f64()
            .unwrap(),
        after
    );
    assert!(
        r["status"]["jti"].is_string(),
        "the jti stays on the record"
    );
    assert!(bed.seals().is_empty());
    let events = bed.admin_get(&["events.v1.events.k8s.io"]);
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["regarding"]["name"] == "grant-000001")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.contains(&"Granted") && reasons.contains(&"Revoked"));

    let again = bed.run(&["revoke"]);
    assert_fails_with(&again, &["no live break-glass grant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revokes_every_grant_and_says_what_was_not_observed() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    let second = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_ok(&second, "second request");
    // The second grant has a context of its own; the first keeps playground-breakglass.
    assert!(
        stderr(&second)
            .contains("kubectl --context playground-breakglass-cluster-admin auth whoami"),
        "{}",
        stderr(&second)
    );
    for (context, account) in [
        ("playground-breakglass", "incident-debug"),
        ("playground-breakglass-cluster-admin", "cluster-admin"),
    ] {
        let who = bed.kubectl(&["--context", context, "auth", "whoami"]);
        assert_ok(&who, context);
        assert!(
            stdout(&who).contains(&format!("system:serviceaccount:breakglass:{account}")),
            "{context}: {}",
            stdout(&who)
        );
    }

    let status = bed.run(&[
        "--context",
        "playground-admin",
        "status",
        "--all",
        "-o",
        "json",
    ]);
    assert_ok(&status, "status --all");
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["requester"] == "alice@example.com"));

    // The admin works from another machine: a token cache without alice's tokens.
    let out = bed.run(&[
        "--token-cache",
        "file",
        "--context",
        "playground-admin",
        "revoke",
        "--all",
    ]);
    // Every seal is gone and the revocations recorded, but nobody saw the cluster refuse the
    // tokens: that is not a confirmed revocation, so the command says so and exits non-zero.
    assert_fails_with(
        &out,
        &[
            "error: revocation of grant-000001, grant-000002 is recorded but not confirmed",
            "this machine does not hold the token",
        ],
    );
    assert!(bed.seals().is_empty());
    for r in bed.records() {
        assert_eq!(r["status"]["state"], "Revoked");
        assert_eq!(r["status"]["revokedBy"], "kubernetes-admin");
        assert_eq!(r["status"]["revocationConfirmed"], false);
    }
    // Alice's cached token is dead: the cluster rejects it once its auth cache lets go.
    let mut rejected = false;
    for _ in 0..60 {
        let out = bed.kubectl_elevated(&["auth", "whoami"]);
        if !out.status.success() {
            rejected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(rejected, "the revoked token still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_requests_yield_one_grant_unless_asked() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let spawn = |extra: &[&str]| {
        let mut args = vec!["request", "--reason", "checkout is down, need to look"];
        args.extend_from_slice(extra);
        bed.plugin(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&[]), spawn(&[]));
    let (a, b) = (wait(a).await, wait(b).await);
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "a: {}\nb: {}", stderr(&a), stderr(&b));
    let loser = if a.status.success() { &b } else { &a };
    assert_fails_with(loser, &["--additional"]);
    let records = bed.records();
    assert_eq!(records.len(), 1, "the loser created nothing");
    bed.assert_no_seal_without_an_active_record();

    // Two more at once, one per role (the first grant's role is free again once revoked).
    assert_ok(&bed.run(&["revoke"]), "revoke the first");
    let (c, d) = (
        spawn(&["--additional", "--role", "cluster-admin"]),
        spawn(&["--additional"]),
    );
    let (c, d) = (wait(c).await, wait(d).await);
    assert_ok(&c, "first --additional");
    assert_ok(&d, "second --additional");
    let records = bed.records();
    assert_eq!(records.len(), 3);
    let seqs: Vec<i64> = records
        .iter()
        .map(|r| r["spec"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3], "one chain, no fork");
    assert_eq!(records[2]["spec"]["previous"]["name"], "grant-000002");
    bed.assert_no_seal_without_an_active_record();
}

/// A plain request refused beside a live `--additional` grant names the context that grant
/// is served through, not `<context>-breakglass` (which does not serve it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_names_the_context_the_live_grant_uses() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let additional = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_ok(&additional, "request --additional");
    let out = bed.request(&[]);
    assert_fails_with(
        &out,
        &[
            "you already have a live break-glass grant grant-000001 (role cluster-admin,",
            "use it with kubectl --context playground-breakglass-cluster-admin ...,",
        ],
    );
    assert_eq!(bed.records().len(), 1, "the refusal created nothing");
}

/// A cluster deleted and recreated at the same URL (kind, minikube) comes with a new CA in
/// the kubeconfig: real kubectl passes it (`provideClusterInfo`), and the cached token of
/// the old cluster is not served; the message says what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_another_ca_at_the_same_url_is_not_served_the_cached_token() {
    use base64::Engine as _;
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    assert_ok(&bed.kubectl_elevated(&["auth", "whoami"]), "whoami");

    // The kubeconfig names another CA for the cluster. (The test bed's CA stays in the
    // bundle, so TLS still works: only the credential can refuse.)
    let path = bed.pg.kubeconfig_path();
    let original = bed.kubeconfig_text();
    let mut doc: serde_norway::Value = serde_norway::from_str(&original).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let other = std::fs::read_to_string(&bed.sb.ca_file).unwrap();
    for cluster in doc["clusters"].as_sequence_mut().unwrap() {
        let data = &mut cluster["cluster"]["certificate-authority-data"];
        let mut pem = b64.decode(data.as_str().unwrap()).unwrap();
        pem.extend_from_slice(other.as_bytes());
        *data = b64.encode(&pem).into();
    }
    std::fs::write(&path, serde_norway::to_string(&doc).unwrap()).unwrap();
    let out = bed.kubectl_elevated(&["auth", "whoami"]);
    assert_fails_with(
        &out,
        &[
            FAIL_FAST,
            "the cached token was issued by an earlier cluster at https://",
            "revoke it first: kubectl breakglass revoke --context playground",
        ],
    );

    // The same CA again (whitespace aside): served.
    let mut doc: serde_norway::Value = serde_norway::from_str(&original).unwrap();
    for cluster in doc["clusters"].as_sequence_mut().unwrap() {
        let data = &mut cluster["cluster"]["certificate-authority-data"];
        let pem = b64.decode(data.as_str().unwrap()).unwrap();
        let crlf = String::from_utf8(pem).unwrap().replace('\n', "\r\n");
        *data = b64.encode(crlf).into();
    }
    std::fs::write(&path, serde_norway::to_string(&doc).unwrap()).unwrap();
    assert_ok(
        &bed.kubectl_elevated(&["auth", "whoami"]),
        "whoami, same CA",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_elevated_credential_is_served_from_the_cache_alone() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&["--duration", "20m"]), "request");
    // From here on the API server drops every connection: the hot path must not need it.
    bed.pg
        .api
        .faults()
        .add(breakglass_testbed::apiserver::FaultRule {
            method: None,
            path_contains: "/".into(),
            on_calls: 1..=u32::MAX,
            kind: breakglass_testbed::apiserver::FaultKind::Drop,
        });
    let (command, args) = elevated_exec(&bed);
    assert_eq!(&args[..2], ["credential", "--elevated"]);
    for v in [V1, V1BETA1] {
        let mut cmd = std::process::Command::new(&command);
        bed.sb.env(&mut cmd);
        cmd.env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache)
            .env("KUBERNETES_EXEC_INFO", exec_info(v, false))
            .args(&args);
        let (api_version, token, expires) = exec_credential(&cmd.output().unwrap());
        assert_eq!(api_version, v);
        let claims = jwt_claims(&token);
        assert_eq!(
            claims["sub"],
            "system:serviceaccount:breakglass:incident-debug"
        );
        assert_eq!(claims["exp"].as_i64().unwrap(), expires.timestamp());
        let left = expires - chrono::Utc::now();
        assert!((1100..=1200).contains(&left.num_seconds()), "{left}");
    }
}

/// The elevated user's exec entry in the kubeconfig: (command, args).
fn elevated_exec(bed: &Bed) -> (String, Vec<String>) {
    let kubeconfig: serde_norway::Value = serde_norway::from_str(&bed.kubeconfig_text()).unwrap();
    let user = kubeconfig["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "playground-breakglass")
        .expect("the elevated user entry");
    let exec = &user["user"]["exec"];
    let args = exec["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (exec["command"].as_str().unwrap().to_string(), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_at_the_terminal_is_offered_to_break_the_glass() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    assert_ok(&bed.run(&["revoke"]), "revoke");
    let (command, args) = elevated_exec(&bed);
    let credential = |stdin: &str| {
        use std::io::Write as _;
        let mut cmd = std::process::Command::new(&command);
        bed.sb.env(&mut cmd);
        cmd.env("KUBECONFIG", bed.pg.kubeconfig_path())
            .env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache)
            .env("KUBERNETES_EXEC_INFO", exec_info(V1, true))
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // Declined (Enter): the fail-fast message, nothing created.
    let out = credential("\n");
    assert_fails_with(&out, &[FAIL_FAST, "Break the glass now as cluster-admin?"]);
    assert_eq!(bed.records().len(), 1);

    // A duration that is no duration is asked again; then the grant is requested there
    // and then, for the duration given, and its token served.
    let out = credential("etcd lost quorum, need to look\nINC-42\n10M\n15m\n");
    assert!(
        stderr(&out).contains("For how long? (Enter for 10m; from 10m to 1h")
            && stderr(&out).contains("10M: \"M\" is not a unit"),
        "{}",
        stderr(&out)
    );
    let (_, token, _) = exec_credential(&out);
    assert_eq!(
        jwt_claims(&token)["sub"],
        "system:serviceaccount:breakglass:cluster-admin"
    );
    assert_no_jwt(&stderr(&out));
    let records = bed.records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1]["spec"]["reason"],
        "etcd lost quorum, need to look"
    );
    assert_eq!(records[1]["spec"]["ticket"], "INC-42");
    assert_eq!(records[1]["spec"]["durationSeconds"], 900);
    assert_eq!(records[1]["status"]["state"], "Active");
    assert_ok(
        &bed.kubectl_elevated(&["get", "secrets", "-A"]),
        "the new grant works",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_an_admin_revokes_and_every_stray_seal_is_swept() {
    use breakglass_testbed::idp::{IdpConfig, IdpUser};
    let idp = IdpConfig {
        users: vec![
            IdpUser::new("alice", &["sre"]),
            IdpUser::new("carol", &["sre"]),
            IdpUser::new("dave", &["breakglass-admins"]),
        ],
        ..IdpConfig::default()
    };
    let bed = Bed::start_on(ClusterKind::Double, ApiConfig::default(), true, idp).await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "alice's request");

    // carol (sre, not an admin) may neither revoke alice's grant nor everyone's.
    bed.login("carol").await;
    let out = bed.run(&["revoke", "grant-000001"]);
    assert_fails_with(
        &out,
        &[
            "grant-000001 is alice@example.com's grant (role incident-debug), not yours (carol@example.com)",
            "only break-glass admins revoke someone else's grant",
            "group breakglass-admins",
        ],
    );
    let out = bed.run(&["revoke", "--all"]);
    assert_fails_with(
        &out,
        &[
            "revoke --all is for break-glass admins and carol@example.com is not one",
            "nothing was revoked",
        ],
    );
    assert_eq!(bed.records()[0]["status"]["state"], "Active");
    assert_eq!(bed.seal_names(), ["grant-000001-incident-debug-seal"]);

    // A seal made by hand, unlabelled, bound to alice's record: --all sweeps it too.
    bed.drop_admission();
    let record = bed.records()[0].clone();
    assert_ok(
        &bed.forge_seal("grant-000077-seal", &record),
        "forge a seal",
    );
    let out = bed.run(&[
        "--token-cache",
        "file",
        "--context",
        "playground-admin",
        "revoke",
        "--all",
    ]);
    assert_fails_with(
        &out,
        &["revocation of grant-000001 is recorded but not confirmed"],
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[1].starts_with("revoked grant-000001 (alice@example.com as incident-debug)"),
        "{err}"
    );
    assert_eq!(
        lines[2],
        "swept seal grant-000077-seal: it is not the seal recorded on grant-000001 (a re-created or forged one)",
        "{err}"
    );
    assert!(bed.seal_names().is_empty(), "{:?}", bed.seal_names());

    // Already revoked: said so, exit 0; a seal re-created for it is still deleted.
    bed.login("alice").await;
    let out = bed.run(&["revoke", "grant-000001"]);
    assert_ok(&out, "revoke of a revoked grant");
    assert!(
        stderr(&out).contains("grant-000001 was already revoked by kubernetes-admin at 20"),
        "{}",
        stderr(&out)
    );
    assert_ok(
        &bed.forge_seal("grant-000001-incident-debug-seal", &record),
        "re-create the seal",
    );
    let out = bed.run(&["revoke", "grant-000001"]);
    assert_ok(&out, "revoke of a revoked grant with a re-created seal");
    assert!(
        stderr(&out).contains(
            "a seal grant-000001-incident-debug-seal had been re-created for it and is now deleted"
        ),
        "{}",
        stderr(&out)
    );
    assert!(bed.seal_names().is_empty());

    // dave, a break-glass admin by group, revokes alice's next grant.
    assert_ok(&bed.request(&[]), "alice's second request");
    bed.login("dave").await;
    let out = bed.run(&["revoke", "grant-000002"]);
    assert_ok(&out, "dave revokes alice's grant");
    assert!(
        stderr(&out).contains("revoked grant-000002 (alice@example.com as incident-debug)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(bed.records()[1]["status"]["revokedBy"], "dave@example.com");
    // alice's status says who ended her grant (her kubectl only gets a 401).
    bed.login("alice").await;
    let out = bed.run(&["status"]);
    assert_ok(&out, "alice's status");
    assert!(
        stderr(&out)
            .contains("grant-000002 (role incident-debug) was revoked by dave@example.com at 20"),
        "{}",
        stderr(&out)
    );

    // An expired grant leaves a seal: audit (as admin) finds it, alice's status sweeps it.
    bed.allow_short_grants(2);
    assert_ok(&bed.request(&["--duration", "2s"]), "a short grant");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(bed.seal_names(), ["grant-000003-incident-debug-seal"]);
    let out = bed.run(&["--context", "playground-admin", "audit"]);
    assert!(!out.status.success(), "audit fails on a stray seal");
    let err = stderr(&out);
    assert!(
        err.contains(
            "finding: seal grant-000003-incident-debug-seal serves no live grant (grant-000003 expired at"
        ),
        "{err}"
    );
    assert!(
        err.contains("error: on playground-admin: 1 seal(s) serve no live grant"),
        "{err}"
    );
    assert_ok(&bed.run(&["status"]), "status");
    assert!(bed.seal_names().is_empty(), "{:?}", bed.seal_names());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_warns_of_a_live_grant_and_how_to_revoke_it() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let out = bed.run(&["logout"]);
    assert_ok(&out, "logout without a grant");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    let out = bed.run(&["logout"]);
    assert_ok(&out, "logout");
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: you still hold break-glass grant grant-000001 (role incident-debug, until 20"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "served to kubectl --context playground-breakglass: logging out does not end it, and \
             revoking it needs your login. Revoke it with: kubectl breakglass login --context \
             playground, then kubectl breakglass revoke grant-000001 --context playground"
        ),
        "{err}"
    );
    assert_no_jwt(&err);
    // As it says: the grant still works, and logging in again revokes it.
    assert_ok(
        &bed.kubectl_elevated(&["auth", "whoami"]),
        "the grant outlives the logout",
    );
    bed.login("alice").await;
    assert_ok(
        &bed.run(&["revoke", "grant-000001", "--context", "playground"]),
        "revoke",
    );
    let out = bed.run(&["logout"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_outage_leaves_a_valid_login_usable_until_it_expires() {
    use breakglass_testbed::idp::IdpConfig;
    // ID tokens live 80 s, so the plugin stops serving them 20 s early and refreshes; that
    // leaves the revoke below 20 s, a real API server's token cache included.
    let idp = IdpConfig {
        id_token_ttl: Duration::from_secs(80),
        ..IdpConfig::default()
    };
    let bed = Bed::start_with_idp(ApiConfig::default(), true, idp).await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    let identity = bed
        .plugin(&["--context", "playground", "credential"])
        .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
        .output()
        .unwrap();
    let (_, id_token, refresh_at) = exec_credential(&identity);
    let exp = jwt_claims(&id_token)["exp"].as_i64().unwrap();
    assert!(refresh_at.timestamp() < exp);

    // Past the point where it would refresh, the IdP becomes unreachable (every HTTPS
    // request of the plugin's IdP client goes to a dead proxy; the cluster is not proxied).
    let wait = refresh_at - chrono::Utc::now() + chrono::Duration::milliseconds(500);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    let dead_proxy = format!("http://127.0.0.1:{}", dead_port());
    let offline = |args: &[&str]| {
        bed.plugin(args)
            .env("HTTPS_PROXY", &dead_proxy)
            .env("https_proxy", &dead_proxy)
            .env("NO_PROXY", "")
            .output()
            .unwrap()
    };
    let served = {
        let mut cmd = bed.plugin(&["--context", "playground", "credential"]);
        cmd.env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
            .env("HTTPS_PROXY", &dead_proxy)
            .env("NO_PROXY", "");
        cmd.output().unwrap()
    };
    let (_, token, until) = exec_credential(&served);
    assert_eq!(token, id_token, "the still-valid cached token is served");
    // Until its real expiry (not the earlier refresh point), as this machine's clock counts
    // it: login corrects for the IdP's clock from `iat`, which may move it by a second.
    assert!(
        (until.timestamp() - exp).abs() <= 1,
        "until its real expiry: {until} vs exp {exp}"
    );
    let err = stderr(&served);
    assert!(
        err.contains("warning: cannot refresh your login to")
            && err.contains("using the cached ID token until it expires at"),
        "{err}"
    );
    assert!(!err.contains("expired at"), "{err}");

    // And alice can still revoke her own grant.
    let out = offline(&["revoke"]);
    assert_ok(&out, "revoke during the IdP outage");
    assert!(
        stderr(&out).contains("revoked grant-000001"),
        "{}",
        stderr(&out)
    );
    assert_eq!(bed.records()[0]["status"]["state"], "Revoked");
}
