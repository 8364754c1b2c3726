//! `kubectl breakglass request`: flags → one request → what the person now holds.

use crate::cli::RequestArgs;
use crate::global::Global;
use crate::grant::model::view::GrantView;
use crate::grant::request::{self, Made};
use crate::grant::NAMESPACE;
use crate::interrupt::Signals;
use crate::output;
use crate::untrusted::Untrusted;

/// Runs `request`.
pub fn run(global: &Global, args: RequestArgs) -> anyhow::Result<()> {
    let input = request::Input {
        reason: args.reason.clone(),
        ticket: args.ticket.clone(),
        role: args.role.clone(),
        duration: args.duration.clone(),
        no_kubeconfig: args.no_kubeconfig,
        additional: args.additional,
        standby: args.standby,
    };
    let requested = request::check(&input)?;
    let made = crate::runtime::current_thread()?.block_on(async {
        // Listening from the start: a signal before the grant is whole undoes what was made.
        let mut signals = Signals::listen()?;
        let made = request::request(global, &input, requested, &mut signals).await?;
        // Standby hook (issue 13): with the person's fresh login, renew the standby credential.
        crate::standby::mint::renew_quietly(global, made.cluster.as_ref(), &made.me).await;
        anyhow::Ok(made)
    })?;
    report(&args, made)
}

/// Tells the person what they now hold (stderr), and prints the grant for `-o`.
fn report(args: &RequestArgs, made: Made) -> anyhow::Result<()> {
    let Made {
        cluster,
        me,
        allowed,
        granted,
        elevated_context,
    } = made;
    let name = granted.record.name().to_string();
    let left = crate::grant::model::duration::human(allowed.duration);
    say!(
        "Break-glass grant {name}: {} acts as {} (ServiceAccount {NAMESPACE}/{}) on {} for {left}, until {}.",
        Untrusted(&me.username),
        Untrusted(&allowed.role.name),
        Untrusted(&allowed.role.name),
        cluster.server(),
        request::elevated_cache_time(&granted.expires_at)
    );
    say!(
        "Recorded in the cluster (kubectl get breakglassgrants -n {NAMESPACE} {name}); token id (jti) {}.",
        Untrusted(&granted.claims.jti)
    );
    if args.no_kubeconfig {
        say!(
            "No kubeconfig context written (--no-kubeconfig): the token is cached for an exec \
             credential entry. To use it, re-run without --no-kubeconfig, or add a user like \
             plugin-manifest/kubeconfig-breakglass.yaml with --server {} --role {} --account {} \
             --origin-context {}.",
            cluster.server(),
            Untrusted(&allowed.role.name),
            Untrusted(&me.username),
            cluster.context()
        );
    } else {
        say!(
            "Use it:    kubectl --context {elevated_context} auth whoami   (any kubectl command \
             with --context {elevated_context})"
        );
    }
    say!(
        "Status:    kubectl breakglass status --context {}",
        cluster.context()
    );
    say!(
        "Revoke:    kubectl breakglass revoke {name} --context {}",
        cluster.context()
    );
    if let Some(format) = args.output {
        output::print(
            format.into(),
            &Requested {
                grant: GrantView::of(&granted.record, chrono::Utc::now()),
                service_account: &granted.claims.sub,
                context: (!args.no_kubeconfig).then_some(elevated_context.as_str()),
            },
        )?;
    }
    Ok(())
}

/// `request -o json|yaml`: the common grant shape, the token's subject and the context
/// written for it. Never the token.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Requested<'a> {
    #[serde(flatten)]
    grant: GrantView,
    service_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
}
