//! Writing the `<context>-breakglass` context: edits the YAML as a tree so every field we
//! do not know survives, writes atomically and keeps the file private (0600).

use anyhow::Context as _;
use serde_yaml::{Mapping, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The elevated context to add or replace.
#[derive(Debug, Clone)]
pub struct ElevatedContext {
    /// `<origin>-breakglass`; also the name of its user entry.
    pub name: String,
    /// The person's own context it was requested through.
    pub origin_context: String,
    /// The cluster entry both contexts share.
    pub cluster_name: String,
    /// The arguments after `credential` that serve the elevated token.
    pub args: Vec<String>,
    /// This program, for when the origin context's user does not run it already.
    pub fallback_command: String,
}

/// Adds or replaces the context and its user in the kubeconfig file that defines the origin
/// context (else the first file), leaving `current-context` and everything else as it was.
pub fn write_elevated_context(paths: &[PathBuf], ctx: &ElevatedContext) -> anyhow::Result<PathBuf> {
    let mut docs = read_trees(paths)?;
    let origin_user = docs.iter().find_map(|(_, d)| {
        named(d, "contexts", &ctx.origin_context)
            .and_then(|c| c.get("context")?.get("user")?.as_str().map(String::from))
    });
    // Copy the origin user's exec settings we do not set ourselves (env, interactiveMode, ...).
    let origin_exec = origin_user.as_deref().and_then(|u| {
        docs.iter().find_map(|(_, d)| {
            named(d, "users", u).and_then(|e| e.get("user")?.get("exec").cloned())
        })
    });
    let origin_namespace = docs.iter().find_map(|(_, d)| {
        named(d, "contexts", &ctx.origin_context)
            .and_then(|c| c.get("context")?.get("namespace").cloned())
    });
    let index = docs
        .iter()
        .position(|(_, d)| named(d, "contexts", &ctx.origin_context).is_some())
        .unwrap_or(0);
    let (path, doc) = docs
        .get_mut(index)
        .context("no kubeconfig file to write the break-glass context into")?;

    // Run the plugin the way the origin context runs it (`kubectl-breakglass` or
    // `kubectl breakglass`), keeping its env and interactiveMode; else run this program.
    let origin_command = origin_exec
        .as_ref()
        .and_then(|e| e.get("command")?.as_str().map(String::from));
    let base = origin_command
        .as_deref()
        .and_then(|c| Path::new(c).file_name()?.to_str().map(String::from))
        .unwrap_or_default();
    let base = base.strip_suffix(".exe").unwrap_or(&base).to_string();
    let (mut exec, command, mut args) = match (origin_exec, base.as_str()) {
        (Some(Value::Mapping(m)), "kubectl-breakglass") => {
            (m, origin_command.unwrap_or_default(), vec![])
        }
        (Some(Value::Mapping(m)), "kubectl") => (
            m,
            origin_command.unwrap_or_default(),
            vec!["breakglass".to_string()],
        ),
        _ => (Mapping::new(), ctx.fallback_command.clone(), vec![]),
    };
    args.push("credential".to_string());
    args.extend(ctx.args.iter().cloned());
    exec.insert(
        "apiVersion".into(),
        "client.authentication.k8s.io/v1".into(),
    );
    exec.insert("command".into(), command.into());
    exec.insert(
        "args".into(),
        Value::Sequence(args.into_iter().map(Value::from).collect()),
    );
    if !exec.contains_key("interactiveMode") {
        exec.insert("interactiveMode".into(), "IfAvailable".into());
    }
    let mut user = Mapping::new();
    user.insert("exec".into(), Value::Mapping(exec));
    upsert(doc, "users", &ctx.name, "user", Value::Mapping(user))?;

    let mut context = Mapping::new();
    context.insert("cluster".into(), ctx.cluster_name.clone().into());
    context.insert("user".into(), ctx.name.clone().into());
    if let Some(ns) = origin_namespace {
        context.insert("namespace".into(), ns);
    }
    upsert(
        doc,
        "contexts",
        &ctx.name,
        "context",
        Value::Mapping(context),
    )?;

    let text = serde_yaml::to_string(doc)?;
    write_private(path, text.as_bytes())?;
    Ok(path.clone())
}

/// Each kubeconfig file as a YAML tree (an empty mapping for an empty or missing file).
pub(super) fn read_trees(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, Value)>> {
    let mut docs = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let doc: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml::from_str(&text)
                .with_context(|| format!("cannot parse kubeconfig {}", p.display()))?
        };
        docs.push((p.clone(), doc));
    }
    Ok(docs)
}

pub(super) fn named<'a>(doc: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
}

pub(super) fn upsert(
    doc: &mut Value,
    list: &str,
    name: &str,
    field: &str,
    value: Value,
) -> anyhow::Result<()> {
    let map = doc
        .as_mapping_mut()
        .context("the kubeconfig is not a YAML mapping")?;
    let items = map
        .entry(list.into())
        .or_insert_with(|| Value::Sequence(vec![]));
    if items.is_null() {
        *items = Value::Sequence(vec![]);
    }
    let items = items
        .as_sequence_mut()
        .with_context(|| format!("the kubeconfig's {list} is not a list"))?;
    let mut entry = Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert(field.into(), value);
    match items
        .iter_mut()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(existing) => *existing = Value::Mapping(entry),
        None => items.push(Value::Mapping(entry)),
    }
    Ok(())
}

/// Writes via a temporary file in the same directory and a rename, mode 0600.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kubeconfig");
    let tmp = dir.join(format!(
        ".{file_name}.breakglass-{}.tmp",
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write kubeconfig {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"apiVersion: v1
kind: Config
current-context: prod
preferences: {colors: true}
x-unknown-top: keep me
clusters:
- name: prod-cluster
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: Q0E=, x-extension: 1}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: alice, namespace: shop}
users:
- name: alice
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /opt/kubectl-breakglass
      args: [credential, --issuer, "https://idp"]
      env: [{name: BREAKGLASS_TOKEN_CACHE, value: keyutils}]
      provideClusterInfo: false
"#;

    fn ctx() -> ElevatedContext {
        ElevatedContext {
            name: "prod-breakglass".into(),
            origin_context: "prod".into(),
            cluster_name: "prod-cluster".into(),
            args: vec!["--elevated".into()],
            fallback_command: "/usr/bin/false".into(),
        }
    }

    #[test]
    fn adds_the_context_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        let written = write_elevated_context(std::slice::from_ref(&path), &ctx()).unwrap();
        assert_eq!(written, path);
        // Twice: replaced, not duplicated.
        write_elevated_context(std::slice::from_ref(&path), &ctx()).unwrap();
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["current-context"], "prod");
        assert_eq!(doc["x-unknown-top"], "keep me");
        assert_eq!(doc["preferences"]["colors"], true);
        assert_eq!(doc["clusters"][0]["cluster"]["x-extension"], 1);
        assert_eq!(doc["contexts"].as_sequence().unwrap().len(), 2);
        let c = &doc["contexts"][1];
        assert_eq!(c["name"], "prod-breakglass");
        assert_eq!(c["context"]["cluster"], "prod-cluster");
        assert_eq!(c["context"]["user"], "prod-breakglass");
        assert_eq!(c["context"]["namespace"], "shop");
        let u = &doc["users"][1]["user"]["exec"];
        assert_eq!(u["command"], "/opt/kubectl-breakglass");
        assert_eq!(u["args"][0], "credential");
        assert_eq!(u["args"][1], "--elevated");
        assert_eq!(u["env"][0]["value"], "keyutils");
        assert_eq!(doc["users"][0]["user"]["exec"]["args"][0], "credential");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
