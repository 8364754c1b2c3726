//! Command-line flags. Each subcommand's flags become one input struct for its command.

pub mod credential_only;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Emergency ("break glass") access to Kubernetes: pre-scoped, short-lived, recorded, revocable.
#[derive(Debug, Parser)]
#[command(name = "kubectl-breakglass", bin_name = "kubectl breakglass", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands, with kubectl's meaning.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Where tokens are cached
    #[arg(long, global = true, env = "BREAKGLASS_TOKEN_CACHE", value_enum, default_value_t = TokenCacheKind::Keyring)]
    pub token_cache: TokenCacheKind,
}

/// Token cache backends; `keyring` picks the OS keyring for this platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenCacheKind {
    /// The OS keyring: Keychain, Credential Manager, Secret Service, else the kernel keyring
    Keyring,
    /// The Linux kernel keyring (keyutils), shared by all of this user's sessions
    Keyutils,
    /// Secret Service over D-Bus (GNOME Keyring, KWallet)
    SecretService,
    /// A 0600 file in a 0700 directory; opt-in, for machines without a keyring
    File,
    /// No cache: every call logs in or requests anew
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with your organisation's identity provider (OAuth 2.0 device code)
    Login(LoginArgs),
    /// Remove your cached tokens from the token cache
    Logout(LogoutArgs),
    /// Exec credential provider for kubeconfig `exec` entries (called by kubectl, not by people)
    Credential(CredentialArgs),
    /// Break the glass: get a short-lived, pre-scoped, recorded elevated token
    Request(RequestArgs),
    /// Show live break-glass grants (yours; all of them for admins)
    Status(StatusArgs),
    /// Revoke a grant and confirm the cluster rejects its token
    Revoke(RevokeArgs),
    /// Every grant record, oldest first, with its audit-log key; verifies the hash chain
    Audit(AuditArgs),
    /// Fire drill: a real minimal grant, used, revoked and confirmed, timed stage by stage
    Drill(DrillArgs),
    /// Point a context at the break-glass identity provider (writes its exec credential)
    Setup(SetupArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    ///
    /// The script completes `kubectl-breakglass ...`; load it with e.g.
    /// `source <(kubectl breakglass completion bash)`. `kubectl breakglass ...` completes
    /// through kubectl's own completion (kubectl 1.26+), which runs
    /// `kubectl_complete-breakglass` from PATH: it ships beside the plugin.
    Completion(CompletionArgs),
    /// Show the version, git commit, build date, target and the minimum Kubernetes version
    Version(VersionArgs),
}

/// Where the identity provider is; read from the context's exec entry when absent.
#[derive(Debug, Clone, Args, Default)]
pub struct IdpArgs {
    /// OIDC issuer URL
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// OIDC client id
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// CA certificate (PEM) to trust for the issuer, for a private CA
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub idp: IdpArgs,
    /// Print the URL and code but do not open a browser
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub idp: IdpArgs,
}

#[derive(Debug, Args)]
pub struct CredentialArgs {
    #[command(flatten)]
    pub idp: IdpArgs,
    /// Serve the elevated break-glass token instead of the person's identity
    #[arg(long, requires_all = ["server", "role", "account", "origin_context"])]
    pub elevated: bool,
    /// API server URL the elevated token is for (elevated mode)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Break-glass role of the grant (elevated mode)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The person the grant belongs to (elevated mode)
    #[arg(long, value_name = "EMAIL")]
    pub account: Option<String>,
    /// The person's own context the grant was requested through (elevated mode)
    #[arg(long, value_name = "NAME")]
    pub origin_context: Option<String>,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Why you are breaking the glass (recorded in the cluster)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Incident or ticket id (required when the cluster's policy says so)
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
    /// Break-glass role to assume (default: the policy's default role)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// How long the grant lasts, e.g. 30m or 1h (default: the role's maximum)
    // Hyphen values allowed so that `--duration -5m` gets a clear refusal, not a clap error.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// Do not write the `<context>-breakglass` kubeconfig context
    #[arg(long)]
    pub no_kubeconfig: bool,
    /// Allow a second live grant, of another role, while you already hold one
    #[arg(long)]
    pub additional: bool,
    /// Also print the grant as JSON or YAML on stdout (never the token)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
}

/// Machine-readable output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format (default: a table for people)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Show every live grant, not only yours (admins)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Name of the grant to revoke (default: your live grant on this context)
    pub grant: Option<String>,
    /// Revoke every live grant in the cluster (admins)
    #[arg(long, conflicts_with = "grant")]
    pub all: bool,
    /// Also print the outcome as JSON or YAML on stdout
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Output format (default: a table for people)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Only list records started within this long ago, e.g. 24h or 7days (the chain is
    /// always verified in full)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Break-glass role to drill (default: the policy's default role)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// OIDC issuer URL of your organisation's identity provider
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// OIDC client id registered for kubectl-breakglass
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// CA certificate (PEM) to trust for the issuer, for a private CA
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells `completion` prints a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format (default: text for people)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
}
