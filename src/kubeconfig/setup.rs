//! Wiring a context to the break-glass identity: its user becomes a dedicated entry whose
//! `exec` runs `kubectl-breakglass credential`, and nothing else in the file changes.

use super::write::{lock_kubeconfigs, named, read_trees, upsert, write_private};
use crate::idp::IdpOptions;
use anyhow::Context as _;
use serde_norway::{Mapping, Value};
use std::path::PathBuf;

/// What to write.
#[derive(Debug, Clone)]
pub struct Setup {
    pub context: String,
    /// What the exec entry runs (`exec_command::exec_command`).
    pub command: String,
    pub issuer: String,
    pub client_id: String,
    /// Absolute path of the issuer's CA, if private.
    pub ca_file: Option<PathBuf>,
    /// Scopes, client secret, claims and audience for `credential`.
    pub options: IdpOptions,
    /// Extra arguments for `credential` (e.g. `--token-cache file`).
    pub extra_args: Vec<String>,
}

/// What was changed.
#[derive(Debug, Clone)]
pub struct Changed {
    pub file: PathBuf,
    /// The user entry the context now uses.
    pub user: String,
    /// The user entry it used before (left as it was).
    pub previous_user: Option<String>,
    /// The exec arguments written.
    pub args: Vec<String>,
}

impl Changed {
    /// The exec arguments as people may see them: the client secret's value left out.
    pub fn shown_args(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.args.len());
        let mut hide = false;
        for a in &self.args {
            out.push(if hide {
                "(hidden)".to_string()
            } else {
                a.clone()
            });
            hide = a == CLIENT_SECRET_FLAG;
        }
        out
    }
}

const CLIENT_SECRET_FLAG: &str = "--client-secret";

/// The `credential` flags for `options`, in a fixed order.
fn option_args(options: &IdpOptions) -> Vec<String> {
    let mut args = Vec::new();
    for scope in &options.scopes {
        args.extend(["--scope".to_string(), scope.clone()]);
    }
    if let Some(secret) = &options.client_secret {
        // Stored where the person asked for it: the exec entry must send it.
        args.extend([CLIENT_SECRET_FLAG.to_string(), secret.expose().clone()]);
    }
    for (flag, value) in [
        ("--username-claim", &options.username_claim),
        ("--groups-claim", &options.groups_claim),
        ("--audience", &options.audience),
    ] {
        if let Some(v) = value {
            args.extend([flag.to_string(), v.clone()]);
        }
    }
    args
}

/// The dedicated user entry of a context, so a user entry shared with other contexts is
/// never rewritten.
pub fn user_name(context: &str) -> String {
    format!("{context}-breakglass-oidc")
}

