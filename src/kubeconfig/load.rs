//! Loading and resolving a context: its cluster, its user, and — when the
//! user's exec entry runs `kubectl-breakglass credential` — its IdP.

use super::exec_entry;
use crate::global::Global;
use crate::idp::PartialIdp;
use anyhow::{bail, Context as _};
use base64::Engine as _;
use kube::config::{ExecConfig, Kubeconfig};
use std::path::{Path, PathBuf};

/// The merged kubeconfig and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    config: Kubeconfig,
    paths: Vec<PathBuf>,
}

/// One context, resolved.
#[derive(Debug, Clone)]
pub struct ContextInfo {
    /// The context's name.
    pub name: String,
    /// Its cluster's name.
    pub cluster_name: String,
    /// The API server URL.
    pub server: String,
    /// Its cluster's CA (PEM) as kubectl passes it to exec plugins; empty when it names none.
    pub certificate_authority: Vec<u8>,
    /// Its user's name.
    pub user_name: String,
    /// The IdP, when the user's exec entry is `kubectl-breakglass credential --issuer ... --client-id ...`.
    pub idp: Option<PartialIdp>,
    /// The person's own context, when this one serves an elevated token written for it.
    pub origin_context: Option<String>,
}

/// Loads the kubeconfig: `--kubeconfig`, else `KUBECONFIG` (merged, first wins), else `~/.kube/config`.
/// The kubeconfig to read does not exist. Its message suits the commands that need a
/// context from it; commands with another way out (setup, login) say theirs instead.
#[derive(Debug, thiserror::Error)]
#[error("no kubeconfig at {} ({from}); point --kubeconfig or KUBECONFIG at the kubeconfig that has the context", path.display())]
pub struct NoKubeconfig {
    /// The missing file.
    pub path: PathBuf,
    /// Where the path came from (`from --kubeconfig`, `from KUBECONFIG`, `the default`).
    pub from: &'static str,
}

impl NoKubeconfig {
    /// The file and where its path came from, without advice.
    pub fn what(&self) -> String {
        format!("no kubeconfig at {} ({})", self.path.display(), self.from)
    }
}

pub fn load(global: &Global) -> anyhow::Result<Loaded> {
    let paths: Vec<PathBuf> = if let Some(p) = &global.kubeconfig {
        vec![p.clone()]
    } else if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    } else {
        let home = dirs::home_dir().context(
            "cannot find your home directory for ~/.kube/config; pass --kubeconfig PATH",
        )?;
        vec![home.join(".kube").join("config")]
    };
    let explicit = global.kubeconfig.is_some();
    let mut merged: Option<Kubeconfig> = None;
    let mut used = Vec::new();
    for path in &paths {
        // kubectl skips missing files in KUBECONFIG, but not an explicit --kubeconfig.
        if !explicit && !path.exists() && paths.len() > 1 {
            continue;
        }
        if !path.exists() {
            let from = if explicit {
                "from --kubeconfig"
            } else if std::env::var_os("KUBECONFIG").is_some() {
                "from KUBECONFIG"
            } else {
                "the default"
            };
            return Err(NoKubeconfig {
                path: path.clone(),
                from,
            }
            .into());
        }
        let config = Kubeconfig::read_from(path).map_err(|e| {
            // kube's error repeats its cause; the innermost one is the useful part.
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            anyhow::anyhow!(
                "cannot read kubeconfig {}: {cause}; fix the file or pass --kubeconfig PATH",
                path.display()
            )
        })?;
        merged = Some(match merged {
            None => config,
            Some(m) => m
                .merge(config)
                .with_context(|| format!("cannot merge kubeconfig {}", path.display()))?,
        });
        used.push(path.clone());
    }
    let Some(config) = merged else {
        bail!("none of the kubeconfig files in KUBECONFIG exist; set KUBECONFIG or pass --kubeconfig PATH")
    };
    Ok(Loaded {
        config,
        paths: used,
    })
}

impl Loaded {
    /// The kubeconfig files read, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The merged configuration.
    pub fn config(&self) -> &Kubeconfig {
        &self.config
    }

    /// Resolves `name`, or the current context when `None`.
    pub fn context(&self, name: Option<&str>) -> anyhow::Result<ContextInfo> {
        self.resolve(name, 0)
    }

