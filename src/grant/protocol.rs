//! A request, in order: record → seal → token → annotate, each step undone if a later one
//! fails, so there is never a seal without a record nor a live token without a record.

use super::cluster::{explain, status_code, Cluster, Whoami};
use super::jwt::{self, Claims};
use super::policy::Allowed;
use super::record::{self, Grant, GrantSpec, GrantStatus, PreviousRecord, State};
pub use super::undo::{Progress, Undo};
use super::{chain, elevated_cache, events, seal, NAMESPACE};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret as K8sSecret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;

/// How long a Pending record of the same person counts as a request still in flight.
const IN_FLIGHT: chrono::Duration = chrono::Duration::seconds(60);
/// How often to re-read the chain when another request took our place in it.
const CHAIN_ATTEMPTS: usize = 5;

/// Which grants of the same person a new request may stand beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    /// None: one live grant at a time (plain `request`).
    Nothing,
    /// Live grants of other roles (`request --additional`): a second grant of the same
    /// role would replace the first's cached token, which the elevated context serves.
    OtherRoles,
    /// Anything (a drill, whose token never reaches the cache).
    Anything,
}

/// A grant that was recorded, sealed, issued and annotated.
pub struct Granted {
    pub record: Grant,
    pub token: Secret<String>,
    pub claims: Claims,
    pub expires_at: DateTime<Utc>,
    /// Things worth telling the person that did not stop the grant (e.g. a failed Event).
    pub warnings: Vec<String>,
    pub undo: Undo,
}

impl Granted {
    /// The cache entry that serves this grant's token to `account`.
    pub fn cache_entry(&self, cluster: &Cluster, account: &str) -> elevated_cache::Entry {
        elevated_cache::Entry {
            token: self.token.expose().clone(),
            expires_at: self.expires_at,
            grant: self.record.name().to_string(),
            jti: self.claims.jti.clone(),
            server: cluster.server.clone(),
            role: self.record.spec.role.clone(),
            account: account.to_string(),
            origin_context: cluster.context.clone(),
        }
    }
}

/// The grant records of the cluster, or a message naming the manifest to apply.
pub async fn list_records(cluster: &Cluster) -> anyhow::Result<Vec<Grant>> {
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    match grants.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(e) if status_code(&e) == Some(404) => anyhow::bail!(
            "the cluster at {} has no BreakGlassGrant resource: the break-glass CRD is not installed; \
             {} (the CRD is {})",
            cluster.server,
            super::INSTALL_HINT,
            record::CRD_MANIFEST
        ),
        Err(e) if status_code(&e) == Some(403) => Err(not_a_requester(cluster).await),
        Err(e) => Err(explain(e, &cluster.server, &cluster.context, "reading the grant records")),
    }
}

/// Reading the records was forbidden: say who may, from the policy (which everyone may read).
async fn not_a_requester(cluster: &Cluster) -> anyhow::Error {
    let groups = match super::request::read_policy(cluster).await {
        Ok(policy) => {
            let mut groups: Vec<String> = policy
                .roles
                .iter()
                .flat_map(|r| r.groups.iter().cloned())
                .collect();
            groups.sort();
            groups.dedup();
            format!("the requesters' group {}", groups.join(" or "))
        }
        Err(_) => "the requesters' groups the policy names".to_string(),
    };
    anyhow::anyhow!(
        "reading the grant records: the cluster at {} does not let you: only members of {groups} \
         and break-glass admins (group breakglass-admins) may; if you should break glass, ask \
         your identity-provider admin to add you",
        cluster.server
    )
}

