//! The playground's kubeconfig: the person's context (the plugin's exec
//! credential) and an admin context (static token), both trusting the test bed CA.

use base64::Engine;
use serde_json::json;
use std::path::Path;

/// Cluster, context and user names the playground writes.
pub const CLUSTER: &str = "playground";
pub const CONTEXT: &str = "playground";
pub const ADMIN_CONTEXT: &str = "playground-admin";
pub const USER: &str = "playground-user";
pub const ADMIN_USER: &str = "playground-admin";

/// What goes into the kubeconfig.
pub struct KubeconfigInput<'a> {
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub admin_token: &'a str,
    pub plugin: &'a Path,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub ca_file: &'a Path,
}

/// Renders the kubeconfig YAML.
pub fn render(input: &KubeconfigInput<'_>) -> String {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(input.ca_pem);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{
            "name": CLUSTER,
            "cluster": {
                "server": input.server,
                "certificate-authority-data": ca_data,
            },
        }],
        "users": [
            {
                "name": USER,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": input.plugin.to_string_lossy(),
                        "args": [
                            "credential",
                            "--issuer", input.issuer,
                            "--client-id", input.client_id,
                            "--ca-file", input.ca_file.to_string_lossy(),
                        ],
                        "interactiveMode": "IfAvailable",
                        "provideClusterInfo": false,
                    },
                },
            },
            {
                "name": ADMIN_USER,
                "user": { "token": input.admin_token },
            },
        ],
        "contexts": [
            { "name": CONTEXT, "context": { "cluster": CLUSTER, "user": USER } },
            { "name": ADMIN_CONTEXT, "context": { "cluster": CLUSTER, "user": ADMIN_USER } },
        ],
        "current-context": CONTEXT,
    });
    serde_norway::to_string(&config).expect("a JSON value always renders as YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_entry_runs_the_plugin_credential_command() {
        let yaml = render(&KubeconfigInput {
            server: "https://127.0.0.1:1",
            ca_pem: "PEM",
            admin_token: "t",
            plugin: Path::new("/bin/kubectl-breakglass"),
            issuer: "https://127.0.0.1:2",
            client_id: "kubectl-breakglass",
            ca_file: Path::new("/d/ca.crt"),
        });
        let value: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        let exec = &value["users"][0]["user"]["exec"];
        assert_eq!(exec["command"], "/bin/kubectl-breakglass");
        let args: Vec<&str> = exec["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "credential",
                "--issuer",
                "https://127.0.0.1:2",
                "--client-id",
                "kubectl-breakglass",
                "--ca-file",
                "/d/ca.crt"
            ]
        );
        assert_eq!(value["current-context"], CONTEXT);
        assert_eq!(
            value["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
    }
}
