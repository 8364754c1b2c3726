//! `kubectl breakglass setup`: point a context at the break-glass identity provider, so
//! nobody hand-edits kubeconfig YAML.

use crate::cli::SetupArgs;
use crate::global::Global;
use crate::identity::IdpOptions;
use crate::kubeconfig::exec_command::{self, COMMAND};
use crate::kubeconfig::setup::{self, Setup};
use anyhow::Context as _;

/// Runs `setup`.
pub fn run(global: &Global, args: SetupArgs) -> anyhow::Result<()> {
    let context = global.context.clone().context(
        "setup needs --context NAME: the kubeconfig context to point at the identity provider \
         (see kubectl config get-contexts)",
    )?;
    if !args.issuer.starts_with("https://") {
        anyhow::bail!(
            "--issuer {:?} is not an https:// URL: give the OIDC issuer URL exactly as the \
             identity provider and the API server's --oidc-issuer-url name it",
            args.issuer
        );
    }
    if args.client_id.trim().is_empty() {
        anyhow::bail!(
            "--client-id is empty: give the OIDC client id registered for kubectl-breakglass"
        );
    }
    let options = args.options.plain();
    check_options(&options)?;
    // kubectl runs the exec entry from any directory: store the CA's absolute path.
    let ca_file = args
        .ca_file
        .as_ref()
        .map(|p| {
            std::fs::File::open(p)
                .and_then(|_| std::fs::canonicalize(p))
                .with_context(|| {
                    format!(
                        "cannot read --ca-file {}: give the PEM file of the CA that signed the \
                     issuer's certificate",
                        p.display()
                    )
                })
        })
        .transpose()?;
    let extra_args = global.token_cache.exec_args();
    let command = exec_command::exec_command();
    let loaded = crate::kubeconfig::load(global).map_err(|e| match e
        .downcast_ref::<crate::kubeconfig::NoKubeconfig>()
    {
        Some(missing) => anyhow::anyhow!(
            "{}; setup edits an existing kubeconfig: create it (e.g. with your cluster's \
                 `get-credentials` command), or pass an existing one with --kubeconfig PATH",
            missing.what()
        ),
        None => e,
    })?;
    let changed = setup::setup(
        loaded.paths(),
        &Setup {
            context: context.clone(),
            command: command.clone(),
            issuer: args.issuer,
            client_id: args.client_id,
            ca_file,
            options,
            extra_args,
        },
    )?;
    let was = match &changed.previous_user {
        Some(u) => format!(" instead of {u} (that entry is unchanged)"),
        None => String::new(),
    };
    say!(
        "Context {context} in {} now uses user {}{was}, which runs:\n  {command} {}",
        changed.file.display(),
        changed.user,
        changed.shown_args().join(" ")
    );
    if exec_command::first_on_path(std::env::var_os("PATH").as_deref()).is_none() {
        say!(
            "warning: {COMMAND} is not on your PATH, so `kubectl breakglass` cannot find it \
             (the exec entry runs {command}, which breaks if that file moves); install it \
             (kubectl krew install breakglass) or put its directory on PATH"
        );
    }
    say!("Next: kubectl breakglass login --context {context}");
    Ok(())
}

/// Refuses options kubectl would pass on but no IdP could use.
fn check_options(options: &IdpOptions) -> anyhow::Result<()> {
    for scope in &options.scopes {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) {
            anyhow::bail!(
                "--scope {scope:?} is empty or has a space: give each scope with its own --scope \
                 (e.g. --scope groups --scope profile)"
            );
        }
    }
    for (flag, value) in [
        ("--username-claim", &options.username_claim),
        ("--groups-claim", &options.groups_claim),
        ("--audience", &options.audience),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            anyhow::bail!(
                "{flag} is empty: give it a value, or leave the flag out for the default"
            );
        }
    }
    if options
        .client_secret
        .as_ref()
        .is_some_and(|s| s.expose().is_empty())
    {
        anyhow::bail!("--client-secret is empty: give the client's secret, or leave the flag out");
    }
    Ok(())
}
