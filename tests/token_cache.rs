//! The token cache backends with the real stores: the kernel keyring
//! (keyutils), the Secret Service (gnome-keyring in its own
//! `dbus-run-session`), and the opt-in file backend's permissions.

mod common;

use breakglass_testbed::idp::IdpConfig;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Our keys in the kernel keyrings this process can see: description -> permissions.
fn our_kernel_keys() -> std::collections::HashMap<String, String> {
    // /proc/keys: ID FLAGS USAGE TIMEOUT PERM UID GID TYPE DESCRIPTION: SUMMARY
    std::fs::read_to_string("/proc/keys")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let desc = f.get(8)?.trim_end_matches(':');
            (desc.starts_with("kubectl-breakglass:") && !f[1].contains('i'))
                .then(|| (desc.to_string(), f[4].to_string()))
        })
        .collect()
}

/// The documented key name: `kubectl-breakglass:KIND:` + the first 16 bytes
/// (hex) of SHA-256 over the length-prefixed parts.
fn key_name(kind: &str, parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    format!(
        "kubectl-breakglass:{kind}:{}",
        hex::encode(&h.finalize()[..16])
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyutils_keeps_the_login_in_the_user_keyring_and_logout_removes_it() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let identity = key_name(
        "identity",
        &[idp.issuer(), idp.client_id(), "alice@example.com"],
    );
    let pointer = key_name("account", &[idp.issuer(), idp.client_id()]);
    let out = sb.login(&idp, "alice").await;
    assert!(
        stderr(&out).contains("the Linux kernel keyring (keyutils, your user keyring @u)"),
        "{}",
        stderr(&out)
    );
    let keys = our_kernel_keys();
    // Readable by the user, not only by processes that possess the key.
    assert_eq!(
        keys.get(&identity).map(String::as_str),
        Some("3f3f0000"),
        "identity entry: {keys:#?}"
    );
    assert_eq!(
        keys.get(&pointer).map(String::as_str),
        Some("3f3f0000"),
        "account pointer: {keys:#?}"
    );

    exec_credential(&sb.credential(V1, false));
    assert_ok(
        &sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap(),
        "logout",
    );
    let keys = our_kernel_keys();
    assert!(
        !keys.contains_key(&identity) && !keys.contains_key(&pointer),
        "logout removed both: {keys:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_backend_is_private_and_says_where_it_is() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let mut sb = Sandbox::for_idp(&idp, &ca);
    sb.cache = "file".into();
    let out = sb.login(&idp, "alice").await;
    let file = sb.path("cache/kubectl-breakglass/tokens.json");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "a file, {} (0600 in a 0700 directory",
            show(&file)
        )),
        "{err}"
    );

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let (_, token, _) = exec_credential(&sb.credential(V1, false));
    assert_eq!(jwt_claims(&token)["email"], "alice@example.com");

    // It was stored only there: the kernel keyring knows nothing of it.
    sb.cache = "keyutils".into();
    assert_fails_with(&sb.credential(V1, false), &["not logged in"]);
    sb.cache = "file".into();
    assert_ok(
        &sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap(),
        "logout",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
}

/// Runs `script` (bash) inside a private `dbus-run-session` with an unlocked
/// gnome-keyring Secret Service, in the sandbox's environment.
fn spawn_in_dbus_session(sb: &Sandbox, script: &str) -> std::process::Child {
    assert!(
        std::path::Path::new("/usr/bin/gnome-keyring-daemon").exists(),
        "gnome-keyring-daemon is missing: install it with `apt-get install -y gnome-keyring` (scripts/install-deps does)"
    );
    let mut cmd = Command::new("dbus-run-session");
    sb.env(&mut cmd);
    let full = format!(
        "set -u\n# A throwaway keyring in the sandbox HOME; an empty password creates none.\nprintf test-bed | gnome-keyring-daemon --daemonize --unlock --components=secrets >/dev/null\n{script}"
    );
    cmd.args(["--", "bash", "-c", &full])
        .env("PLUGIN", PLUGIN)
        .env("OUT", sb.dir.path())
        .env("IDP", sb.idp_args().join(" "))
        .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_service_is_chosen_automatically_and_round_trips() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let child = spawn_in_dbus_session(
        &sb,
        r#"
        "$PLUGIN" --token-cache keyring login --no-browser $IDP 2>"$OUT/login.err" || exit 11
        "$PLUGIN" --token-cache secret-service credential $IDP >"$OUT/cred.out" 2>"$OUT/cred.err" || exit 12
        "$PLUGIN" --token-cache keyring logout $IDP 2>"$OUT/logout.err" || exit 13
        "$PLUGIN" --token-cache secret-service credential $IDP >"$OUT/after.out" 2>"$OUT/after.err" && exit 14
        exit 0
        "#,
    );
    let code = idp
        .wait_for_pending_user_code(Duration::from_secs(30))
        .await
        .unwrap();
    idp.approve(&code, "alice").await.unwrap();
    let out = wait(child).await;
    let read = |f: &str| std::fs::read_to_string(sb.path(f)).unwrap_or_default();
    assert!(
        out.status.success(),
        "session script failed ({}):\n{}\nlogin: {}\ncredential: {}\nlogout: {}",
        out.status,
        stderr(&out),
        read("login.err"),
        read("cred.err"),
        read("logout.err")
    );
    assert!(
        read("login.err").contains("Tokens will be cached in the Secret Service"),
        "{}",
        read("login.err")
    );
    let cred: serde_json::Value = serde_json::from_str(&read("cred.out")).unwrap();
    assert_eq!(
        jwt_claims(cred["status"]["token"].as_str().unwrap())["email"],
        "alice@example.com"
    );
    assert!(
        read("logout.err").contains("Logged out alice@example.com"),
        "{}",
        read("logout.err")
    );
    assert!(
        read("after.err").contains("not logged in"),
        "{}",
        read("after.err")
    );
    assert!(read("after.out").is_empty());
    // Nothing went to the kernel keyring.
    assert_fails_with(&sb.credential(V1, false), &["not logged in"]);
}

#[test]
fn keyring_falls_back_to_keyutils_when_the_secret_service_has_no_open_keyring() {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    let sb = Sandbox::new("https://idp.example.invalid", "kubectl-breakglass", &ca);
    // A session bus where gnome-keyring is only D-Bus-activatable, without a
    // login keyring: writing there would fail or prompt.
    let mut cmd = Command::new("dbus-run-session");
    sb.env(&mut cmd);
    let out = cmd
        .args(["--", PLUGIN, "--token-cache", "keyring", "logout"])
        .args(sb.idp_args())
        .output()
        .unwrap();
    assert_ok(&out, "logout in a bare D-Bus session");
    assert!(
        stderr(&out).contains("nothing cached in the Linux kernel keyring"),
        "{}",
        stderr(&out)
    );
}