/// Runs the protocol for `me` with what the policy allowed, publishing in `progress` what
/// it has created so far (for whoever drops it mid-step to take back).
pub async fn request(
    cluster: &Cluster,
    me: &Whoami,
    allowed: &Allowed,
    beside: Beside,
    progress: &Progress,
) -> anyhow::Result<Granted> {
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let request_id = request_id(me);
    let mut warnings = Vec::new();

    // 1. Record. The name carries the chain position: a racing request gets 409 and re-reads.
    let mut created = None;
    let mut seen_records = Vec::new();
    for _ in 0..CHAIN_ATTEMPTS {
        let records = list_records(cluster).await?;
        let now = Utc::now();
        match beside {
            Beside::Nothing => refuse_second_grant(&records, me, now, &cluster.context)?,
            Beside::OtherRoles => refuse_same_role(&records, me, allowed, now, &cluster.context)?,
            Beside::Anything => {}
        }
        if let Some(w) = chain::warning(&records, &cluster.server, &cluster.context) {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let head = chain::head(&records);
        let sequence = chain::next_sequence(&records).map_err(|e| {
            anyhow::anyhow!(
                "writing the grant record: {e}; nothing was created. An admin must look at \
                     the records: kubectl breakglass audit{}",
                super::undo::context_flag(&cluster.context)
            )
        })?;
        let previous = head.map(|h| PreviousRecord {
            name: h.name().to_string(),
            digest: chain::digest_of(h),
        });
        let start = Utc::now();
        let expiry = start + chrono::Duration::seconds(allowed.duration.as_secs() as i64);
        let spec = GrantSpec {
            requester: me.username.clone(),
            requester_groups: me.groups.clone(),
            reason: allowed.reason.clone(),
            ticket: allowed.ticket.clone(),
            role: allowed.role.name.clone(),
            service_account: allowed.role.name.clone(),
            duration_seconds: allowed.duration.as_secs() as i64,
            start_time: record::timestamp(start),
            expiry_time: record::timestamp(expiry),
            client_host: gethostname::gethostname().to_string_lossy().into_owned(),
            plugin_version: env!("CARGO_PKG_VERSION").to_string(),
            request_id: request_id.clone(),
            sequence,
            previous,
        };
        let name = record::name_for(sequence);
        let maybe = Undo::new(
            &grants,
            &secrets,
            &name,
            &allowed.role.name,
            "",
            &cluster.context,
        );
        progress.creating(&maybe, &request_id);
        // Standby hook (issue 13): a record made through a standby credential says so.
        let record = crate::standby::marked(Grant::new(&name, spec), me);
        match grants.create(&PostParams::default(), &record).await {
            Ok(rec) => {
                created = Some(rec);
                seen_records = records;
                break;
            }
            Err(e) if status_code(&e) == Some(409) => {
                // The name is taken: the re-read sees it, and the next place is past it.
                progress.nothing();
                continue;
            }
            Err(e) if status_code(&e).is_none() => {
                // The record may or may not exist: find out, and take it back if it does.
                let what = explain(
                    e,
                    &cluster.server,
                    &cluster.context,
                    "writing the grant record",
                );
                let cleanup = maybe.if_ours(&request_id, &what.to_string()).await;
                anyhow::bail!("{what}. Cleaned up: {cleanup}");
            }
            Err(e) => {
                progress.nothing();
                let what = explain(
                    e,
                    &cluster.server,
                    &cluster.context,
                    "writing the grant record",
                );
                anyhow::bail!("{what}. Nothing was created");
            }
        }
    }
    let rec = created.ok_or_else(|| {
        anyhow::anyhow!(
            "writing the grant record: the next place in the record chain was taken \
             {CHAIN_ATTEMPTS} times in a row while this request tried to follow it (many requests \
             at once, or records being created by hand); nothing was created. Try again in a few \
             seconds; if it keeps happening an admin should run: kubectl breakglass audit{}",
            super::undo::context_flag(&cluster.context)
        )
    })?;
    let mut undo = Undo::new(
        &grants,
        &secrets,
        rec.name(),
        &rec.spec.role,
        &rec.spec.expiry_time,
        &cluster.context,
    );

    // 2. Seal, 3. token, 4. annotate; any failure undoes all of it.
    undo.seal_attempted = true;
    progress.created(&undo);
    match seal_token_annotate(cluster, &rec, allowed).await {
        Ok((record, token, claims)) => {
            let note = format!(
                "{} broke the glass: role {} until {} — {}{}",
                me.username,
                allowed.role.name,
                record.spec.expiry_time,
                allowed.reason,
                allowed
                    .ticket
                    .as_ref()
                    .map(|t| format!(" (ticket {t})"))
                    .unwrap_or_default()
            );
            if let Err(e) = emit(cluster, events::build(&record, "Granted", "Request", note)).await
            {
                warnings.push(format!(
                    "the Granted Event was not written ({e}); the record is the audit trail"
                ));
            }
            // An expired grant of this person leaves no seal a new token could be bound to.
            super::revoke::sweep_expired_own(cluster, &seen_records, &me.username).await;
            let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
            Ok(Granted {
                record,
                token,
                claims,
                expires_at,
                warnings,
                undo,
            })
        }
        Err(err) => {
            let cleanup = undo.run(&err.to_string()).await;
            anyhow::bail!("{err}. Cleaned up: {cleanup}. Nothing is live; try the request again")
        }
    }
}

/// Steps 2–4; an error names the step that failed.
async fn seal_token_annotate(
    cluster: &Cluster,
    rec: &Grant,
    allowed: &Allowed,
) -> anyhow::Result<(Grant, Secret<String>, Claims)> {
    let ex = |doing: &str| {
        let doing = doing.to_string();
        move |e: kube::Error| explain(e, &cluster.server, &cluster.context, &doing)
    };
    let seal_step = format!(
        "creating the seal {}",
        seal::name_for(rec.name(), &rec.spec.role)
    );
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let sealed = secrets
        .create(&PostParams::default(), &seal::build(rec))
        .await
        .map_err(ex(&seal_step))?;
    let seal_name = sealed.metadata.name.clone().unwrap_or_default();
    let seal_uid = sealed.metadata.uid.clone().unwrap_or_default();

    let token_step = format!(
        "requesting a token for ServiceAccount {NAMESPACE}/{}",
        allowed.role.name
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let tr = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(allowed.duration.as_secs() as i64),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                name: Some(seal_name.clone()),
                uid: Some(seal_uid.clone()),
            }),
        },
        ..TokenRequest::default()
    };
    let issued = accounts
        .create_token_request(&allowed.role.name, &PostParams::default(), &tr)
        .await
        .map_err(ex(&token_step))?;
    let token = Secret::new(
        issued
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{token_step}: the API server returned no token"))?,
    );
    let claims = jwt::claims(token.expose()).map_err(|e| anyhow::anyhow!("{token_step}: {e}"))?;

    let annotate_step = format!("recording the token's jti on {}", rec.name());
    let status = GrantStatus {
        state: Some(State::Active),
        jti: Some(claims.jti.clone()),
        seal_name: Some(seal_name),
        seal_uid: Some(seal_uid),
        ..GrantStatus::default()
    };
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let record = grants
        .patch_status(
            rec.name(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .map_err(ex(&annotate_step))?;
    Ok((record, token, claims))
}

/// Creates an Event; failures are reported, never fatal.
pub async fn emit(cluster: &Cluster, event: Event) -> anyhow::Result<()> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    api.create(&PostParams::default(), &event)
        .await
        .map(|_| ())
        .map_err(|e| explain(e, &cluster.server, &cluster.context, "writing the Event"))
}

