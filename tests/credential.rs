//! `credential` (identity mode) as kubectl runs it: cache hits without the
//! IdP, refresh on expiry (once for any number of concurrent callers),
//! revoked refresh tokens, interactive device flow, bad KUBERNETES_EXEC_INFO.

mod common;

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{kubectl, Playground, PlaygroundOptions};
use common::*;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A playground (real IdP + Kubernetes API) whose `playground` context runs this plugin.
async fn playground(idp: IdpConfig) -> (Playground, Sandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pg = Playground::start(PlaygroundOptions {
        dir: dir.path().join("playground"),
        auto_approve: None,
        plugin: PLUGIN.into(),
        idp,
        cluster: cluster_kind(),
        api: ApiConfig::default(),
        install: false,
        authentication: Default::default(),
    })
    .await
    .unwrap();
    let sb = Sandbox::new(pg.idp.issuer(), pg.idp.client_id(), &pg.ca);
    (pg, sb, dir)
}

/// `kubectl --context playground ARGS...` in the sandbox, with the kernel keyring.
fn kubectl_cmd(pg: &Playground, sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl());
    sb.env(&mut cmd);
    cmd.env("BREAKGLASS_TOKEN_CACHE", "keyutils")
        .arg("--kubeconfig")
        .arg(pg.kubeconfig_path())
        .args(["--context", "playground"])
        .args(args);
    cmd
}

/// `kubectl auth whoami -o json` → (username, groups).
fn whoami(out: &Output) -> (String, Vec<String>) {
    assert_ok(out, "kubectl auth whoami");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = &v["status"]["userInfo"];
    let groups = user["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (
        user["username"].as_str().unwrap_or_default().to_string(),
        groups,
    )
}

fn short_lived(id_token_secs: u64) -> IdpConfig {
    IdpConfig {
        id_token_ttl: Duration::from_secs(id_token_secs),
        ..IdpConfig::default()
    }
}

