//! `login` and `logout` against the real IdP (oidc-provider under node):
//! approval, denial, code expiry, bad IdPs — and nothing cached on failure.

mod common;

use breakglass_testbed::idp::IdpConfig;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_shows_the_code_verifies_and_caches_who_you_are() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);

    let out = sb.login(&idp, "alice").await;
    let err = stderr(&out);
    assert!(out.stdout.is_empty(), "login writes nothing to stdout");
    assert!(
        err.contains("Tokens will be cached in the Linux kernel keyring"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}/device", idp.issuer())),
        "verification URL shown:\n{err}"
    );
    assert!(err.contains("enter the code"), "{err}");
    assert!(err.contains("Logged in to"), "{err}");
    assert!(err.contains("as alice@example.com"), "{err}");
    assert!(err.contains("groups: sre"), "{err}");
    assert_no_jwt(&err);
    assert_eq!(idp.stats().await.unwrap().device_authorizations, 1);

    // The cached ID token is served, in the version asked for, without the IdP.
    let before = idp.stats().await.unwrap().total_token_requests();
    let (version, token, expires) = exec_credential(&sb.credential(V1BETA1, false));
    assert_eq!(version, V1BETA1);
    let claims = jwt_claims(&token);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], idp.client_id());
    // expirationTimestamp is exp minus the safety margin (60 s for a 300 s token).
    assert_eq!(expires.timestamp(), claims["exp"].as_i64().unwrap() - 60);
    let (version, token2, _) = exec_credential(&sb.credential(V1, false));
    assert_eq!(version, V1);
    assert_eq!(token, token2);
    assert_eq!(
        idp.stats().await.unwrap().total_token_requests(),
        before,
        "cache hits never ask the IdP"
    );

    // logout removes exactly this login; a second logout finds nothing.
    let out = sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap();
    assert_ok(&out, "logout");
    assert!(
        stderr(&out).contains("Logged out alice@example.com"),
        "{}",
        stderr(&out)
    );
    assert_fails_with(
        &sb.credential(V1, false),
        &["not logged in to", "run: kubectl breakglass login --issuer"],
    );
    let out = sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap();
    assert_ok(&out, "second logout");
    assert!(stderr(&out).contains("Not logged in"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_replaces_the_previous_one_and_logout_removes_it() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let mut sb = Sandbox::for_idp(&idp, &ca);
    sb.cache = "file".into(); // a store this test alone can list
    let file = sb.path("cache/kubectl-breakglass/tokens.json");
    let items = || -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        v.as_object().unwrap().len()
    };
    sb.login(&idp, "alice").await;
    assert_eq!(
        items(),
        2,
        "an identity entry and the current-account pointer"
    );
    let out = sb.login(&idp, "bob").await;
    assert!(
        stderr(&out).contains("Removed the cached login of alice@example.com"),
        "{}",
        stderr(&out)
    );
    assert_eq!(items(), 2, "alice's entry is gone, not left behind");
    let (_, token, _) = exec_credential(&sb.credential(V1, false));
    assert_eq!(jwt_claims(&token)["email"], "bob@example.com");
    let out = sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap();
    assert!(
        stderr(&out).contains("Logged out bob@example.com"),
        "{}",
        stderr(&out)
    );
    assert_eq!(items(), 0);
    assert_fails_with(&sb.credential(V1, false), &["not logged in"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_login_says_so_and_caches_nothing() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let child = sb.spawn_login(&[]);
    let code = idp
        .wait_for_pending_user_code(Duration::from_secs(20))
        .await
        .unwrap();
    idp.deny(&code).await.unwrap();
    let out = wait(child).await;
    assert_fails_with(
        &out,
        &["denied", "run `kubectl breakglass login` to try again"],
    );
    assert_fails_with(
        &sb.credential(V1, false),
        &["not logged in", "no cached login"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_code_says_how_to_retry() {
    let (ca, idp) = start_idp(IdpConfig {
        device_code_ttl: Duration::from_secs(3),
        ..IdpConfig::default()
    })
    .await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &[
            "expired before it was approved",
            "run `kubectl breakglass login` again",
        ],
    );
    assert_fails_with(&sb.credential(V1, false), &["not logged in"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_idp_is_named_with_what_to_check() {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    let sb = Sandbox::new(
        &format!("https://127.0.0.1:{}", dead_port()),
        "kubectl-breakglass",
        &ca,
    );
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &[
            "cannot reach the identity provider",
            "Connection refused",
            "check the issuer URL",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_issuer_and_wrong_client_are_refused() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    // The provider publishes its issuer without a trailing slash.
    let sb = Sandbox::new(&format!("{}/", idp.issuer()), idp.client_id(), &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &["wrong issuer", &format!("--issuer {}", idp.issuer())],
    );

    let sb = Sandbox::new(idp.issuer(), "no-such-client", &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &[
            "invalid_client",
            "client id \"no-such-client\"",
            "check --client-id",
        ],
    );
    // One `error:` line that says it all; no cause repeating it.
    let err = stderr(&out);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");
    assert!(
        err.contains(&format!("error: login to {} failed: ", idp.issuer())),
        "{err}"
    );

    // Without our CA the IdP's certificate is not trusted, and the message says where to look.
    let mut sb = Sandbox::for_idp(&idp, &ca);
    std::fs::write(
        &sb.ca_file,
        breakglass_testbed::tls::Ca::generate().unwrap().cert_pem(),
    )
    .unwrap();
    sb.cache = "none".into();
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(&out, &["cannot reach the identity provider", "--ca-file"]);
}

/// An HTTPS server (node, certificate from the test bed's CA) that answers every request
/// with `body`, like a login page or a proxy; killed on drop.
struct Garbage {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Garbage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_garbage(
    ca: &breakglass_testbed::tls::Ca,
    body: &'static str,
    content_type: &'static str,
) -> Garbage {
    let dir = tempfile::tempdir().unwrap();
    let cert = ca.issue_loopback_server_cert().unwrap();
    let (key_file, cert_file) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    let script = "const https = require('https'), fs = require('fs');\
        const [k, c, body, type] = process.argv.slice(-4);\
        const s = https.createServer({key: fs.readFileSync(k), cert: fs.readFileSync(c)},\
          (q, r) => { r.writeHead(200, {'content-type': type}); r.end(body); });\
        s.listen(0, '127.0.0.1', () => console.log(s.address().port));";
    let mut child = std::process::Command::new("node")
        .args(["-e", script, "--"])
        .arg(&key_file)
        .arg(&cert_file)
        .args([body, content_type])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port = line.trim().parse().expect("node printed its port");
    Garbage {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_answering_html_or_garbage_is_named() {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    let html = serve_garbage(
        &ca,
        "<!DOCTYPE html><html><body>Sign in</body></html>",
        "text/html",
    );
    let sb = Sandbox::new(&format!("https://127.0.0.1:{}", html.port), "c", &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(
        &out,
        &["an HTML page instead of JSON", "is the issuer URL right?"],
    );

    let garbage = serve_garbage(&ca, "\u{1}\u{2}garbage", "application/octet-stream");
    let sb = Sandbox::new(&format!("https://127.0.0.1:{}", garbage.port), "c", &ca);
    let out = wait(sb.spawn_login(&[])).await;
    assert_fails_with(&out, &["not a JSON object"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_login_shows_a_qr_code_and_live_progress() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    // `script` gives the plugin a pseudo-terminal, as a person's shell would.
    let line = format!(
        "{PLUGIN} --token-cache keyutils login --no-browser {}",
        sb.idp_args().join(" ")
    );
    let mut cmd = std::process::Command::new("script");
    sb.env(&mut cmd);
    let child = cmd
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let code = idp
        .wait_for_pending_user_code(Duration::from_secs(20))
        .await
        .unwrap();
    // Let it poll a few times first, so there is progress to show.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    idp.approve(&code, "alice").await.unwrap();
    let out = wait(child).await;
    let screen = stdout(&out);
    assert_ok(&out, "login on a terminal");
    assert!(
        screen.contains('▀') || screen.contains('▄'),
        "a QR code of the complete URL:\n{screen}"
    );
    assert!(
        screen.contains("\rWaiting for approval… ")
            || screen.contains("\r\x1b[2KWaiting for approval… "),
        "live progress:\n{screen}"
    );
    assert!(screen.contains("Logged in to"), "{screen}");
    assert_no_jwt(&screen);
}
