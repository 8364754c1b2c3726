//! `whoami --check` against the real API server configured as admins configure it for
//! each IdP: Google (no groups in the token: the API server derives them with CEL),
//! Auth0 (a namespaced groups claim), and an API server that names people by `sub`.
//! `setup` writes each IdP's flags into the exec entry; real kubectl runs it.

mod common;

use breakglass_testbed::cluster::{Authentication, ClaimMappings, GroupsMapping};
use breakglass_testbed::idp::{IdpConfig, IdpProfile, AUTH0_GROUPS_CLAIM};
use common::grants::Bed;
use common::*;
use std::process::{Output, Stdio};

/// `setup --context playground` for the playground's IdP with `extra` flags.
fn setup(bed: &Bed, extra: &[&str]) -> Output {
    let ca = bed.sb.ca_file.display().to_string();
    let mut args = vec![
        "setup",
        "--context",
        "playground",
        "--issuer",
        bed.pg.idp.issuer(),
        "--client-id",
        bed.pg.idp.client_id(),
        "--ca-file",
        &ca,
    ];
    args.extend_from_slice(extra);
    let out = bed
        .plugin(&args)
        .env("PATH", path_with_plugin())
        .output()
        .unwrap();
    assert_ok(&out, "setup");
    out
}

/// `login --context playground`, approved as alice.
async fn login(bed: &Bed) -> Output {
    let child = bed
        .plugin(&["login", "--no-browser", "--context", "playground"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pending = PendingLogin::read(child);
    bed.pg
        .idp
        .approve(&pending.user_code, "alice")
        .await
        .unwrap();
    let out = pending.finish().await;
    assert_ok(&out, "login");
    assert_no_jwt(&stderr(&out));
    out
}

/// `kubectl auth whoami` through the exec entry: (username, groups).
fn cluster_sees(bed: &Bed) -> (String, Vec<String>) {
    let out = bed.kubectl_installed(&["--context", "playground", "auth", "whoami", "-o", "json"]);
    assert_ok(&out, "kubectl auth whoami");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = &v["status"]["userInfo"];
    (
        user["username"].as_str().unwrap().to_string(),
        user["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_string())
            .collect(),
    )
}

const SECRET: &str = "GOCSPX-the-client-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_works_when_the_api_server_derives_groups_and_the_secret_stays_in_the_kubeconfig() {
    let Some(bed) = Bed::start_real_with(
        IdpConfig {
            profile: IdpProfile::Google,
            client_secret: Some(SECRET.into()),
            ..IdpConfig::default()
        },
        Authentication {
            idp_claims: ClaimMappings {
                username_claim: "email".into(),
                // Google sends no groups: the admin maps people to groups in CEL.
                groups: GroupsMapping::Expression(
                    "claims.email == 'alice@example.com' ? ['sre'] : []".into(),
                ),
            },
            more_issuers: vec![],
        },
    )
    .await
    else {
        return;
    };
    let out = setup(&bed, &["--client-secret", SECRET]);
    let said = stderr(&out);
    assert!(said.contains("--client-secret (hidden)"), "{said}");
    assert!(
        !said.contains(SECRET),
        "setup never shows the secret: {said}"
    );
    // Stored where the person put it: the exec entry (the kubeconfig is 0600).
    assert!(bed.kubeconfig_text().contains(SECRET));

    let out = login(&bed).await;
    assert!(!stderr(&out).contains(SECRET));
    let (user, groups) = cluster_sees(&bed);
    assert_eq!(user, "alice@example.com");
    assert!(groups.contains(&"sre".to_string()), "{groups:?}");

    // No groups in the token, but the cluster has them: nothing to flag.
    let out = bed.run(&["whoami", "--check", "--context", "playground", "-o", "json"]);
    assert_ok(&out, "whoami --check");
    assert!(!stderr(&out).contains(SECRET) && !stdout(&out).contains(SECRET));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["groupsClaimPresent"], false, "{report}");
    assert_eq!(report["cluster"]["username"], "alice@example.com");
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");

    // And the glass breaks for a Google identity.
    let out = bed.run(&[
        "request",
        "--context",
        "playground",
        "--reason",
        "checkout is down, need to look",
    ]);
    assert_ok(&out, "request with a Google identity");
    assert!(!stderr(&out).contains(SECRET));
    assert_ok(&bed.run(&["revoke", "--context", "playground"]), "revoke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_groups_come_from_the_namespaced_claim_on_both_sides() {
    let api = "https://breakglass.example/api";
    let Some(bed) = Bed::start_real_with(
        IdpConfig {
            profile: IdpProfile::Auth0 {
                api_audience: api.into(),
            },
            ..IdpConfig::default()
        },
        Authentication {
            idp_claims: ClaimMappings {
                username_claim: "email".into(),
                groups: GroupsMapping::Claim(AUTH0_GROUPS_CLAIM.into()),
            },
            more_issuers: vec![],
        },
    )
    .await
    else {
        return;
    };
    setup(
        &bed,
        &["--audience", api, "--groups-claim", AUTH0_GROUPS_CLAIM],
    );
    let out = login(&bed).await;
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    let (_, groups) = cluster_sees(&bed);
    assert!(groups.contains(&"sre".to_string()), "{groups:?}");
    let out = bed.run(&["whoami", "--check", "--context", "playground"]);
    assert_ok(&out, "whoami --check");
    let said = stderr(&out);
    assert!(
        said.contains(&format!("groups ({AUTH0_GROUPS_CLAIM}):")) && !said.contains("mismatch"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_naming_people_by_another_claim_is_flagged_until_username_claim_matches() {
    let Some(bed) = Bed::start_real_with(
        IdpConfig::default(),
        Authentication {
            idp_claims: ClaimMappings {
                username_claim: "sub".into(),
                groups: GroupsMapping::Claim("groups".into()),
            },
            more_issuers: vec![],
        },
    )
    .await
    else {
        return;
    };
    login(&bed).await;
    let out = bed.run(&["whoami", "--check", "--context", "playground"]);
    assert_fails_with(
        &out,
        &[
            "mismatch: the cluster names you alice, the ID token's `email` claim says alice@example.com",
            "set --username-claim",
            "error: the cluster does not see you as your ID token says (1 mismatch above)",
            "run: kubectl breakglass whoami --check --context playground",
        ],
    );
    let report = stderr(&out);
    assert!(
        report.contains("username:             alice    (ID token: alice@example.com)"),
        "side by side: {report}"
    );
    let out = bed.run(&[
        "whoami",
        "--check",
        "--context",
        "playground",
        "--username-claim",
        "sub",
    ]);
    assert_ok(&out, "whoami --check --username-claim sub");
}
