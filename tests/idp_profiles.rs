//! The hosted IdPs as their documentation describes them, emulated by the test bed's
//! oidc-provider (`IdpProfile`, see tests/testbed/idp/README.md): what works with which
//! flags, and what the plugin says when a flag is missing — the README's IdP table.

mod common;

use breakglass_testbed::idp::{Idp, IdpConfig, IdpProfile, IdpUser, AUTH0_GROUPS_CLAIM};
use breakglass_testbed::tls::Ca;
use common::*;
use std::process::{Output, Stdio};

/// An IdP emulating `profile`, and a sandbox for it.
async fn emulated(config: IdpConfig) -> (Ca, Idp, Sandbox) {
    let (ca, idp) = start_idp(config).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    (ca, idp, sb)
}

/// `login --no-browser` with the sandbox's IdP flags and `extra`, approved as `user` when
/// a code is shown; the finished process either way.
async fn login(sb: &Sandbox, idp: &Idp, extra: &[&str], user: &str) -> Output {
    let child = sb
        .plugin(&["login", "--no-browser"])
        .args(sb.idp_args())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = match PendingLogin::try_read(child) {
        Ok(pending) => {
            idp.approve(&pending.user_code, user).await.unwrap();
            pending.finish().await
        }
        Err(out) => out,
    };
    assert!(out.stdout.is_empty(), "login prints nothing on stdout");
    assert_no_jwt(&stderr(&out));
    out
}

/// `whoami` with the sandbox's IdP flags and `extra`.
fn whoami(sb: &Sandbox, extra: &[&str]) -> Output {
    sb.plugin(&["whoami"])
        .args(sb.idp_args())
        .args(extra)
        .output()
        .unwrap()
}