fn refuse_second_grant(
    records: &[Grant],
    me: &Whoami,
    now: DateTime<Utc>,
    context: &str,
) -> anyhow::Result<()> {
    let mine = records.iter().filter(|g| g.spec.requester == me.username);
    for g in mine {
        if g.is_live(now) {
            anyhow::bail!(
                "you already have a live break-glass grant {} (role {}, until {}): use it with \
                 kubectl --context {context}-breakglass ..., revoke it with kubectl breakglass \
                 revoke {}{}, or add --additional --role OTHER to hold a second role at once",
                g.name(),
                g.spec.role,
                g.spec.expiry_time,
                g.name(),
                super::undo::context_flag(context)
            );
        }
        if g.is_in_flight(now, IN_FLIGHT) {
            anyhow::bail!(
                "another break-glass request of yours is in progress ({}, started {}); wait for it, \
                 or add --additional to hold two grants at once",
                g.name(),
                g.spec.start_time
            );
        }
    }
    Ok(())
}

/// `--additional` of a role the person already holds (or is requesting right now).
fn refuse_same_role(
    records: &[Grant],
    me: &Whoami,
    allowed: &Allowed,
    now: DateTime<Utc>,
    context: &str,
) -> anyhow::Result<()> {
    let role = &allowed.role.name;
    let same = records.iter().find(|g| {
        g.spec.requester == me.username
            && &g.spec.role == role
            && (g.is_live(now) || g.is_in_flight(now, IN_FLIGHT))
    });
    if let Some(g) = same.filter(|g| !g.is_live(now)) {
        anyhow::bail!(
            "a request of yours for role {role} is in progress ({}, started {}); wait for it \
             (a second grant of the same role would replace its cached token: one is cached per \
             cluster, role and person)",
            g.name(),
            g.spec.start_time
        );
    }
    if let Some(g) = same {
        anyhow::bail!(
            "you already hold grant {} of role {role} (until {}): --additional is for a second \
             role, since a second grant of the same role would replace the first's cached token \
             (one is cached per cluster, role and person). Use the first, or revoke it and \
             request again: kubectl breakglass revoke {}{}",
            g.name(),
            g.spec.expiry_time,
            g.name(),
            super::undo::context_flag(context)
        );
    }
    Ok(())
}

/// A random-enough id for recognising our own record after a lost response.
fn request_id(me: &Whoami) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(me.username.as_bytes());
    h.update(std::process::id().to_be_bytes());
    h.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    h.update(format!("{:p}", &h as *const _).as_bytes());
    hex::encode(&h.finalize()[..12])
}
