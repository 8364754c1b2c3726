//! `setup` on a kubeconfig with other contexts and fields it does not know: only the named
//! context is rewired, to a dedicated user entry; then `login` and real kubectl work
//! through it against the Playground's IdP and API server.

mod common;

use common::grants::Bed;
use common::*;
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A kubeconfig a team might have: the Playground's cluster, two contexts sharing one
/// user, and fields nobody here knows.
fn team_kubeconfig(bed: &Bed) -> String {
    let pg: Value = serde_norway::from_str(&bed.kubeconfig_text()).unwrap();
    let cluster = &pg["clusters"][0]["cluster"];
    format!(
        r#"apiVersion: v1
kind: Config
current-context: other
preferences: {{colors: true}}
x-corp-inventory: {{owner: platform-team, tags: [a, b]}}
clusters:
- name: team-cluster
  cluster:
    server: {server}
    certificate-authority-data: {ca}
    x-cluster-extension: 7
contexts:
- name: team
  context:
    cluster: team-cluster
    user: shared
    namespace: shop
    extensions: [{{name: corp, extension: {{pager: "on"}}}}]
- name: other
  context: {{cluster: team-cluster, user: shared}}
users:
- name: shared
  user: {{token: not-a-real-token}}
"#,
        server = cluster["server"].as_str().unwrap(),
        ca = cluster["certificate-authority-data"].as_str().unwrap(),
    )
}

