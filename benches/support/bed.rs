//! A playground on the real control plane and a person's environment around it: a
//! throwaway HOME, the kernel keyring, the playground's kubeconfig.

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{kubectl, Playground, PlaygroundOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running playground (the real kube-apiserver: these figures mean nothing on the
/// double) and where the person's files live.
pub struct Bed {
    /// The plugin under test (`shipped::plugin`).
    pub plugin: PathBuf,
    pub runtime: tokio::runtime::Runtime,
    pub pg: Playground,
    pub home: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Bed {
    /// Starts the playground with `idp`, every device code approved as alice; exits the
    /// bench (status 1, saying why) where the real control plane cannot run.
    pub fn start(bench: &str, idp: IdpConfig) -> Bed {
        let kind =
            match ClusterKind::choose(Some("real"), ClusterKind::from_env().unwrap().0.version()) {
                Ok((kind, _)) => kind,
                Err(e) => {
                    eprintln!("{bench} bench: {e:#}");
                    std::process::exit(1);
                }
            };
        let dir = tempfile::tempdir().unwrap();
        let plugin = super::shipped::plugin(&dir.path().join("bin"));
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let pg = runtime
            .block_on(Playground::start(PlaygroundOptions {
                dir: dir.path().join("pg"),
                auto_approve: Some("alice".into()),
                plugin: plugin.clone(),
                idp,
                cluster: kind,
                api: ApiConfig::default(),
                install: true,
                authentication: Default::default(),
            }))
            .unwrap();
        Bed {
            plugin,
            runtime,
            pg,
            home,
            dir,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.pg.kubeconfig_path()
    }

    /// The person's environment on `cmd`: their HOME, the kernel keyring, the kubeconfig.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("KUBECONFIG", self.kubeconfig())
            .env("BREAKGLASS_TOKEN_CACHE", "keyutils")
    }

    /// `kubectl-breakglass ARGS` as the person.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.plugin);
        self.env(&mut cmd).args(args);
        cmd
    }

    /// `kubectl ARGS` as the person (`/usr/bin/kubectl`, the version dispatcher, if there).
    pub fn kubectl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl());
        self.env(&mut cmd).args(args);
        cmd
    }

    /// Logs alice in on the `playground` context (the playground approves the code).
    pub fn log_in(&self) {
        must(
            &mut self.plugin(&["--context", "playground", "login", "--no-browser"]),
            "login",
        );
    }

    pub fn version(&self) -> String {
        self.pg
            .api
            .real()
            .map(|r| r.version().to_string())
            .unwrap_or_default()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `cmd`, which must succeed; its output.
pub fn must(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubeconfig` with the exec entry of `context`'s user run through `wrapper` (its first
/// argument the original command), written to `to`.
pub fn wrap_exec(kubeconfig: &Path, context: &str, wrapper: &Path, to: &Path) {
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let user = doc["contexts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(context))
        .unwrap()["context"]["user"]
        .as_str()
        .unwrap()
        .to_string();
    let users = doc["users"].as_sequence_mut().unwrap();
    let exec = &mut users
        .iter_mut()
        .find(|u| u["name"].as_str() == Some(user.as_str()))
        .unwrap()["user"]["exec"];
    let command = exec["command"].clone();
    let mut args = vec![command];
    args.extend(exec["args"].as_sequence().cloned().unwrap_or_default());
    exec["command"] = serde_norway::Value::String(wrapper.display().to_string());
    exec["args"] = serde_norway::Value::Sequence(args);
    std::fs::write(to, serde_norway::to_string(&doc).unwrap()).unwrap();
}