/// Points `setup.context` at a `<context>-breakglass-oidc` user running the credential
/// provider, in the file that defines the context; writes atomically under a lock,
/// keeping the file's mode.
pub fn setup(paths: &[PathBuf], setup: &Setup) -> anyhow::Result<Changed> {
    let _locks = lock_kubeconfigs(paths)?;
    let mut docs = read_trees(paths)?;
    let files = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (path, doc) = docs
        .iter_mut()
        .find(|(_, d)| named(d, "contexts", &setup.context).is_some())
        .with_context(|| {
            format!(
                "context {:?} is not in {files}; create it first (kubectl config set-context {} \
                 --cluster CLUSTER), then run setup again",
                setup.context, setup.context
            )
        })?;
    let current_user = named(doc, "contexts", &setup.context)
        .and_then(|c| c.get("context")?.get("user")?.as_str())
        .unwrap_or_default()
        .to_string();
    let elevated = named(doc, "users", &current_user)
        .and_then(|u| u.get("user")?.get("exec")?.get("args")?.as_sequence())
        .is_some_and(|args| args.iter().any(|a| a.as_str() == Some("--elevated")));
    if elevated {
        anyhow::bail!(
            "context {:?} is a break-glass context written by `request` (its user serves the \
             elevated token); run setup on the person's own context it came from",
            setup.context
        );
    }
    let user = user_name(&setup.context);

    let mut args = vec![
        "credential".to_string(),
        "--issuer".into(),
        setup.issuer.clone(),
        "--client-id".into(),
        setup.client_id.clone(),
    ];
    if let Some(ca) = &setup.ca_file {
        args.push("--ca-file".into());
        args.push(ca.display().to_string());
    }
    args.extend(option_args(&setup.options));
    args.extend(setup.extra_args.iter().cloned());
    // Re-running setup keeps what someone added to the entry since (env, for instance).
    let mut exec = match named(doc, "users", &user).and_then(|u| u.get("user")?.get("exec")) {
        Some(Value::Mapping(m)) => m.clone(),
        _ => Mapping::new(),
    };
    exec.insert(
        "apiVersion".into(),
        "client.authentication.k8s.io/v1".into(),
    );
    exec.insert("command".into(), setup.command.clone().into());
    exec.insert(
        "args".into(),
        Value::Sequence(args.iter().cloned().map(Value::from).collect()),
    );
    exec.insert("interactiveMode".into(), "IfAvailable".into());
    exec.entry("provideClusterInfo".into())
        .or_insert(Value::Bool(false));
    let mut entry = Mapping::new();
    entry.insert("exec".into(), Value::Mapping(exec));
    upsert(doc, "users", &user, "user", Value::Mapping(entry))?;

    // Change only the context's `user`: its cluster, namespace and any extension stay.
    let context = doc
        .get_mut("contexts")
        .and_then(Value::as_sequence_mut)
        .and_then(|items| {
            items
                .iter_mut()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(setup.context.as_str()))
        })
        .and_then(|c| c.get_mut("context"))
        .and_then(Value::as_mapping_mut)
        .with_context(|| {
            format!(
                "context {:?} in {} has no `context:` mapping; fix the file, then run setup again",
                setup.context,
                path.display()
            )
        })?;
    let previous_user = context
        .insert("user".into(), user.clone().into())
        .and_then(|v| v.as_str().map(String::from))
        .filter(|u| *u != user);

    let text = serde_norway::to_string(doc)?;
    write_private(path, text.as_bytes())?;
    Ok(Changed {
        file: path.clone(),
        user,
        previous_user,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"apiVersion: v1
kind: Config
current-context: other
x-unknown-top: {keep: me}
clusters:
- name: prod-cluster
  cluster: {server: "https://127.0.0.1:6443", x-extension: 1}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: shared, namespace: shop, extensions: [{name: e, extension: {a: 1}}]}
- name: other
  context: {cluster: prod-cluster, user: shared}
users:
- name: shared
  user: {token: not-a-real-token}
"#;

    fn setup_for(ca: Option<&str>) -> Setup {
        Setup {
            context: "prod".into(),
            command: "kubectl-breakglass".into(),
            issuer: "https://idp.example.com".into(),
            client_id: "kubectl-breakglass".into(),
            ca_file: ca.map(PathBuf::from),
            options: IdpOptions::default(),
            extra_args: vec![],
        }
    }

    #[test]
    fn identity_options_are_written_and_the_secret_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        let mut s = setup_for(None);
        s.options = IdpOptions {
            scopes: vec!["groups".into(), "profile".into()],
            client_secret: Some(crate::secret::Secret::new("GOCSPX-s3cr3t".into())),
            username_claim: Some("preferred_username".into()),
            groups_claim: None,
            audience: Some("kubernetes".into()),
        };
        let changed = setup(std::slice::from_ref(&path), &s).unwrap();
        let tail = &changed.args[5..];
        assert_eq!(
            tail,
            [
                "--scope",
                "groups",
                "--scope",
                "profile",
                "--client-secret",
                "GOCSPX-s3cr3t",
                "--username-claim",
                "preferred_username",
                "--audience",
                "kubernetes"
            ]
        );
        let shown = changed.shown_args().join(" ");
        assert!(
            shown.contains("--client-secret (hidden) --username-claim"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t"));
        let after: Value =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            after["users"][1]["user"]["exec"]["args"],
            serde_norway::to_value(&changed.args).unwrap()
        );
    }

    #[test]
    fn rewires_only_the_named_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let changed = setup(std::slice::from_ref(&path), &setup_for(Some("/ca.pem"))).unwrap();
        assert_eq!(changed.user, "prod-breakglass-oidc");
        assert_eq!(changed.previous_user.as_deref(), Some("shared"));
        // Twice: the same file, the entry replaced rather than duplicated.
        let again = setup(std::slice::from_ref(&path), &setup_for(Some("/ca.pem"))).unwrap();
        assert_eq!(again.previous_user, None);

        let mut after: Value =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let exec = after["users"][1]["user"]["exec"].clone();
        assert_eq!(after["users"][1]["name"], "prod-breakglass-oidc");
        assert_eq!(exec["command"], "kubectl-breakglass");
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        let args = [
            "credential",
            "--issuer",
            "https://idp.example.com",
            "--client-id",
            "kubectl-breakglass",
            "--ca-file",
            "/ca.pem",
        ];
        assert_eq!(exec["args"], serde_norway::to_value(args).unwrap());
        assert_eq!(
            after["contexts"][0]["context"]["user"],
            "prod-breakglass-oidc"
        );

        // Undo the two intended changes: what is left is the original, field for field.
        after["contexts"][0]["context"]["user"] = "shared".into();
        after["users"].as_sequence_mut().unwrap().remove(1);
        let before: Value = serde_norway::from_str(ORIGINAL).unwrap();
        assert_eq!(after, before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The file's mode is kept.
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
    }

    #[test]
    fn an_elevated_context_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let text = format!(
            "{ORIGINAL}- name: prod-bg\n  user:\n    exec: {{command: kubectl-breakglass, args: [credential, --elevated]}}\n"
        )
        .replace("user: shared, namespace: shop", "user: prod-bg, namespace: shop");
        std::fs::write(&path, &text).unwrap();
        let err = setup(std::slice::from_ref(&path), &setup_for(None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is a break-glass context written by `request`"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn an_unknown_context_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        let mut s = setup_for(None);
        s.context = "nope".into();
        let err = setup(std::slice::from_ref(&path), &s)
            .unwrap_err()
            .to_string();
        assert!(err.contains("kubectl config set-context nope"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ORIGINAL);
    }
}