/// Sleeps until a cached ID token of `ttl` seconds issued just now is no
/// longer served (it is refreshed `ttl/4` seconds before `exp`).
async fn until_stale(ttl: u64) {
    tokio::time::sleep(Duration::from_millis(ttl * 1000 * 3 / 4 + 700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_the_person_and_the_second_call_is_served_from_the_cache() {
    let (pg, sb, _dir) = playground(IdpConfig::default()).await;
    sb.login(&pg.idp, "alice").await;
    let (user, groups) = whoami(
        &kubectl_cmd(&pg, &sb, &["auth", "whoami", "-o", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(user, "alice@example.com");
    assert!(groups.contains(&"sre".to_string()), "{groups:?}");

    let before = pg.idp.stats().await.unwrap();
    let out = kubectl_cmd(&pg, &sb, &["auth", "whoami", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(whoami(&out).0, "alice@example.com");
    assert_no_jwt(&stderr(&out));
    let after = pg.idp.stats().await.unwrap();
    assert_eq!(
        after.total_token_requests(),
        before.total_token_requests(),
        "served from the cache: {after:?}"
    );
    assert_eq!(after.device_authorizations, before.device_authorizations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_kubectl_calls_with_an_expired_token_share_one_refresh() {
    // 12 s tokens: refreshed 3 s before expiry, so the refreshed one stays
    // fresh for 9 s — time enough for 32 kubectl processes on a loaded machine.
    let (pg, sb, _dir) = playground(short_lived(12)).await;
    sb.login(&pg.idp, "alice").await;
    let (_, old, _) = exec_credential(&sb.credential(V1, false));
    until_stale(12).await;
    let before = pg.idp.stats().await.unwrap();

    let children: Vec<_> = (0..32)
        .map(|_| {
            kubectl_cmd(&pg, &sb, &["auth", "whoami", "-o", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert_eq!(whoami(&wait(child).await).0, "alice@example.com");
    }
    let after = pg.idp.stats().await.unwrap();
    assert_eq!(
        after.refresh_requests() - before.refresh_requests(),
        1,
        "exactly one refresh at the IdP: {after:?}"
    );
    assert_eq!(after.device_authorizations, before.device_authorizations);
    let (_, new, expires) = exec_credential(&sb.credential(V1, false));
    assert_ne!(new, old, "the cache now holds the refreshed token");
    assert!(expires > chrono::Utc::now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_makes_kubectl_say_how_to_log_in() {
    let (pg, sb, _dir) = playground(short_lived(4)).await;
    // (A real API server's readiness check logged someone in already.)
    let flows_before = pg.idp.stats().await.unwrap().device_authorizations;
    sb.login(&pg.idp, "alice").await;
    pg.idp.client().revoke_grants("alice").await.unwrap();
    until_stale(4).await;
    let out = kubectl_cmd(&pg, &sb, &["auth", "whoami"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "not logged in to {} (refresh token expired or revoked)",
            pg.idp.issuer()
        )),
        "{err}"
    );
    assert!(
        err.contains("run: kubectl breakglass login --issuer"),
        "{err}"
    );
    assert_no_jwt(&err);
    assert_eq!(
        pg.idp.stats().await.unwrap().device_authorizations,
        flows_before + 1,
        "no device flow from kubectl without a terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_needs_no_idp_at_all() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    sb.login(&idp, "alice").await;
    drop(idp); // node is gone: any network call would fail
    let (_, token, _) = exec_credential(&sb.credential(V1, false));
    assert_eq!(jwt_claims(&token)["email"], "alice@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_fails_fast_when_not_interactive() {
    let (ca, idp) = start_idp(short_lived(4)).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    sb.login(&idp, "alice").await;
    idp.client().revoke_grants("alice").await.unwrap();
    until_stale(4).await;

    let started = std::time::Instant::now();
    let out = sb.credential(V1, false);
    assert_fails_with(
        &out,
        &[
            &format!(
                "error: not logged in to {} (refresh token expired or revoked)",
                idp.issuer()
            ),
            &format!(
                "run: kubectl breakglass login --issuer {} --client-id {}",
                idp.issuer(),
                idp.client_id()
            ),
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails at once");
    assert_eq!(
        idp.stats().await.unwrap().device_authorizations,
        1,
        "no device flow from a non-interactive call"
    );

    // Given the context name (exec args may carry --context), the hint names it.
    let out = sb
        .credential_cmd(V1, false)
        .args(["--context", "prod"])
        .output()
        .unwrap();
    assert_fails_with(&out, &["run: kubectl breakglass login --context prod"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_calls_run_the_device_flow_on_stderr_without_a_browser() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let child = sb
        .credential_cmd(V1BETA1, true)
        .env("DISPLAY", ":0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = idp
        .wait_for_pending_user_code(Duration::from_secs(20))
        .await
        .unwrap();
    idp.approve(&code, "bob").await.unwrap();
    let out = wait(child).await;
    let err = stderr(&out);
    let (version, token, _) = exec_credential(&out);
    assert_eq!(version, V1BETA1);
    assert_eq!(jwt_claims(&token)["email"], "bob@example.com");
    assert!(
        err.contains(&code),
        "the user code is shown on stderr:\n{err}"
    );
    assert!(
        !err.contains("browser"),
        "never a browser from kubectl:\n{err}"
    );
    assert_no_jwt(&err);
    // And it was cached: the next call is a hit.
    let before = idp.stats().await.unwrap().total_token_requests();
    exec_credential(&sb.credential(V1, false));
    assert_eq!(idp.stats().await.unwrap().total_token_requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_with_the_idp_down_says_to_retry() {
    let (ca, idp) = start_idp(short_lived(4)).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    sb.login(&idp, "alice").await;
    until_stale(4).await;
    drop(idp);
    let out = sb.credential(V1, false);
    assert_fails_with(
        &out,
        &[
            "cannot refresh your login",
            "try again, or run: kubectl breakglass login",
            "cannot reach the identity provider",
        ],
    );
}

#[test]
fn bad_exec_info_is_refused_with_what_to_fix() {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    let sb = Sandbox::new("https://127.0.0.1:1", "c", &ca);
    let run = |info: Option<&str>| {
        let mut cmd = sb.plugin(&["credential"]);
        cmd.args(sb.idp_args());
        if let Some(info) = info {
            cmd.env("KUBERNETES_EXEC_INFO", info);
        }
        cmd.output().unwrap()
    };
    assert_fails_with(
        &run(None),
        &[
            "KUBERNETES_EXEC_INFO is not set",
            "kubectl breakglass login",
        ],
    );
    assert_fails_with(
        &run(Some("{oops")),
        &[
            "KUBERNETES_EXEC_INFO is not a valid ExecCredential",
            "not JSON",
        ],
    );
    assert_fails_with(
        &run(Some(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}"#,
        )),
        &[
            "apiVersion \"client.authentication.k8s.io/v1alpha1\", which is not supported",
            "client.authentication.k8s.io/v1",
        ],
    );
}
