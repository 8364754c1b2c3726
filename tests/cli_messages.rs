//! Snapshots of what people read: help text and error messages of `login`,
//! `logout` and `credential`. A changed message is a visible diff in
//! `tests/snapshots/`; after an intended change, re-run with
//! `BLESS=1 cargo test --test cli_messages` and review the diff.

mod common;

use common::snapshot::snapshot;
use common::*;

fn sandbox() -> Sandbox {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    Sandbox::new("https://idp.example.invalid", "kubectl-breakglass", &ca)
}

/// Stderr with the sandbox's temporary path replaced by `$SANDBOX`.
fn normalized_stderr(sb: &Sandbox, out: &std::process::Output) -> String {
    stderr(out).replace(&sb.dir.path().display().to_string(), "$SANDBOX")
}

#[test]
fn help_texts() {
    let sb = sandbox();
    for cmd in ["login", "logout", "credential", "whoami"] {
        let out = sb
            .plugin(&[cmd, "--help"])
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert_ok(&out, "help");
        snapshot(&format!("help-{cmd}"), &stdout(&out));
    }
}

#[test]
fn credential_errors() {
    let sb = sandbox();
    let run = |info: Option<&str>| {
        let mut cmd = sb.plugin(&["credential"]);
        cmd.args([
            "--issuer",
            "https://idp.example.invalid",
            "--client-id",
            "kubectl-breakglass",
        ]);
        if let Some(info) = info {
            cmd.env("KUBERNETES_EXEC_INFO", info);
        }
        let out = cmd.output().unwrap();
        assert_fails_with(&out, &[]);
        normalized_stderr(&sb, &out)
    };
    let all = [
        ("unset", run(None)),
        ("malformed", run(Some("{\"kind\": "))),
        ("wrong shape", run(Some("[1,2]"))),
        (
            "unknown apiVersion",
            run(Some(
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v2"}"#,
            )),
        ),
        ("not logged in", run(Some(&exec_info(V1, false)))),
        ("plain http issuer", {
            let out = sb
                .plugin(&["credential"])
                .args(["--issuer", "http://127.0.0.1:8080", "--client-id", "kb"])
                .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
                .output()
                .unwrap();
            assert_fails_with(&out, &["not an https:// URL"]);
            normalized_stderr(&sb, &out)
        }),
        ("not logged in, file cache", {
            let mut fsb = sandbox();
            fsb.cache = "file".into();
            let out = fsb
                .plugin(&["credential"])
                .args([
                    "--issuer",
                    "https://idp.example.invalid",
                    "--client-id",
                    "kubectl-breakglass",
                ])
                .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
                .output()
                .unwrap();
            assert_fails_with(&out, &[]);
            normalized_stderr(&fsb, &out)
        }),
    ]
    .iter()
    .map(|(case, text)| format!("## {case}\n{text}"))
    .collect::<String>();
    snapshot("credential-errors", &all);
}

#[test]
fn login_and_logout_errors() {
    let sb = sandbox();
    let mut all = String::new();
    // No flags and no kubeconfig.
    let out = sb.plugin(&["login", "--no-browser"]).output().unwrap();
    assert_fails_with(&out, &[]);
    all.push_str(&format!(
        "## login without kubeconfig\n{}",
        normalized_stderr(&sb, &out)
    ));
    // A kubeconfig whose context does not use the plugin.
    let kubeconfig = sb.path("home/config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n\
         contexts:\n- name: other\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: kubelogin\n      args: [get-token]\n",
    )
    .unwrap();
    let out = sb
        .plugin(&["logout"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_fails_with(&out, &[]);
    all.push_str(&format!(
        "## logout with a non-breakglass context\n{}",
        normalized_stderr(&sb, &out)
    ));
    let out = sb
        .plugin(&["logout", "--context", "nope"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_fails_with(&out, &[]);
    all.push_str(&format!(
        "## unknown context\n{}",
        normalized_stderr(&sb, &out)
    ));
    // The grant commands need a context from the kubeconfig: the hint is about the file.
    for cmd in ["request", "status"] {
        let mut args = vec![cmd, "--kubeconfig", "/no/such/kc"];
        if cmd == "request" {
            args.extend(["--reason", "r"]);
        }
        let out = sb.plugin(&args).output().unwrap();
        assert_fails_with(
            &out,
            &["no kubeconfig at /no/such/kc", "--kubeconfig or KUBECONFIG"],
        );
        assert!(!stderr(&out).contains("--issuer"), "{}", stderr(&out));
        all.push_str(&format!(
            "## {cmd} with a missing --kubeconfig\n{}",
            normalized_stderr(&sb, &out)
        ));
    }
    // Plain http, even to localhost: refused before anything is sent or cached.
    let out = sb
        .plugin(&["login", "--no-browser"])
        .args(["--issuer", "HTTP://localhost:5556/dex", "--client-id", "kb"])
        .output()
        .unwrap();
    assert_fails_with(&out, &["not an https:// URL"]);
    all.push_str(&format!(
        "## login with a plain http issuer\n{}",
        normalized_stderr(&sb, &out)
    ));
    let out = sb
        .plugin(&["login"])
        .args(["--token-cache", "vault"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    all.push_str(&format!(
        "## unknown token cache\n{}",
        normalized_stderr(&sb, &out)
    ));
    snapshot("login-logout-errors", &all);
}

#[test]
fn whoami_and_identity_option_errors() {
    let sb = sandbox();
    let mut all = String::new();
    let mut case = |title: &str, args: &[&str], needles: &[&str]| {
        let out = sb.plugin(args).output().unwrap();
        assert_fails_with(&out, needles);
        all.push_str(&format!("## {title}\n{}", normalized_stderr(&sb, &out)));
    };
    let idp = [
        "--issuer",
        "https://idp.example.invalid",
        "--client-id",
        "kubectl-breakglass",
    ];
    case(
        "whoami, not logged in",
        &[&["whoami"][..], &idp].concat(),
        &[
            "not logged in to https://idp.example.invalid",
            "run: kubectl breakglass login",
        ],
    );
    case(
        "whoami, not logged in, with options",
        &[
            &["whoami"][..],
            &idp,
            &[
                "--scope",
                "groups",
                "--client-secret",
                "s3cr3t-value",
                "--audience",
                "k8s",
            ],
        ]
        .concat(),
        &["--scope groups --client-secret SECRET --audience k8s"],
    );
    case(
        "whoami --check without a kubeconfig",
        &[&["whoami", "--check"][..], &idp].concat(),
        &["whoami --check asks the cluster of a kubeconfig context"],
    );
    case(
        "setup with a scope holding a space",
        &[
            &["setup", "--context", "prod"][..],
            &idp,
            &["--scope", "groups profile"],
        ]
        .concat(),
        &["give each scope with its own --scope"],
    );
    case(
        "setup with an empty client secret",
        &[
            &["setup", "--context", "prod"][..],
            &idp,
            &["--client-secret", ""],
        ]
        .concat(),
        &["--client-secret is empty"],
    );
    assert!(
        !all.contains("s3cr3t-value"),
        "the secret is never echoed:\n{all}"
    );
    snapshot("whoami-and-identity-option-errors", &all);
}