    fn resolve(&self, name: Option<&str>, depth: u8) -> anyhow::Result<ContextInfo> {
        let files = self
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let name = match name {
            Some(n) => n.to_string(),
            None => self.config.current_context.clone().filter(|c| !c.is_empty()).with_context(|| {
                format!("no current context in {files}; pass --context NAME (see `kubectl config get-contexts`)")
            })?,
        };
        let named = self
            .config
            .contexts
            .iter()
            .find(|c| c.name == name)
            .with_context(|| {
                format!("context {name:?} is not in {files}; see `kubectl config get-contexts`")
            })?;
        let ctx = named
            .context
            .as_ref()
            .with_context(|| format!("context {name:?} is empty in {files}"))?;
        let cluster_name = ctx.cluster.clone();
        let cluster = self
            .config
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .with_context(|| {
                format!("context {name:?} names cluster {cluster_name:?}, which is not in {files}")
            })?;
        let server = cluster
            .server
            .clone()
            .with_context(|| format!("cluster {cluster_name:?} has no server URL in {files}"))?;
        // kube reads the CA itself; a broken one is named here, with its cluster.
        let certificate_authority = certificate_authority(&cluster_name, cluster)?;
        let user_name = ctx.user.clone().unwrap_or_default();
        let exec = self
            .config
            .auth_infos
            .iter()
            .find(|u| u.name == user_name)
            .and_then(|u| u.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref());
        let entry = exec.and_then(breakglass_args).map(|a| exec_entry::read(&a));
        let origin_context = entry
            .as_ref()
            .filter(|e| e.elevated)
            .and_then(|e| e.origin_context.clone());
        let idp = match entry {
            Some(e) if e.elevated && depth == 0 => {
                // An elevated context: the person's IdP is that of the context it came from.
                match e.origin_context {
                    Some(origin) => self
                        .resolve(Some(&origin), depth + 1)
                        .ok()
                        .and_then(|c| c.idp),
                    None => None,
                }
            }
            Some(e) => e.idp,
            None => None,
        };
        Ok(ContextInfo {
            name,
            cluster_name,
            server,
            certificate_authority,
            user_name,
            idp,
            origin_context,
        })
    }
}

/// A cluster entry's CA as client-go reads it for exec plugins (`spec.cluster`): the
/// decoded `certificate-authority-data`, else the `certificate-authority` file's bytes, else
/// nothing.
pub fn certificate_authority(
    cluster_name: &str,
    cluster: &kube::config::Cluster,
) -> anyhow::Result<Vec<u8>> {
    if let Some(data) = &cluster.certificate_authority_data {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| {
                format!("cluster {cluster_name:?}: certificate-authority-data is not base64")
            })
    } else if let Some(file) = &cluster.certificate_authority {
        std::fs::read(file).with_context(|| {
            format!("cluster {cluster_name:?}: cannot read certificate-authority {file}")
        })
    } else {
        Ok(Vec::new())
    }
}

