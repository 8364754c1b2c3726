//! Dex, for real: built from the Go module proxy, trusted by the real API server next to
//! the test IdP. A person sets up a context for Dex with `--scope groups` (Dex puts groups
//! in the ID token only then), logs in, and goes the whole way: kubectl auth whoami,
//! whoami --check, request, use, revoke. Then Dex's cross-client audience, which only
//! `--audience` lets the plugin accept.

mod common;

use breakglass_testbed::cluster::{go_build, Authentication, ClaimMappings, JwtIssuer};
use breakglass_testbed::dex::{Dex, DexConfig, CLIENT_ID, PEER_CLIENT_ID};
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::tls::Ca;
use common::grants::Bed;
use common::*;
use std::process::Stdio;

/// Dex and a playground whose API server trusts it (audiences: our client and the peer).
async fn dex_and_bed() -> Option<(Ca, Dex, Bed)> {
    if let Some(why) = go_build::go_missing() {
        skip(&format!("Dex is built with Go: {why}"));
        return None;
    }
    let ca = Ca::generate().unwrap();
    let dex = Dex::start(DexConfig::default(), &ca).await.unwrap();
    let dex_issuer = JwtIssuer {
        issuer_url: dex.issuer().to_string(),
        audiences: vec![CLIENT_ID.into(), PEER_CLIENT_ID.into()],
        ca_pem: ca.cert_pem().to_string(),
        claims: ClaimMappings::default(),
    };
    let bed = Bed::start_real_with(
        IdpConfig::default(),
        Authentication {
            idp_claims: ClaimMappings::default(),
            more_issuers: vec![dex_issuer],
        },
    )
    .await?;
    Some((ca, dex, bed))
}