fn run(
    bed: &Bed,
    kubeconfig: &Path,
    path: &std::ffi::OsStr,
    args: &[&str],
) -> std::process::Output {
    bed.plugin(args)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", path)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_rewires_one_context_and_login_then_works() {
    let bed = Bed::start().await;
    let file: PathBuf = bed.sb.path("team-config");
    let original = team_kubeconfig(&bed);
    std::fs::write(&file, &original).unwrap();
    let plugin_path = path_with_plugin();
    let issuer = bed.pg.idp.issuer().to_string();
    let client_id = bed.pg.idp.client_id().to_string();
    let ca = bed.sb.ca_file.display().to_string();
    let setup_args = [
        "setup",
        "--context",
        "team",
        "--issuer",
        &issuer,
        "--client-id",
        &client_id,
        "--ca-file",
        &ca,
    ];

    let out = run(&bed, &file, &plugin_path, &setup_args);
    assert_ok(&out, "setup");
    let err = stderr(&out);
    assert!(out.stdout.is_empty());
    assert!(
        err.contains(&format!(
            "Context team in {} now uses user team-breakglass-oidc instead of shared (that entry is unchanged)",
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("kubectl-breakglass credential --issuer {issuer} --client-id {client_id} --ca-file {ca}")),
        "{err}"
    );
    assert!(
        err.contains("Next: kubectl breakglass login --context team"),
        "{err}"
    );
    assert!(!err.contains("not on your PATH"), "{err}");

    // Only the context's user changed and one user entry was added; the rest is the same.
    let mut after: Value =
        serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let users = after["users"].as_sequence().unwrap();
    assert_eq!(users.len(), 2);
    let exec = &users[1]["user"]["exec"];
    assert_eq!(users[1]["name"], "team-breakglass-oidc");
    assert_eq!(exec["command"], "kubectl-breakglass");
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(exec["interactiveMode"], "IfAvailable");
    // The IdP flags as given; the test bed's environment chooses the kernel keyring, and
    // setup passes that choice on.
    let mut expected = vec!["credential"];
    expected.extend_from_slice(&setup_args[3..]);
    expected.extend_from_slice(&["--token-cache", "keyutils"]);
    assert_eq!(exec["args"], serde_norway::to_value(&expected).unwrap());
    assert_eq!(
        after["contexts"][0]["context"]["user"],
        "team-breakglass-oidc"
    );
    after["contexts"][0]["context"]["user"] = "shared".into();
    after["users"].as_sequence_mut().unwrap().remove(1);
    assert_eq!(after, serde_norway::from_str::<Value>(&original).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The file keeps its mode (kubectl's way), whatever the umask.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let again = run(&bed, &file, &plugin_path, &setup_args);
        assert_ok(&again, "setup after chmod");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    // Again: nothing new, the same file.
    let before_again = std::fs::read_to_string(&file).unwrap();
    assert_ok(&run(&bed, &file, &plugin_path, &setup_args), "setup again");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before_again);

    // login --context team finds the IdP in the new entry; alice approves at the real IdP.
    let child = bed
        .plugin(&["login", "--no-browser", "--context", "team"])
        .env("KUBECONFIG", &file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let code = bed
        .pg
        .idp
        .wait_for_pending_user_code(Duration::from_secs(20))
        .await
        .unwrap();
    bed.pg.idp.approve(&code, "alice").await.unwrap();
    let out = wait(child).await;
    assert_ok(&out, "login --context team");
    assert!(
        stderr(&out).contains("as alice@example.com"),
        "{}",
        stderr(&out)
    );

    // Real kubectl through the rewired context: the exec entry serves alice's identity.
    let mut kubectl = std::process::Command::new(breakglass_testbed::playground::kubectl());
    bed.sb.env(&mut kubectl);
    let who = kubectl
        .env("KUBECONFIG", &file)
        .env("PATH", &plugin_path)
        .env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache)
        .args(["--context", "team", "auth", "whoami", "-o", "json"])
        .output()
        .unwrap();
    assert_ok(&who, "kubectl --context team auth whoami");
    let who: serde_json::Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "alice@example.com");
    assert_no_jwt(&stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_what_it_cannot_write_and_says_what_to_do() {
    let bed = Bed::start_with(Default::default(), false).await;
    let file = bed.sb.path("team-config");
    let original = team_kubeconfig(&bed);
    std::fs::write(&file, &original).unwrap();
    let bare = std::env::var_os("PATH").unwrap_or_default();
    let idp = [
        "--issuer",
        "https://idp.example.com",
        "--client-id",
        "kubectl-breakglass",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut all = vec!["setup".to_string()];
        all.extend(extra.iter().map(|s| s.to_string()));
        all
    };
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            with(&idp),
            &["setup needs --context NAME", "kubectl config get-contexts"],
        ),
        (
            with(&[&["--context", "nope"][..], &idp].concat()),
            &[
                "context \"nope\" is not in",
                "kubectl config set-context nope",
            ],
        ),
        (
            with(&[
                "--context",
                "team",
                "--issuer",
                "http://idp",
                "--client-id",
                "c",
            ]),
            &["--issuer \"http://idp\" is not an https:// URL"],
        ),
        (
            with(
                &[
                    &["--context", "team", "--ca-file", "/no/such/ca.pem"][..],
                    &idp,
                ]
                .concat(),
            ),
            &["cannot read --ca-file /no/such/ca.pem"],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&bed, &file, &bare, &args);
        assert_fails_with(&out, needles);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            original,
            "{args:?} wrote the file"
        );
    }

    // A missing kubeconfig: the hint is about the file, not about --issuer/--client-id
    // (given already).
    let missing = bed.sb.path("no-such-dir/kc");
    let out = run(
        &bed,
        &file,
        &bare,
        &[
            &["setup", "--context", "team", "--kubeconfig"][..],
            &[missing.to_str().unwrap()][..],
            &idp,
        ]
        .concat(),
    );
    assert_fails_with(
        &out,
        &[
            &format!("no kubeconfig at {} (from --kubeconfig)", missing.display()),
            "create it",
            "pass an existing one with --kubeconfig PATH",
        ],
    );
    assert!(!stderr(&out).contains("--issuer"), "{}", stderr(&out));
    assert!(!missing.exists());

    // Without the plugin on PATH, setup still writes, and warns that kubectl cannot run it.
    let out = run(
        &bed,
        &file,
        &bare,
        &[&["setup", "--context", "team"][..], &idp].concat(),
    );
    assert_ok(&out, "setup without the plugin on PATH");
    assert!(
        stderr(&out).contains("warning: kubectl-breakglass is not on your PATH"),
        "{}",
        stderr(&out)
    );
}
