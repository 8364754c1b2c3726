//! Command-line flags. Each subcommand's flags become one input struct for its command.

pub mod credential_only;

pub use crate::kubeconfig::exec_entry::{CredentialArgs, IdpArgs, IdpOptionArgs};
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

impl GlobalArgs {
    /// The same flags as plain values, for the layers below the commands.
    pub fn plain(&self) -> crate::global::Global {
        crate::global::Global {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            token_cache: self.token_cache.into(),
        }
    }
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

impl From<TokenCacheKind> for crate::token_cache::Kind {
    fn from(kind: TokenCacheKind) -> Self {
        use crate::token_cache::Kind;
        match kind {
            TokenCacheKind::Keyring => Kind::Keyring,
            TokenCacheKind::Keyutils => Kind::Keyutils,
            TokenCacheKind::SecretService => Kind::SecretService,
            TokenCacheKind::File => Kind::File,
            TokenCacheKind::None => Kind::None,
        }
    }
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
    /// What a grant did: its record joined to the API server's audit log by the token's jti
    Review(ReviewArgs),
    /// Fire drill: a real minimal grant, used, revoked and confirmed, timed stage by stage
    Drill(DrillArgs),
    /// Point a context at the break-glass identity provider (writes its exec credential)
    Setup(SetupArgs),
    /// Standby credentials: break glass while the identity provider is down
    Standby(StandbyArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    ///
    /// The script completes `kubectl-breakglass ...`; load it with e.g.
    /// `source <(kubectl breakglass completion bash)`. `kubectl breakglass ...` completes
    /// through kubectl's own completion (kubectl 1.26+), which runs
    /// `kubectl_complete-breakglass` from PATH: it ships beside the plugin.
    Completion(CompletionArgs),
    /// Show the version, git commit, build date, target and the minimum Kubernetes version
    Version(VersionArgs),
    /// Who the cached login says you are (no network); --check asks the cluster too
    Whoami(WhoamiArgs),
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
    /// How long the grant lasts, e.g. 30m, 1h30m or 1.5h (default: the policy's defaultDuration,
    /// else the role's maximum)
    // Hyphen values allowed so that `--duration -5m` gets a clear refusal, not a clap error.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// Do not write the `<context>-breakglass` kubeconfig context
    #[arg(long)]
    pub no_kubeconfig: bool,
    /// Allow a second live grant, of another role, while you already hold one; it gets its
    /// own context, `<context>-breakglass-<role>`
    #[arg(long)]
    pub additional: bool,
    /// Also print the grant as JSON or YAML on stdout (never the token)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Break the glass with your standby credential, not your login (taken by itself only
    /// when the identity provider cannot be reached)
    #[arg(long)]
    pub standby: bool,
}

/// Machine-readable output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
}

impl From<OutputFormat> for crate::output::Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Json => crate::output::Format::Json,
            OutputFormat::Yaml => crate::output::Format::Yaml,
        }
    }
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
    pub output: Option<AuditFormat>,
    /// Only list records started within this long ago, e.g. 24h or 168h (the chain is
    /// always verified in full)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Also write the chain head and every record's digest to FILE, a checkpoint to keep
    /// outside the cluster (a SIEM, the ticket, object storage)
    #[arg(long, value_name = "FILE")]
    pub checkpoint_out: Option<PathBuf>,
    /// Prove the chain only grew since the checkpoint in FILE: fails naming the first record
    /// deleted, re-created or altered since, even when its digests were recomputed
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
}

/// Formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Json,
    Yaml,
    /// One JSON object per record and line, a stable versioned schema (for a SIEM)
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The grant to review, e.g. grant-000002 (`kubectl breakglass audit` lists them)
    pub grant: String,
    /// The API server's audit log: a file (gzip too), a directory of rotated files, or - for
    /// stdin; repeat for several. JSON lines of audit.k8s.io/v1 Events or EventLists
    #[arg(long, value_name = "PATH", required = true)]
    pub audit_log: Vec<PathBuf>,
    /// Output format (default: a report for people)
    #[arg(short, long, value_enum)]
    pub output: Option<ReviewFormat>,
    /// Show at most this many events in the timeline (the summary and flags count them all)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub limit: usize,
}

/// Formats of the review report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    Json,
    Yaml,
    /// A report to paste into the incident ticket
    Markdown,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Break-glass role to drill (default: the policy's default role)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Rehearse the identity-provider outage: break the glass with your standby credential
    #[arg(long)]
    pub standby: bool,
}

#[derive(Debug, Args)]
pub struct StandbyArgs {
    #[command(subcommand)]
    pub command: StandbyCommand,
}

/// What `standby` does.
#[derive(Debug, Subcommand)]
pub enum StandbyCommand {
    /// Show whether you hold a standby credential for the context's cluster, and until when
    Status,
    /// Mint or renew your standby credential with your login (when less than half is left)
    Renew(StandbyRenewArgs),
    /// Admins: give a person a standby credential (ServiceAccount, Secret, RBAC, policy keys)
    Provision(StandbyProvisionArgs),
    /// Admins: revoke a person's standby credential at once (deletes its bound Secret)
    Revoke(StandbyUserArgs),
}

#[derive(Debug, Args)]
pub struct StandbyRenewArgs {
    /// Mint a new one even if the one held has more than half its lifetime left
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StandbyProvisionArgs {
    /// The person's username as the cluster sees it (their email)
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Roles the standby credential may break glass into (default: the policy's default role)
    #[arg(long, value_name = "ROLE", value_delimiter = ',')]
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StandbyUserArgs {
    /// The person's username as the cluster sees it (their email)
    #[arg(long, value_name = "USER")]
    pub user: String,
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
    #[command(flatten)]
    pub options: IdpOptionArgs,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub idp: IdpArgs,
    /// Also ask the cluster who it takes you for (SelfSubjectReview) and flag mismatches
    #[arg(long)]
    pub check: bool,
    /// Print the report as JSON or YAML on stdout (never a token)
    #[arg(short, long, value_enum)]
    pub output: Option<OutputFormat>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain backend names the same `--token-cache` value the flag parses.
    #[test]
    fn token_cache_names_match_the_flag() {
        for kind in TokenCacheKind::value_variants() {
            let name = kind.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(crate::token_cache::Kind::from(*kind).flag_value(), name);
        }
    }
}
