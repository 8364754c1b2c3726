//! What real IdPs do besides the happy path, against the test bed's real oidc-provider:
//! refresh tokens that rotate, refresh answers without an ID token, clocks five minutes
//! off, and discovery without a device endpoint.

mod common;

use breakglass_testbed::idp::{Idp, IdpConfig};
use common::*;
use std::process::{Output, Stdio};
use std::time::Duration;

/// A sandbox logged in as alice at an IdP with `config`.
async fn logged_in(config: IdpConfig) -> (breakglass_testbed::tls::Ca, Idp, Sandbox, Output) {
    let (ca, idp) = start_idp(config).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let out = sb.login(&idp, "alice").await;
    (ca, idp, sb, out)
}

fn ttl(secs: u64) -> IdpConfig {
    IdpConfig {
        id_token_ttl: Duration::from_secs(secs),
        ..IdpConfig::default()
    }
}

/// Until an 8-second ID token issued now is no longer served (2 s before `exp`).
async fn until_stale() {
    tokio::time::sleep(Duration::from_millis(6_700)).await;
}

fn refreshes(stats: &breakglass_testbed::idp::IdpStats) -> u64 {
    stats
        .tokens_issued
        .get("refresh_token")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_refresh_token_replaces_the_old_one_so_the_next_refresh_works_too() {
    let (_ca, idp, sb, _) = logged_in(ttl(8)).await;
    let (_, first, _) = exec_credential(&sb.credential(V1, false));
    for round in 1..=2 {
        until_stale().await;
        let before = idp.stats().await.unwrap();
        let (_, token, _) = exec_credential(&sb.credential(V1, false));
        assert_ne!(token, first, "round {round}: a new ID token");
        let after = idp.stats().await.unwrap();
        assert_eq!(
            refreshes(&after),
            refreshes(&before) + 1,
            "round {round}: {after:?}"
        );
        // oidc-provider rotates refresh tokens of public clients and refuses a spent one
        // (revoking the grant): the second round works only if the first stored the new one.
        assert_eq!(
            after.refresh_tokens_issued,
            before.refresh_tokens_issued + 1,
            "round {round}: rotated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_without_an_id_token_fails_fast_or_logs_in_again_interactively() {
    let (_ca, idp, sb, _) = logged_in(IdpConfig {
        refresh_without_id_token: true,
        ..ttl(8)
    })
    .await;
    until_stale().await;
    let out = sb.credential(V1, false);
    assert_fails_with(
        &out,
        &[
            "answered the refresh of your login without an ID token",
            "log in again: kubectl breakglass login --issuer",
        ],
    );
    // Twice: the rotated refresh token was kept (a spent one would be refused as revoked).
    let out = sb.credential(V1, false);
    assert_fails_with(
        &out,
        &["answered the refresh of your login without an ID token"],
    );
    assert_eq!(refreshes(&idp.stats().await.unwrap()), 2);

    // Interactively, the device flow runs again (on stderr, no browser).
    let child = sb
        .credential_cmd(V1, true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pending = PendingLogin::read(child);
    idp.approve(&pending.user_code, "alice").await.unwrap();
    let out = pending.finish().await;
    exec_credential(&out);
    assert!(
        stderr(&out).contains("(the refresh answer had no ID token); starting a device login"),
        "{}",
        stderr(&out)
    );
}

/// The ExecCredential's expiry and the token's own `exp`, as seconds from now.
fn expiries(out: &Output) -> (i64, i64) {
    let (_, token, expires) = exec_credential(out);
    let now = chrono::Utc::now().timestamp();
    let exp = jwt_claims(&token)["exp"].as_i64().unwrap();
    (expires.timestamp() - now, exp - now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_clock_four_minutes_ahead_is_corrected() {
    let (_ca, _idp, sb, out) = logged_in(IdpConfig {
        clock_skew_secs: 240,
        ..IdpConfig::default()
    })
    .await;
    assert!(
        stderr(&out).contains("note: the identity provider's clock is 4m ahead of this machine's"),
        "{}",
        stderr(&out)
    );
    // A 300-second token: `exp` is 540 s away by our clock, yet it lives 300 s from now
    // (served until 60 s before that).
    let (served, exp) = expiries(&sb.credential(V1, false));
    assert!((530..=541).contains(&exp), "exp {exp}");
    assert!((225..=241).contains(&served), "served for {served} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_clock_four_minutes_behind_is_corrected_instead_of_refreshing_at_once() {
    let (_ca, idp, sb, _) = logged_in(IdpConfig {
        clock_skew_secs: -240,
        ..IdpConfig::default()
    })
    .await;
    // `exp` is 60 s away by our clock: uncorrected, the token would be stale at once and
    // every call would refresh.
    let before = idp.stats().await.unwrap();
    let (served, exp) = expiries(&sb.credential(V1, false));
    assert!((50..=61).contains(&exp), "exp {exp}");
    assert!((225..=241).contains(&served), "served for {served} s");
    exec_credential(&sb.credential(V1, false));
    assert_eq!(
        idp.stats().await.unwrap().total_token_requests(),
        before.total_token_requests(),
        "served from the cache"
    );
    let out = sb.plugin(&["whoami"]).args(sb.idp_args()).output().unwrap();
    assert_ok(&out, "whoami");
    assert!(
        stderr(&out).contains("the identity provider's clock is 4m behind this machine's"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_more_than_five_minutes_off_is_refused_naming_the_clock() {
    for (skew, says) in [
        (400, "this machine's clock is more than 5 minutes behind"),
        (-400, "this machine's clock says"),
    ] {
        let (ca, idp) = start_idp(IdpConfig {
            clock_skew_secs: skew,
            ..IdpConfig::default()
        })
        .await;
        let sb = Sandbox::for_idp(&idp, &ca);
        let child = sb.spawn_login(&[]);
        let code = idp
            .wait_for_pending_user_code(Duration::from_secs(20))
            .await
            .unwrap();
        idp.approve(&code, "alice").await.unwrap();
        let out = wait(child).await;
        assert_fails_with(&out, &[says, "nothing was cached"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_without_the_device_flow_is_named_with_what_to_enable() {
    let (ca, idp) = start_idp(IdpConfig {
        no_device_flow: true,
        ..IdpConfig::default()
    })
    .await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &[
            "does not offer the device authorization grant (its discovery has no device_authorization_endpoint)",
            "ask its admins to enable it for client kubectl-breakglass",
            "Keycloak",
        ],
    );
}