/// The arguments after `credential` when `exec` runs our credential command.
fn breakglass_args(exec: &ExecConfig) -> Option<Vec<String>> {
    let command = exec.command.as_deref()?;
    let base = Path::new(command).file_name()?.to_str()?;
    let base = base.strip_suffix(".exe").unwrap_or(base);
    let args = exec.args.clone().unwrap_or_default();
    let rest: &[String] = match base {
        "kubectl-breakglass" => &args,
        "kubectl" if args.first().map(String::as_str) == Some("breakglass") => &args[1..],
        _ => return None,
    };
    let at = rest.iter().position(|a| a == "credential")?;
    Some(rest[at + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn kubeconfig_text() -> impl Strategy<Value = String> {
        use crate::test_support::arb_text;
        prop_oneof![
            arb_text(),
            crate::test_support::arb_json().prop_map(|j| j.to_string()),
            (
                arb_text(),
                arb_text(),
                arb_text(),
                proptest::collection::vec(arb_text(), 0..6)
            )
                .prop_map(|(server, ca, context, args)| {
                    serde_json::json!({
                        "apiVersion": "v1", "kind": "Config", "current-context": context,
                        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}],
                        "contexts": [
                            {"name": context, "context": {"cluster": "c", "user": "u"}},
                            {"name": "x", "context": {"cluster": "c", "user": "u"}}
                        ],
                        "users": [{"name": "u", "user": {"exec": {
                            "apiVersion": "client.authentication.k8s.io/v1",
                            "command": "kubectl-breakglass",
                            "args": std::iter::once("credential".to_string()).chain(args).collect::<Vec<_>>()
                        }}}]
                    })
                    .to_string()
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A kubeconfig is the person's, but any file may sit where one is expected: it
        /// loads and resolves, or says what is wrong.
        #[test]
        fn any_kubeconfig_loads_or_says_why(text in kubeconfig_text(), name in crate::test_support::arb_text()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config");
            std::fs::write(&path, &text).unwrap();
            let global = Global {
                kubeconfig: Some(path),
                context: None,
                token_cache: crate::token_cache::Kind::None,
            };
            if let Ok(loaded) = load(&global) {
                let _ = loaded.context(None);
                let _ = loaded.context(Some(&name));
                let _ = loaded.context(Some("x"));
            }
        }

        /// Exec arguments in any order and form.
        #[test]
        fn any_exec_arguments_are_read_or_ignored(args in proptest::collection::vec(crate::test_support::arb_text(), 0..8)) {
            let _ = idp_from_args(&args);
            let _ = breakglass_args(&exec("kubectl", &args.iter().map(String::as_str).collect::<Vec<_>>()));
        }
    }

    fn idp_from_args(args: &[String]) -> Option<PartialIdp> {
        exec_entry::read(args).idp
    }

    fn exec(command: &str, args: &[&str]) -> ExecConfig {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": command,
            "args": args,
        }))
        .unwrap()
    }

    #[test]
    fn reads_every_identity_option_of_the_exec_entry() {
        let a = exec(
            "kubectl-breakglass",
            &[
                "credential",
                "--issuer=https://i",
                "--client-id",
                "c",
                "--scope",
                "groups",
                "--scope=profile",
                "--client-secret",
                "s3cr3t",
                "--username-claim",
                "preferred_username",
                "--groups-claim=roles",
                "--audience",
                "kubernetes",
                "--token-cache",
                "file",
            ],
        );
        let idp = idp_from_args(&breakglass_args(&a).unwrap()).unwrap();
        let o = idp.options;
        assert_eq!(o.scopes, ["groups", "profile"]);
        assert_eq!(o.client_secret.unwrap().expose(), "s3cr3t");
        assert_eq!(o.username_claim.as_deref(), Some("preferred_username"));
        assert_eq!(o.groups_claim.as_deref(), Some("roles"));
        assert_eq!(o.audience.as_deref(), Some("kubernetes"));
    }

    #[test]
    fn finds_the_idp_in_both_exec_forms() {
        let a = exec(
            "/opt/bin/kubectl-breakglass",
            &[
                "credential",
                "--issuer",
                "https://i",
                "--client-id=c",
                "--ca-file",
                "/ca",
            ],
        );
        let idp = idp_from_args(&breakglass_args(&a).unwrap()).unwrap();
        assert_eq!(idp.issuer.as_deref(), Some("https://i"));
        assert_eq!(idp.client_id.as_deref(), Some("c"));
        assert_eq!(idp.ca_file, Some(PathBuf::from("/ca")));
        let b = exec(
            "kubectl",
            &[
                "breakglass",
                "credential",
                "--issuer=https://j",
                "--client-id",
                "d",
            ],
        );
        assert_eq!(
            idp_from_args(&breakglass_args(&b).unwrap())
                .unwrap()
                .issuer
                .as_deref(),
            Some("https://j")
        );
        assert!(breakglass_args(&exec("kubelogin", &["get-token", "--issuer", "x"])).is_none());
        // An entry a newer version wrote: what this one knows is still read.
        let c = exec(
            "kubectl-breakglass",
            &[
                "credential",
                "--issuer",
                "https://k",
                "--client-id",
                "e",
                "--from-the-future",
                "x",
            ],
        );
        assert_eq!(
            idp_from_args(&breakglass_args(&c).unwrap())
                .unwrap()
                .client_id
                .as_deref(),
            Some("e")
        );
        assert!(breakglass_args(&exec("kubectl", &["oidc-login", "credential"])).is_none());
    }
}
