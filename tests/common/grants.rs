#![allow(dead_code)] // each test file uses its own subset

//! Helpers for the break-glass grant tests: a playground with the project's manifests
//! installed, the plugin and real kubectl pointed at its kubeconfig, admin reads.

use crate::common::{assert_ok, Sandbox, PLUGIN};
use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::{Authentication, ClusterKind};
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{kubectl, Playground, PlaygroundOptions};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// A playground (real IdP, API double; contexts `playground` for the person and
/// `playground-admin`), with `deploy/` applied, and a private home for the person.
pub struct Bed {
    pub pg: Playground,
    pub sb: Sandbox,
    _dir: tempfile::TempDir,
}

impl Bed {
    /// Starts a playground with the manifests installed, on the real control plane where Go
    /// is (see [`ClusterKind::from_env`]).
    pub async fn start() -> Bed {
        Bed::start_with(ApiConfig::default(), true).await
    }

    /// Starts a playground on the API double, for what a real API server cannot do
    /// (tokens shorter than 10 minutes, a longer token-check cache).
    pub async fn start_double() -> Bed {
        Bed::start_on(
            ClusterKind::Double,
            ApiConfig::default(),
            true,
            IdpConfig::default(),
        )
        .await
    }

    /// Starts a playground on the real control plane, or returns None (and says so loudly,
    /// counted in scripts/test's closing line) where Go is missing outside CI.
    pub async fn start_real() -> Option<Bed> {
        match crate::common::cluster_kind() {
            ClusterKind::Real(v) => Some(
                Bed::start_on(
                    ClusterKind::Real(v),
                    ApiConfig::default(),
                    true,
                    IdpConfig::default(),
                )
                .await,
            ),
            ClusterKind::Double => {
                crate::common::skip("this test needs the real kube-apiserver (Go is missing)");
                None
            }
        }
    }

    /// Starts a playground; `install` applies `deploy/*.yaml` (sorted) as admin, like the
    /// playground command and the README's install step. `api` configures the double only.
    pub async fn start_with(api: ApiConfig, install: bool) -> Bed {
        Bed::start_with_idp(api, install, IdpConfig::default()).await
    }

    /// Starts a playground whose identity provider has `idp`'s users.
    pub async fn start_with_idp(api: ApiConfig, install: bool, idp: IdpConfig) -> Bed {
        Bed::start_on(crate::common::cluster_kind(), api, install, idp).await
    }

    /// Starts a playground on the real control plane whose API server reads the IdP's
    /// tokens with `authentication`, or returns None (loudly, counted) where Go is missing
    /// outside CI.
    pub async fn start_real_with(idp: IdpConfig, authentication: Authentication) -> Option<Bed> {
        match crate::common::cluster_kind() {
            ClusterKind::Real(v) => Some(
                Bed::start_full(
                    ClusterKind::Real(v),
                    ApiConfig::default(),
                    true,
                    idp,
                    authentication,
                )
                .await,
            ),
            ClusterKind::Double => {
                crate::common::skip("this test needs the real kube-apiserver (Go is missing)");
                None
            }
        }
    }

    /// Starts a playground on `cluster`.
    pub async fn start_on(
        cluster: ClusterKind,
        api: ApiConfig,
        install: bool,
        idp: IdpConfig,
    ) -> Bed {
        Bed::start_full(cluster, api, install, idp, Authentication::default()).await
    }

