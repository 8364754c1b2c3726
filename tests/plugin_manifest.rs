//! The kubeconfig examples in plugin-manifest/ are valid kubeconfigs, and the
//! plugin accepts their exec entries exactly as written.

use kube::config::Kubeconfig;
use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");

fn example(name: &str) -> Kubeconfig {
    let path = format!("{}/plugin-manifest/{name}", env!("CARGO_MANIFEST_DIR"));
    Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs the example's exec entry as kubectl would, with nothing cached.
fn run_exec_entry(config: &Kubeconfig) -> (bool, String, String) {
    let exec = config.auth_infos[0]
        .auth_info
        .as_ref()
        .and_then(|a| a.exec.clone())
        .expect("an exec entry");
    assert_eq!(exec.command.as_deref(), Some("kubectl-breakglass"));
    let api_version = exec.api_version.expect("apiVersion");
    assert_eq!(api_version, "client.authentication.k8s.io/v1");
    let info = format!(
        r#"{{"kind":"ExecCredential","apiVersion":"{api_version}","spec":{{"interactive":false}}}}"#
    );
    let out = Command::new(PLUGIN)
        .args(exec.args.unwrap_or_default())
        .env("KUBERNETES_EXEC_INFO", info)
        .env("BREAKGLASS_TOKEN_CACHE", "none")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_example_runs_the_identity_credential() {
    let config = example("kubeconfig-user.yaml");
    assert_eq!(config.current_context.as_deref(), Some("prod"));
    let (ok, stdout, stderr) = run_exec_entry(&config);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("not logged in to https://idp.example.com")
            && stderr.contains("kubectl breakglass login"),
        "{stderr}"
    );
}

#[test]
fn breakglass_example_runs_the_elevated_credential() {
    let config = example("kubeconfig-breakglass.yaml");
    let (ok, stdout, stderr) = run_exec_entry(&config);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("no active break-glass grant for prod")
            && stderr.contains("kubectl breakglass request --context prod"),
        "{stderr}"
    );
}