const GOOGLE_SECRET: &str = "GOCSPX-not-really-a-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_wants_the_client_secret_never_shown_and_sends_no_groups() {
    let (_ca, idp, sb) = emulated(IdpConfig {
        profile: IdpProfile::Google,
        client_secret: Some(GOOGLE_SECRET.into()),
        ..IdpConfig::default()
    })
    .await;

    // Forgotten secret: the IdP's invalid_client, and the flag that fixes it.
    let out = login(&sb, &idp, &[], "alice").await;
    assert_fails_with(&out, &["invalid_client", "--client-secret"]);

    // With it: Google's `verification_url` is shown, offline_access is not asked for
    // (Google refuses it; its discovery does not list it), and there are no groups.
    let out = login(&sb, &idp, &["--client-secret", GOOGLE_SECRET], "alice").await;
    assert_ok(&out, "login with the client secret");
    let said = stderr(&out);
    assert!(said.contains(&format!("{}/device", idp.issuer())), "{said}");
    assert!(
        !said.contains("(or open"),
        "no complete URL from Google: {said}"
    );
    assert!(
        said.contains("warning: your IdP did not put groups in the ID token"),
        "{said}"
    );
    assert!(
        !said.contains(GOOGLE_SECRET),
        "the secret is never shown: {said}"
    );
    let out = whoami(&sb, &[]);
    assert_ok(&out, "whoami");
    assert!(
        stderr(&out).contains("refresh token:        yes"),
        "{}",
        stderr(&out)
    );

    // Google refuses other scopes and names the one.
    let out = login(
        &sb,
        &idp,
        &["--client-secret", GOOGLE_SECRET, "--scope", "groups"],
        "alice",
    )
    .await;
    assert_fails_with(
        &out,
        &["refused the scope `groups` (invalid_scope: Invalid device flow scope: groups)"],
    );
    assert!(!stderr(&out).contains(GOOGLE_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_refreshes_with_the_client_secret_from_the_exec_entry() {
    let (_ca, idp, sb) = emulated(IdpConfig {
        profile: IdpProfile::Google,
        client_secret: Some(GOOGLE_SECRET.into()),
        id_token_ttl: std::time::Duration::from_secs(8),
        ..IdpConfig::default()
    })
    .await;
    let out = login(&sb, &idp, &["--client-secret", GOOGLE_SECRET], "alice").await;
    assert_ok(&out, "login");
    tokio::time::sleep(std::time::Duration::from_millis(6_700)).await;
    let before = idp.stats().await.unwrap();
    let out = sb
        .credential_cmd(V1, false)
        .args(["--client-secret", GOOGLE_SECRET])
        .output()
        .unwrap();
    exec_credential(&out);
    assert!(!stderr(&out).contains(GOOGLE_SECRET));
    let after = idp.stats().await.unwrap();
    assert_eq!(
        after.tokens_issued.get("refresh_token"),
        Some(&(before.tokens_issued.get("refresh_token").unwrap_or(&0) + 1)),
        "refreshed with the secret: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_needs_the_tenant_issuer_and_a_groups_overage_is_named() {
    let many: Vec<String> = (0..201).map(|i| format!("group-{i}")).collect();
    let carol = IdpUser {
        name: "carol".into(),
        email: "carol@example.com".into(),
        groups: many,
    };
    let (_ca, idp, mut sb) = emulated(IdpConfig {
        profile: IdpProfile::entra(),
        users: vec![IdpUser::new("alice", &["sre"]), carol],
        ..IdpConfig::default()
    })
    .await;
    let tenant_issuer = idp.issuer().to_string();

    // The multi-tenant endpoint publishes a template, not an issuer.
    let origin = tenant_issuer.split("/9188").next().unwrap();
    sb.issuer = format!("{origin}/common/v2.0");
    let out = login(&sb, &idp, &[], "alice").await;
    assert_fails_with(
        &out,
        &[
            "/common/v2.0 is a multi-tenant endpoint: its discovery names the issuer template",
            "/{tenantid}/v2.0",
            "use your tenant's issuer",
        ],
    );

    sb.issuer = tenant_issuer;
    let out = login(&sb, &idp, &[], "alice").await;
    assert_ok(&out, "login at the tenant issuer");
    let said = stderr(&out);
    assert!(
        said.contains("groups: sre") && !said.contains("warning:"),
        "{said}"
    );
    assert!(
        !said.contains("(or open"),
        "Entra sends no complete URL: {said}"
    );

    // Beyond 200 groups Entra sends an overage claim: the cluster would see none.
    let out = login(&sb, &idp, &[], "carol").await;
    assert_ok(&out, "login as carol");
    assert!(
        stderr(&out).contains(
            "warning: your IdP left your groups out of the ID token because you are in too many"
        ),
        "{}",
        stderr(&out)
    );
    let out = whoami(&sb, &[]);
    assert_ok(&out, "whoami");
    assert!(
        stderr(&out).contains("groups (groups):      (none: an overage claim instead"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_sends_groups_only_for_the_groups_scope_and_does_not_name_a_refused_one() {
    let (_ca, idp, sb) = emulated(IdpConfig {
        profile: IdpProfile::Okta { groups_scope: true },
        ..IdpConfig::default()
    })
    .await;
    assert!(
        idp.issuer().ends_with("/oauth2/default"),
        "{}",
        idp.issuer()
    );
    let out = login(&sb, &idp, &[], "alice").await;
    assert_ok(&out, "login without the groups scope");
    assert!(
        stderr(&out).contains("warning: your IdP did not put groups in the ID token")
            && stderr(&out).contains("try --scope groups"),
        "{}",
        stderr(&out)
    );
    let out = login(&sb, &idp, &["--scope", "groups"], "alice").await;
    assert_ok(&out, "login with the groups scope");
    assert!(stderr(&out).contains("groups: sre"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));

    // Okta's refusal names no scope: the ones added with --scope are the suspects.
    let out = login(
        &sb,
        &idp,
        &["--scope", "groups", "--scope", "nope"],
        "alice",
    )
    .await;
    assert_fails_with(
        &out,
        &[
            "refused a scope without saying which; those added with --scope are `groups`, `nope`",
            "One or more scopes are not configured for the authorization server resource.",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_without_a_groups_scope_refuses_it() {
    let (_ca, idp, sb) = emulated(IdpConfig {
        profile: IdpProfile::Okta {
            groups_scope: false,
        },
        ..IdpConfig::default()
    })
    .await;
    let out = login(&sb, &idp, &["--scope", "groups"], "alice").await;
    assert_fails_with(
        &out,
        &["refused a scope without saying which; the one added with --scope is `groups`"],
    );
}

const AUTH0_API: &str = "https://breakglass.example/api";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_refreshes_only_for_an_api_audience_and_namespaces_its_groups() {
    let (_ca, idp, sb) = emulated(IdpConfig {
        profile: IdpProfile::Auth0 {
            api_audience: AUTH0_API.into(),
        },
        ..IdpConfig::default()
    })
    .await;
    // Polling is answered 403 authorization_pending, as Auth0 does: still a login.
    let out = login(&sb, &idp, &[], "alice").await;
    assert_ok(&out, "login without an audience");
    let said = stderr(&out);
    assert!(
        said.contains("warning: the identity provider issued no refresh token")
            && said.contains("Auth0: --audience of an API with Allow Offline Access"),
        "{said}"
    );
    assert!(said.contains("no `groups` claim"), "{said}");

    let out = login(&sb, &idp, &["--audience", "https://nope.example"], "alice").await;
    assert_fails_with(
        &out,
        &["the identity provider refused: access_denied: Service not found: https://nope.example"],
    );

    let out = login(
        &sb,
        &idp,
        &[
            "--audience",
            AUTH0_API,
            "--groups-claim",
            AUTH0_GROUPS_CLAIM,
        ],
        "alice",
    )
    .await;
    assert_ok(&out, "login with the API audience and the namespaced claim");
    let said = stderr(&out);
    assert!(
        said.contains("groups: sre") && !said.contains("warning:"),
        "{said}"
    );
    let out = whoami(&sb, &["--groups-claim", AUTH0_GROUPS_CLAIM]);
    assert_ok(&out, "whoami");
    assert!(
        stderr(&out).contains(&format!("groups ({AUTH0_GROUPS_CLAIM}):")),
        "{}",
        stderr(&out)
    );
}
