//! Keycloak, for real: its server distribution from Maven Central, run on Java, trusted by
//! the real API server. Its admin's set-up (a public client with the device grant, a
//! group membership mapper) needs no plugin flags: setup, login, kubectl auth whoami,
//! whoami --check, request, use, revoke. A user without the offline_access role is told
//! what the IdP refused and what to ask for.

mod common;

use breakglass_testbed::cluster::{Authentication, ClaimMappings, JwtIssuer};
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::keycloak::{self, Keycloak, KeycloakUser, CLIENT_ID};
use breakglass_testbed::tls::Ca;
use common::grants::Bed;
use common::*;
use std::process::{Output, Stdio};

/// `login --context keycloak`, approved at Keycloak as `user`.
async fn login(bed: &Bed, kc: &Keycloak, user: &str) -> Output {
    let child = bed
        .plugin(&["login", "--no-browser", "--context", "keycloak"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pending = PendingLogin::read(child);
    kc.approve(&pending.user_code, user).await.unwrap();
    let out = pending.finish().await;
    assert!(out.stdout.is_empty());
    assert_no_jwt(&stderr(&out));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_login_whoami_request_use_and_revoke_on_the_real_api_server() {
    if let Some(why) = keycloak::missing() {
        skip(&format!("Keycloak cannot run here: {why}"));
        return;
    }
    let ca = Ca::generate().unwrap();
    let mut carol = KeycloakUser::new("carol", &["sre"]);
    carol.offline_access = false;
    let users = [KeycloakUser::new("alice", &["sre"]), carol];
    let kc = Keycloak::start(&users, &ca).await.unwrap();
    let Some(bed) = Bed::start_real_with(
        IdpConfig::default(),
        Authentication {
            idp_claims: ClaimMappings::default(),
            more_issuers: vec![JwtIssuer {
                issuer_url: kc.issuer().to_string(),
                audiences: vec![CLIENT_ID.into()],
                ca_pem: ca.cert_pem().to_string(),
                claims: ClaimMappings::default(),
            }],
        },
    )
    .await
    else {
        return;
    };

    let out = bed.kubectl(&[
        "config",
        "set-context",
        "keycloak",
        "--cluster",
        "playground",
    ]);
    assert_ok(&out, "kubectl config set-context");
    let ca_file = bed.sb.path("keycloak-ca.crt");
    ca.write_cert(&ca_file).unwrap();
    let out = bed
        .plugin(&[
            "setup",
            "--context",
            "keycloak",
            "--issuer",
            kc.issuer(),
            "--client-id",
            CLIENT_ID,
            "--ca-file",
            ca_file.to_str().unwrap(),
        ])
        .env("PATH", path_with_plugin())
        .output()
        .unwrap();
    assert_ok(&out, "setup for Keycloak");

    let out = login(&bed, &kc, "alice").await;
    assert_ok(&out, "login at Keycloak");
    let said = stderr(&out);
    assert!(
        said.contains("as alice@example.com") && said.contains("groups: sre"),
        "{said}"
    );
    assert!(!said.contains("warning:"), "{said}");

    let out = bed.kubectl_installed(&["--context", "keycloak", "auth", "whoami", "-o", "json"]);
    assert_ok(&out, "kubectl auth whoami");
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["status"]["userInfo"]["username"], "alice@example.com");
    assert!(me["status"]["userInfo"]["groups"]
        .as_array()
        .unwrap()
        .contains(&"sre".into()));
    assert_ok(
        &bed.run(&["whoami", "--check", "--context", "keycloak"]),
        "whoami --check",
    );

    let out = bed.run(&[
        "request",
        "--context",
        "keycloak",
        "--reason",
        "checkout is down, need to look",
        "--role",
        "incident-debug",
    ]);
    assert_ok(&out, "request through Keycloak");
    let out = bed.kubectl_installed(&["--context", "keycloak-breakglass", "get", "pods", "-A"]);
    assert_ok(&out, "kubectl with the break-glass context");
    assert_ok(&bed.run(&["revoke", "--context", "keycloak"]), "revoke");
    assert_ok(&bed.run(&["logout", "--context", "keycloak"]), "logout");

    // Without the offline_access role Keycloak refuses the tokens after the approval.
    let out = login(&bed, &kc, "carol").await;
    assert_fails_with(
        &out,
        &[
            "refused offline access (not_allowed: Offline tokens not allowed for the user or client)",
            "the user's offline_access role",
        ],
    );
}
