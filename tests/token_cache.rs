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
        search() {
            gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
                --method org.freedesktop.Secret.Service.SearchItems "{'service': 'kubectl-breakglass'}"
        }
        "$PLUGIN" --token-cache keyring login --no-browser $IDP 2>"$OUT/login.err" || exit 11
        search >"$OUT/items-after-login" || exit 15
        "$PLUGIN" --token-cache keyring credential $IDP >"$OUT/cred.out" 2>"$OUT/cred.err" || exit 12
        "$PLUGIN" --token-cache keyring logout $IDP 2>"$OUT/logout.err" || exit 13
        search >"$OUT/items-after-logout" || exit 16
        "$PLUGIN" --token-cache keyring credential $IDP >"$OUT/after.out" 2>"$OUT/after.err" && exit 14
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
    // The login is in the Secret Service (one item: the entry; the non-secret pointer is
    // in the state file), and logout removed it.
    let items = |f: &str| {
        read(f)
            .matches("/org/freedesktop/secrets/collection/")
            .count()
    };
    assert_eq!(
        items("items-after-login"),
        1,
        "{}",
        read("items-after-login")
    );
    assert_eq!(
        items("items-after-logout"),
        0,
        "{}",
        read("items-after-logout")
    );
    assert!(
        read("logout.err").contains("Logged out alice@example.com")
            && read("logout.err").contains("the Secret Service"),
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

/// `keyring` decides where the login goes once, at login, and remembers it: reads never
/// probe, so a Secret Service that cannot be reached later is named — not "not logged in".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_remembers_the_secret_service_and_says_when_it_is_locked_or_gone() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let child = spawn_in_dbus_session(
        &sb,
        r#"
        "$PLUGIN" --token-cache keyring login --no-browser $IDP 2>"$OUT/login.err" || exit 11
        "$PLUGIN" --token-cache keyring credential $IDP >"$OUT/cred.out" 2>"$OUT/cred.err" || exit 12
        # The same person over SSH: no session bus.
        env -u DBUS_SESSION_BUS_ADDRESS "$PLUGIN" --token-cache keyring credential $IDP \
            >"$OUT/nobus.out" 2>"$OUT/nobus.err" && exit 13
        # The desktop keyring gets locked (screen lock, timeout).
        gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
            --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" \
            >"$OUT/lock.out" 2>&1 || exit 14
        "$PLUGIN" --token-cache keyring credential $IDP >"$OUT/locked.out" 2>"$OUT/locked.err" && exit 15
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
        "session script failed ({}):\n{}\nlogin: {}\ncredential: {}\nno bus: {}\nlock: {}\nlocked: {}",
        out.status,
        stderr(&out),
        read("login.err"),
        read("cred.err"),
        read("nobus.err"),
        read("lock.out"),
        read("locked.err"),
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
    let login_hint = format!("run: kubectl breakglass login --issuer {}", idp.issuer());
    for (case, detail) in [
        (
            "nobus",
            "no Secret Service answers on the D-Bus session bus",
        ),
        ("locked", "the keyring is locked"),
    ] {
        let err = read(&format!("{case}.err"));
        assert!(
            err.starts_with(&format!(
                "error: the Secret Service keyring holding your login to {} is locked or gone (",
                idp.issuer()
            )),
            "{case}: {err}"
        );
        assert!(err.contains(detail), "{case}: {err}");
        assert!(err.contains("— unlock it, or "), "{case}: {err}");
        assert!(err.contains(&login_hint), "{case}: {err}");
        assert!(!err.contains("not logged in"), "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(read(&format!("{case}.out")).is_empty());
        assert_no_jwt(&err);
    }
    // Nothing went to the kernel keyring.
    let pointer = key_name("account", &[idp.issuer(), idp.client_id()]);
    let identity = key_name(
        "identity",
        &[idp.issuer(), idp.client_id(), "alice@example.com"],
    );
    let keys = our_kernel_keys();
    assert!(!keys.contains_key(&pointer) && !keys.contains_key(&identity));
}

/// A login kept in the kernel keyring (no desktop at login time) is still found when a
/// Secret Service with an open keyring is there later: the choice is not made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_keeps_a_kernel_keyring_login_when_a_desktop_keyring_appears() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let mut sb = Sandbox::for_idp(&idp, &ca);
    sb.cache = "keyring".into();
    // No session bus in the sandbox's environment: the kernel keyring.
    let out = sb.login(&idp, "alice").await;
    assert!(
        stderr(&out).contains("Tokens will be cached in the Linux kernel keyring"),
        "{}",
        stderr(&out)
    );
    let child = spawn_in_dbus_session(
        &sb,
        r#"
        "$PLUGIN" --token-cache keyring credential $IDP >"$OUT/cred.out" 2>"$OUT/cred.err" || exit 11
        "$PLUGIN" --token-cache keyring logout $IDP 2>"$OUT/logout.err" || exit 12
        exit 0
        "#,
    );
    let out = wait(child).await;
    let read = |f: &str| std::fs::read_to_string(sb.path(f)).unwrap_or_default();
    assert!(
        out.status.success(),
        "session script failed ({}):\n{}\ncredential: {}\nlogout: {}",
        out.status,
        stderr(&out),
        read("cred.err"),
        read("logout.err")
    );
    let cred: serde_json::Value = serde_json::from_str(&read("cred.out")).unwrap();
    assert_eq!(
        jwt_claims(cred["status"]["token"].as_str().unwrap())["email"],
        "alice@example.com"
    );
    assert!(
        read("logout.err").contains("Logged out alice@example.com")
            && read("logout.err").contains("the Linux kernel keyring"),
        "{}",
        read("logout.err")
    );
    assert!(!our_kernel_keys().contains_key(&key_name(
        "identity",
        &[idp.issuer(), idp.client_id(), "alice@example.com"],
    )));
    // The state file names no account in clear and holds no token.
    let state =
        std::fs::read_to_string(sb.path("home/.local/state/kubectl-breakglass/keyring.json"))
            .unwrap();
    assert!(!state.contains("alice"), "{state}");
    assert_no_jwt(&state);
}

/// `--token-cache secret-service` reads without probing too, and names a locked keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_service_backend_round_trips_and_names_a_locked_keyring() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let child = spawn_in_dbus_session(
        &sb,
        r#"
        "$PLUGIN" --token-cache secret-service login --no-browser $IDP 2>"$OUT/login.err" || exit 11
        "$PLUGIN" --token-cache secret-service credential $IDP >"$OUT/cred.out" 2>"$OUT/cred.err" || exit 12
        gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
            --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" \
            >"$OUT/lock.out" 2>&1 || exit 13
        "$PLUGIN" --token-cache secret-service credential $IDP >"$OUT/locked.out" 2>"$OUT/locked.err" && exit 14
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
        "session script failed ({}):\n{}\nlogin: {}\ncredential: {}\nlock: {}\nlocked: {}",
        out.status,
        stderr(&out),
        read("login.err"),
        read("cred.err"),
        read("lock.out"),
        read("locked.err"),
    );
    let cred: serde_json::Value = serde_json::from_str(&read("cred.out")).unwrap();
    assert_eq!(
        jwt_claims(cred["status"]["token"].as_str().unwrap())["email"],
        "alice@example.com"
    );
    let err = read("locked.err");
    assert!(
        err.contains("the Secret Service keyring holding your login")
            && err.contains("the keyring is locked")
            && !err.contains("not logged in"),
        "{err}"
    );
    assert!(read("locked.out").is_empty());
}
