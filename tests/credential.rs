//! `credential` (identity mode) as kubectl runs it: cache hits without the
//! IdP, refresh on expiry (once for any number of concurrent callers),
//! revoked refresh tokens, interactive device flow, bad KUBERNETES_EXEC_INFO.

mod common;

use breakglass_testbed::idp::IdpConfig;
use common::*;
use std::process::Stdio;
use std::time::Duration;

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
async fn a_cache_hit_needs_no_idp_at_all() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    sb.login(&idp, "alice").await;
    drop(idp); // node is gone: any network call would fail
    let (_, token, _) = exec_credential(&sb.credential(V1, false));
    assert_eq!(jwt_claims(&token)["email"], "alice@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_id_token_is_refreshed_once_for_32_concurrent_callers() {
    let (ca, idp) = start_idp(short_lived(8)).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    sb.login(&idp, "alice").await;
    let (_, old, _) = exec_credential(&sb.credential(V1, false));
    until_stale(8).await;
    let before = idp.stats().await.unwrap();

    let children: Vec<_> = (0..32)
        .map(|_| {
            sb.credential_cmd(V1, false)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tokens = Vec::new();
    for child in children {
        let (_, token, expires) = exec_credential(&wait(child).await);
        assert!(expires > chrono::Utc::now(), "a refreshed token is served");
        tokens.push(token);
    }
    let after = idp.stats().await.unwrap();
    assert_eq!(
        after.refresh_requests() - before.refresh_requests(),
        1,
        "exactly one refresh at the IdP: {after:?}"
    );
    assert_eq!(after.device_authorizations, before.device_authorizations);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "all callers share the one refreshed token"
    );
    assert_ne!(tokens[0], old);
    assert_eq!(jwt_claims(&tokens[0])["email"], "alice@example.com");
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