/// `kubectl config set-context NAME --cluster playground`, then `setup` for Dex with `extra`.
fn dex_context(bed: &Bed, dex: &Dex, ca: &Ca, name: &str, extra: &[&str]) {
    let out = bed.kubectl(&["config", "set-context", name, "--cluster", "playground"]);
    assert_ok(&out, "kubectl config set-context");
    let ca_file = bed.sb.path("dex-ca.crt");
    ca.write_cert(&ca_file).unwrap();
    let mut args = vec![
        "setup",
        "--context",
        name,
        "--issuer",
        dex.issuer(),
        "--client-id",
        CLIENT_ID,
        "--ca-file",
        ca_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = bed
        .plugin(&args)
        .env("PATH", path_with_plugin())
        .output()
        .unwrap();
    assert_ok(&out, "setup for Dex");
}

/// `login --context NAME`, approved at Dex as `user`: (success, stderr).
async fn dex_login(bed: &Bed, dex: &Dex, context: &str, user: &str) -> (bool, String) {
    let child = bed
        .plugin(&["login", "--no-browser", "--context", context])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pending = PendingLogin::read(child);
    dex.approve(&pending.user_code, user).await.unwrap();
    let out = pending.finish().await;
    assert!(out.stdout.is_empty(), "login prints nothing on stdout");
    assert_no_jwt(&stderr(&out));
    (out.status.success(), stderr(&out))
}

fn whoami_json(out: &std::process::Output) -> serde_json::Value {
    assert_ok(out, "kubectl auth whoami");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dex_login_whoami_request_use_and_revoke_on_the_real_api_server() {
    let Some((ca, dex, bed)) = dex_and_bed().await else {
        return;
    };
    dex_context(&bed, &dex, &ca, "dex", &["--scope", "groups"]);
    let kubeconfig: serde_json::Value = serde_norway::from_str(&bed.kubeconfig_text()).unwrap();
    let user = kubeconfig["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "dex-breakglass-oidc")
        .unwrap();
    let args: Vec<&str> = user["user"]["exec"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--scope", "groups"]),
        "setup wrote --scope groups into the exec entry: {args:?}"
    );

    let (ok, said) = dex_login(&bed, &dex, "dex", "alice").await;
    assert!(ok, "login at Dex failed:\n{said}");
    assert!(
        said.contains(&format!(
            "Logged in to {} as alice@example.com",
            dex.issuer()
        )) && said.contains("groups: sre"),
        "{said}"
    );
    assert!(!said.contains("warning:"), "nothing amiss: {said}");

    // Real kubectl through the exec entry: the API server takes Dex's token.
    let me =
        whoami_json(&bed.kubectl_installed(&["--context", "dex", "auth", "whoami", "-o", "json"]));
    assert_eq!(me["status"]["userInfo"]["username"], "alice@example.com");
    assert!(
        me["status"]["userInfo"]["groups"]
            .as_array()
            .unwrap()
            .contains(&"sre".into()),
        "{me}"
    );
    let out = bed.run(&["whoami", "--check", "--context", "dex"]);
    assert_ok(&out, "whoami --check");
    let report = stderr(&out);
    assert!(report.contains("groups (groups):"), "{report}");
    assert!(!report.contains("mismatch:"), "{report}");

    // Break the glass as the Dex identity, use it, revoke it.
    let out = bed.run(&[
        "request",
        "--context",
        "dex",
        "--reason",
        "checkout is down, need to look",
        "--role",
        "incident-debug",
    ]);
    assert_ok(&out, "request through Dex");
    let out = bed.kubectl_installed(&["--context", "dex-breakglass", "get", "pods", "-A"]);
    assert_ok(&out, "kubectl with the break-glass context");
    let record = bed.records().pop().unwrap();
    assert_eq!(record["spec"]["requester"], "alice@example.com", "{record}");
    let out = bed.run(&["revoke", "--context", "dex"]);
    assert_ok(&out, "revoke");
    let out = bed.kubectl_installed(&["--context", "dex-breakglass", "get", "pods", "-A"]);
    assert!(!out.status.success(), "the revoked token no longer works");
    assert_ok(&bed.run(&["logout", "--context", "dex"]), "logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dex_without_the_groups_scope_is_explained_and_its_cross_client_audience_needs_audience() {
    let Some((ca, dex, bed)) = dex_and_bed().await else {
        return;
    };
    // Without --scope groups Dex sends no groups: login warns, whoami --check explains.
    dex_context(&bed, &dex, &ca, "dex", &[]);
    let (ok, stderr) = dex_login(&bed, &dex, "dex", "alice").await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: your IdP did not put groups in the ID token (no `groups` claim)")
            && stderr.contains("try --scope groups"),
        "{stderr}"
    );
    let out = bed.run(&["whoami", "--check", "--context", "dex"]);
    assert_fails_with(
        &out,
        &[
            "mismatch: your IdP did not put groups in the ID token (no `groups` claim) and the cluster sees none; try --scope groups",
            "error: the cluster does not see you as your ID token says (1 mismatch above)",
        ],
    );
    assert_ok(&bed.run(&["logout", "--context", "dex"]), "logout");

    // Dex's cross-client scope: an ID token for the peer client `kubernetes`.
    let peer_scope = format!("audience:server:client_id:{PEER_CLIENT_ID}");
    dex_context(
        &bed,
        &dex,
        &ca,
        "dex-peer",
        &["--scope", "groups", "--scope", &peer_scope],
    );
    let (ok, stderr) = dex_login(&bed, &dex, "dex-peer", "alice").await;
    assert!(
        !ok,
        "a token for another audience is refused without --audience"
    );
    assert!(
        stderr.contains("error: ")
            && stderr.contains("Invalid audiences: `kubernetes` is not a trusted audience")
            && stderr
                .contains("and --audience, when the IdP issues ID tokens for another audience")
            && stderr.contains("nothing was cached"),
        "{stderr}"
    );
    dex_context(
        &bed,
        &dex,
        &ca,
        "dex-peer",
        &[
            "--scope",
            "groups",
            "--scope",
            &peer_scope,
            "--audience",
            PEER_CLIENT_ID,
        ],
    );
    let (ok, stderr) = dex_login(&bed, &dex, "dex-peer", "alice").await;
    assert!(ok, "{stderr}");
    let me = whoami_json(&bed.kubectl_installed(&[
        "--context",
        "dex-peer",
        "auth",
        "whoami",
        "-o",
        "json",
    ]));
    assert_eq!(me["status"]["userInfo"]["username"], "alice@example.com");
    assert_ok(&bed.run(&["logout", "--context", "dex-peer"]), "logout");
}