    async fn start_full(
        cluster: ClusterKind,
        api: ApiConfig,
        install: bool,
        idp: IdpConfig,
        authentication: Authentication,
    ) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let pg = Playground::start(PlaygroundOptions {
            dir: dir.path().join("pg"),
            auto_approve: None,
            plugin: PLUGIN.into(),
            idp,
            cluster,
            api,
            install,
            authentication,
        })
        .await
        .unwrap();
        let sb = Sandbox::new(pg.idp.issuer(), pg.idp.client_id(), &pg.ca);
        Bed { pg, sb, _dir: dir }
    }

    /// `kubectl apply -f deploy/` as admin, like the README's install step.
    pub async fn install(&self) {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let out = self.kubectl(&[
            "--context",
            "playground-admin",
            "apply",
            "-f",
            deploy.to_str().unwrap(),
        ]);
        assert_ok(&out, "kubectl apply -f deploy/");
        breakglass_testbed::playground::wait_installed(&self.pg.kubeconfig_path())
            .await
            .unwrap();
    }

    /// Logs `user` in through the plugin's device flow, approved at the real IdP.
    pub async fn login(&self, user: &str) {
        self.sb.login(&self.pg.idp, user).await;
    }

    /// Runs `login ARGS...` with the playground's kubeconfig (so the IdP comes from a
    /// context's exec entry, and what login does with the cluster happens), approved as
    /// `user` at the real IdP.
    pub async fn login_with(&self, args: &[&str], user: &str) -> Output {
        let child = self
            .plugin(&["login", "--no-browser"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let code = self
            .pg
            .idp
            .wait_for_pending_user_code(std::time::Duration::from_secs(20))
            .await
            .unwrap();
        self.pg.idp.approve(&code, user).await.unwrap();
        let out = crate::common::wait(child).await;
        assert_ok(&out, &format!("login {args:?}"));
        out
    }

    fn env(&self, cmd: &mut Command) {
        self.sb.env(cmd);
        cmd.env("KUBECONFIG", self.pg.kubeconfig_path())
            .env("BREAKGLASS_TOKEN_CACHE", &self.sb.cache);
    }

    /// `kubectl-breakglass ARGS...` with the playground's kubeconfig.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PLUGIN);
        self.env(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// Runs the plugin to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.plugin(args).output().unwrap()
    }

    /// Real kubectl with the playground's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(kubectl());
        self.env(&mut cmd);
        cmd.args(args).output().unwrap()
    }

    /// Real kubectl with the plugin on PATH, as installed: for contexts `setup` wrote.
    pub fn kubectl_installed(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(kubectl());
        self.env(&mut cmd);
        cmd.env("PATH", crate::common::path_with_plugin())
            .args(args)
            .output()
            .unwrap()
    }

    /// `kubectl --context playground-admin get RESOURCE -n breakglass -o json`.
    pub fn admin_get(&self, args: &[&str]) -> Value {
        let mut all = vec![
            "--context",
            "playground-admin",
            "get",
            "-n",
            "breakglass",
            "-o",
            "json",
        ];
        all.extend_from_slice(args);
        let out = self.kubectl(&all);
        assert_ok(&out, &format!("kubectl get {args:?}"));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Every grant record, ordered by name.
    pub fn records(&self) -> Vec<Value> {
        let mut items = self.admin_get(&["breakglassgrants"])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        items.sort_by_key(|r| {
            r["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        items
    }

    /// Every Secret (seal) in the break-glass namespace.
    pub fn seals(&self) -> Vec<Value> {
        self.admin_get(&["secrets"])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `request --reason ... ARGS` as the logged-in person.
    pub fn request(&self, extra: &[&str]) -> Output {
        let mut args = vec!["request", "--reason", "checkout is down, need to look"];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

impl Bed {
    /// Changes keys of the policy ConfigMap as admin (`null` removes a key).
    pub fn patch_policy(&self, data: Value) {
        let patch = serde_json::json!({ "data": data }).to_string();
        let out = self.kubectl(&[
            "--context",
            "playground-admin",
            "-n",
            "breakglass",
            "patch",
            "configmap",
            "breakglass-policy",
            "--type",
            "merge",
            "-p",
            &patch,
        ]);
        assert_ok(&out, "kubectl patch the policy");
    }

    /// Lets grants be as short as `secs` seconds (the API double allows it; a real server does
    /// not: such a test starts with [`Bed::start_double`]).
    #[track_caller]
    pub fn allow_short_grants(&self, secs: u64) {
        self.pg
            .api
            .set_min_token_expiration(std::time::Duration::from_secs(secs));
        self.patch_policy(serde_json::json!({ "minDuration": format!("{secs}s") }));
    }

    /// The elevated context's `kubectl ARGS...`.
    pub fn kubectl_elevated(&self, args: &[&str]) -> Output {
        let mut all = vec!["--context", "playground-breakglass"];
        all.extend_from_slice(args);
        self.kubectl(&all)
    }

    /// The kubeconfig as text.
    pub fn kubeconfig_text(&self) -> String {
        std::fs::read_to_string(self.pg.kubeconfig_path()).unwrap()
    }

    /// Every seal is owned by a record that is Active: no seal, hence no live token,
    /// without a record.
    #[track_caller]
    pub fn assert_no_seal_without_an_active_record(&self) {
        let records = self.records();
        for seal in self.seals() {
            let owner = &seal["metadata"]["ownerReferences"][0];
            let record = records
                .iter()
                .find(|r| r["metadata"]["uid"] == owner["uid"])
                .unwrap_or_else(|| panic!("seal without a record: {seal}"));
            assert_eq!(
                record["status"]["state"], "Active",
                "seal of a non-active record: {record}"
            );
        }
    }

    /// `kubectl create -f` of `obj` as admin; the output, for the caller to judge.
    pub fn admin_create(&self, obj: &Value) -> Output {
        let file = self.sb.path(&format!(
            "obj-{}.json",
            obj["metadata"]["name"].as_str().unwrap_or("x")
        ));
        std::fs::write(&file, obj.to_string()).unwrap();
        self.kubectl(&[
            "--context",
            "playground-admin",
            "create",
            "-f",
            file.to_str().unwrap(),
        ])
    }

    /// Removes every admission policy binding, as an admin forging records would.
    pub fn drop_admission(&self) {
        let out = self.kubectl(&[
            "--context",
            "playground-admin",
            "delete",
            "validatingadmissionpolicybindings",
            "--all",
        ]);
        assert_ok(&out, "delete the admission policy bindings");
        // A real API server drops policies asynchronously: wait until a Secret that is no
        // seal is admitted again (dry run).
        for _ in 0..300 {
            let probe =
                breakglass_testbed::playground::probe_seal_policy(&self.pg.kubeconfig_path())
                    .unwrap();
            if probe.status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the admission policies were still enforced 30 s after their bindings went");
    }

    /// A copy of record `from` (as read by `records()`) under `name` with `sequence`, ready
    /// for `admin_create` (with `from`'s labels, so its live-until label matches the spec).
    pub fn forged_record(from: &Value, name: &str, sequence: i64) -> Value {
        let mut spec = from["spec"].clone();
        spec["sequence"] = sequence.into();
        let labels = from["metadata"]["labels"].clone();
        serde_json::json!({
            "apiVersion": "breakglass.dev/v1alpha1",
            "kind": "BreakGlassGrant",
            "metadata": { "name": name, "namespace": "breakglass", "labels": labels },
            "spec": spec,
        })
    }

    /// A seal made by hand as admin (admission dropped first): type breakglass.dev/seal, no
    /// labels, owned by record `owner` (as read by `records()`).
    pub fn forge_seal(&self, name: &str, owner: &Value) -> Output {
        self.admin_create(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "breakglass.dev/seal",
            "metadata": {
                "name": name, "namespace": "breakglass",
                "ownerReferences": [{
                    "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]
                }]
            }
        }))
    }

    /// The names of the seals left.
    pub fn seal_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .seals()
            .iter()
            .map(|s| {
                s["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }
}

impl Bed {
    /// The raw break-glass token, as the `playground-breakglass` exec entry serves it to
    /// kubectl (to present it after a revoke, where kubectl itself would fail fast).
    pub fn elevated_token(&self) -> String {
        let kubeconfig: serde_norway::Value =
            serde_norway::from_str(&self.kubeconfig_text()).unwrap();
        let user = kubeconfig["users"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "playground-breakglass")
            .expect("the elevated user entry");
        let exec = &user["user"]["exec"];
        let args: Vec<&str> = exec["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let mut cmd = Command::new(exec["command"].as_str().unwrap());
        self.env(&mut cmd);
        cmd.env(
            "KUBERNETES_EXEC_INFO",
            crate::common::exec_info(crate::common::V1, false),
        )
        .args(&args);
        crate::common::exec_credential(&cmd.output().unwrap()).1
    }
}
