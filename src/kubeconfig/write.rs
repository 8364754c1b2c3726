//! Writing the `<context>-breakglass` context: edits the YAML as a tree so every field we
//! do not know survives, writes atomically under a lock, through symlinks, keeping the
//! file's mode (a new file is private, 0600).

use anyhow::Context as _;
use serde_norway::{Mapping, Value};
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
    /// What runs this program (`exec_command`), for when the origin context's user does not
    /// run it already.
    pub fallback_command: String,
}

/// Adds or replaces the context and its user in the kubeconfig file that defines the origin
/// context (else the first file), leaving `current-context` and everything else as it was.
pub fn write_elevated_context(paths: &[PathBuf], ctx: &ElevatedContext) -> anyhow::Result<PathBuf> {
    let _locks = lock_kubeconfigs(paths)?;
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
    // kubectl then passes the cluster's CA, which `credential` checks the cached token was
    // issued under (a cluster recreated at the same URL is not served it).
    exec.insert("provideClusterInfo".into(), Value::Bool(true));
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

    let text = serde_norway::to_string(doc)?;
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
            serde_norway::from_str(&text)
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

/// Holds the locks of the kubeconfig files a command rewrites until dropped.
pub(super) struct KubeconfigLocks(#[allow(dead_code)] Vec<crate::token_cache::CacheLock>);

/// Locks the files behind `paths` (through symlinks) for a read-modify-write, so two
/// commands writing the same kubeconfig at once cannot drop each other's changes.
/// Taken in a fixed order, so two writers of overlapping lists cannot deadlock.
pub(super) fn lock_kubeconfigs(paths: &[PathBuf]) -> anyhow::Result<KubeconfigLocks> {
    use sha2::{Digest, Sha256};
    let mut names = Vec::new();
    for p in paths {
        let target = resolve_links(p)
            .with_context(|| format!("cannot follow the kubeconfig link {}", p.display()))?;
        // The same file by any path: absolute, and its directory's links resolved.
        let target = match (target.parent(), target.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
            .map(|d| d.join(name))
            .unwrap_or(target),
            _ => target,
        };
        let digest = Sha256::digest(target.to_string_lossy().as_bytes());
        names.push(format!("kubeconfig_{}", hex::encode(&digest[..12])));
    }
    names.sort();
    names.dedup();
    let mut locks = Vec::new();
    for name in names {
        locks.push(
            crate::token_cache::lock_named(&name)
                .context("cannot lock the kubeconfig against concurrent writers")?,
        );
    }
    Ok(KubeconfigLocks(locks))
}

/// The file a kubeconfig path names: symlinks followed (even to a file not yet made).
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes the kubeconfig at `path` like kubectl does: a symlink's target is written (the
/// link stays), through a temporary file next to the target and a rename; an existing
/// file keeps its mode, a new one is 0600.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let target = resolve_links(path)
        .with_context(|| format!("cannot follow the kubeconfig link {}", path.display()))?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kubeconfig");
    let tmp = dir.join(format!(
        ".{file_name}.breakglass-{}.tmp",
        std::process::id()
    ));
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&target).map_or(0o600, |m| m.permissions().mode() & 0o7777)
    };
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        // Explicitly, so the umask does not change the kept mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| {
        if target == path {
            format!("cannot write kubeconfig {}", path.display())
        } else {
            format!(
                "cannot write kubeconfig {} (the target of the link {})",
                target.display(),
                path.display()
            )
        }
    })
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The person's kubeconfig may hold anything (shapes we never wrote, lists where
        /// maps belong): the context is written, or the error says why and the file is left.
        #[test]
        fn any_kubeconfig_is_edited_or_left_alone(
            doc in crate::test_support::arb_json(),
            context in crate::test_support::arb_json(),
            user in crate::test_support::arb_json(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config");
            let mut shaped: serde_json::Value = serde_norway::from_str(ORIGINAL).unwrap();
            shaped["contexts"][0]["context"] = context;
            shaped["users"][0]["user"]["exec"] = user;
            for text in [doc.to_string(), shaped.to_string()] {
                std::fs::write(&path, &text).unwrap();
                if write_elevated_context(std::slice::from_ref(&path), &ctx()).is_err() {
                    proptest::prop_assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
                }
            }
        }
    }

    #[test]
    fn adds_the_context_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let written = write_elevated_context(std::slice::from_ref(&path), &ctx()).unwrap();
        assert_eq!(written, path);
        // Twice: replaced, not duplicated.
        write_elevated_context(std::slice::from_ref(&path), &ctx()).unwrap();
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
        // The origin's `false` is not copied: kubectl must pass the CA the token is bound to.
        assert_eq!(u["provideClusterInfo"], true);
        assert_eq!(doc["users"][0]["user"]["exec"]["provideClusterInfo"], false);
        assert_eq!(doc["users"][0]["user"]["exec"]["args"][0], "credential");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The file's own mode is kept, whatever the umask.
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_kubeconfig_stays_a_link_and_its_target_is_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/config");
        std::fs::write(&target, ORIGINAL).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A relative link to a link, as dotfile managers make them.
        let hop = dir.path().join("hop");
        std::os::unix::fs::symlink("real/config", &hop).unwrap();
        let link = dir.path().join("kc-link");
        std::os::unix::fs::symlink("hop", &link).unwrap();

        let written = write_elevated_context(std::slice::from_ref(&link), &ctx()).unwrap();
        assert_eq!(written, link);
        for l in [&link, &hop] {
            assert!(std::fs::symlink_metadata(l)
                .unwrap()
                .file_type()
                .is_symlink());
        }
        let doc: Value =
            serde_norway::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
        assert_eq!(doc["contexts"][1]["name"], "prod-breakglass");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing else appeared beside the link or the target.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .chain(std::fs::read_dir(dir.path().join("real")).unwrap())
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["config", "hop", "kc-link", "real"]);
    }

    #[test]
    fn concurrent_writers_keep_each_others_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, ORIGINAL).unwrap();
        // Writers by two names of the same file: the path and a link to it.
        #[cfg(unix)]
        std::os::unix::fs::symlink(&path, dir.path().join("link")).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = if cfg!(unix) && i % 2 == 1 {
                    dir.path().join("link")
                } else {
                    path.clone()
                };
                std::thread::spawn(move || {
                    let mut c = ctx();
                    c.name = format!("prod-breakglass-{i}");
                    write_elevated_context(&[path], &c).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for i in 0..8 {
            let name = format!("prod-breakglass-{i}");
            assert!(named(&doc, "contexts", &name).is_some(), "{name} was lost");
            assert!(
                named(&doc, "users", &name).is_some(),
                "user {name} was lost"
            );
        }
    }
}
