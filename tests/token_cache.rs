//! The token cache backends with the real stores: the kernel keyring
//! (keyutils), the Secret Service (gnome-keyring in its own
//! `dbus-run-session`), and the opt-in file backend's permissions.

mod common;

use breakglass_testbed::idp::IdpConfig;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Our keys in the kernel keyrings this process can see: (description, permissions).
fn our_kernel_keys() -> Vec<(String, String)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyutils_keeps_the_login_in_the_user_keyring_and_logout_removes_it() {
    let (ca, idp) = start_idp(IdpConfig::default()).await;
    let sb = Sandbox::for_idp(&idp, &ca);
    let before = our_kernel_keys();
    let out = sb.login(&idp, "alice").await;
    assert!(
        stderr(&out).contains("the Linux kernel keyring (keyutils, your user keyring @u)"),
        "{}",
        stderr(&out)
    );
    let added: Vec<(String, String)> = our_kernel_keys()
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(
        added.len(),
        2,
        "one identity entry and one current-account pointer: {added:#?}"
    );
    assert!(
        added
            .iter()
            .any(|(d, _)| d.starts_with("kubectl-breakglass:identity:")),
        "{added:#?}"
    );
    assert!(
        added
            .iter()
            .any(|(d, _)| d.starts_with("kubectl-breakglass:account:")),
        "{added:#?}"
    );
    // Readable by the user, not only by processes that possess the key.
    assert!(
        added.iter().all(|(_, perm)| perm == "3f3f0000"),
        "{added:#?}"
    );
    assert!(
        added.iter().all(|(d, _)| !d.contains("alice")),
        "descriptions hold no account names: {added:#?}"
    );

    exec_credential(&sb.credential(V1, false));
    assert_ok(
        &sb.plugin(&["logout"]).args(sb.idp_args()).output().unwrap(),
        "logout",
    );
    let left: Vec<(String, String)> = our_kernel_keys()
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert!(left.is_empty(), "logout removed both items: {left:#?}");
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
