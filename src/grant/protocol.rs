//! A request, in order: record → seal → token → annotate, each step undone if a later one
//! fails, so there is never a seal without a record nor a live token without a record.

use super::chain_head::{self, HeadError};
use super::live_grants;
use super::model::{chain, events, seal, standby};
use super::{elevated_cache, NAMESPACE};
use crate::grant::cluster::records::explain_read;
use crate::grant::cluster::seals::sweep_expired_own;
use crate::grant::cluster::{Cluster, ClusterError, Shared, Whoami};
use crate::grant::model::jwt::{self, Claims};
use crate::grant::model::policy::Allowed;
use crate::grant::model::record::{self, Grant, GrantSpec, GrantStatus, PreviousRecord, State};
pub use crate::grant::undo::{Progress, Undo};
use crate::secret::Secret;
use crate::untrusted::Untrusted;
use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};

/// How long a Pending record of the same person counts as a request still in flight.
const IN_FLIGHT: chrono::Duration = chrono::Duration::seconds(60);
/// How often to re-read the chain when another request took our place in it.
const CHAIN_ATTEMPTS: usize = 5;
/// How far back (by expiry) the records a request reads reach: a grant in flight (Pending
/// for up to `IN_FLIGHT`) has not expired, and a minute covers clocks that disagree.
pub const RECENT: chrono::Duration = chrono::Duration::seconds(120);

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
    pub fn cache_entry(&self, cluster: &dyn Cluster, account: &str) -> elevated_cache::Entry {
        elevated_cache::Entry {
            token: self.token.clone(),
            expires_at: self.expires_at,
            grant: self.record.name().to_string(),
            jti: self.claims.jti.clone(),
            server: cluster.server().to_string(),
            role: self.record.spec.role.clone(),
            account: account.to_string(),
            origin_context: cluster.context().to_string(),
            // Known to the caller, which read the kubeconfig (`request`).
            cluster_ca: None,
        }
    }
}

/// Runs the protocol for `me` with what the policy allowed, publishing in `progress` what
/// it has created so far (for whoever drops it mid-step to take back).
pub async fn request(
    shared: &Shared,
    me: &Whoami,
    allowed: &Allowed,
    beside: Beside,
    progress: &Progress,
) -> anyhow::Result<Granted> {
    let cluster: &dyn Cluster = shared.as_ref();
    let request_id = request_id(me);
    let mut warnings = Vec::new();

    // 1. Record. The name carries the chain position: a racing request gets 409 and looks
    // again from the place it lost. Nothing here reads the whole history: the head is
    // found by name from a hint (`chain_head`), the grants that may be live by the seals
    // and a short walk back from the head (`live_grants`).
    let mut created = None;
    let mut seen_records = Vec::new();
    let mut hint = chain_head::hint(cluster.server());
    let mut lost_at = None;
    for _ in 0..CHAIN_ATTEMPTS {
        // The head first, then the grants that may be live: a record written in between
        // sits at or past the place found, so creating there gets 409 and the next round
        // reads it (one live grant per person stays race-free).
        // From the API server's cache until a race is lost, from etcd after (a stale head
        // only ever costs a 409).
        let reads = match lost_at {
            None => chain_head::Reads::Cached,
            Some(_) => chain_head::Reads::Fresh,
        };
        let head = match chain_head::find(cluster, hint, reads).await {
            Ok(head) => head,
            Err(HeadError::Full(e)) => anyhow::bail!(
                "writing the grant record: {e}; nothing was created. An admin must look at \
                 the records: kubectl breakglass audit{}",
                crate::grant::context_flag(cluster.context())
            ),
            Err(HeadError::Cluster(e)) => return Err(explain_read(cluster, e).await.into()),
        };
        let now = Utc::now();
        // As fresh as the head at least, where the label list is read: every record but
        // the head was created before it (the admission policy gives places in creation
        // order), so none is missed, and the API server answers from its cache at once
        // instead of first catching up with etcd (after a write that wait is most of a
        // request's time).
        let fresh_as = head
            .record
            .as_ref()
            .and_then(|h| h.metadata.resource_version.as_deref());
        let records =
            live_grants::may_be_live(cluster, &head, &me.username, lost_at, now, fresh_as).await?;
        match beside {
            Beside::Nothing => refuse_second_grant(&records, me, now, cluster.context())?,
            Beside::OtherRoles => refuse_same_role(&records, me, allowed, now, cluster.context())?,
            Beside::Anything => {}
        }
        if let Some(w) = chain_head::link_warning(cluster, head.record.as_ref(), &records).await? {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let sequence = head.next;
        let previous = head.record.as_ref().map(|h| PreviousRecord {
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
        let maybe = Undo::new(shared, &name, &allowed.role.name, "", cluster.context());
        progress.creating(&maybe, &request_id);
        // Standby hook (issue 13): a record made through a standby credential says so.
        let record = standby::marked(Grant::new(&name, spec), me.standby.as_deref());
        match cluster.create_record(&record).await {
            Ok(rec) => {
                chain_head::remember(cluster.server(), sequence);
                created = Some(rec);
                seen_records = records;
                break;
            }
            Err(e) => match e {
                ClusterError::Conflict { .. } => {
                    // The name is taken: look again from it, the next place is past it.
                    progress.nothing();
                    hint = sequence;
                    // Whoever won the place may be the same person: the next round reads it.
                    lost_at.get_or_insert(sequence);
                    continue;
                }
                what if !what.answered() => {
                    // The record may or may not exist: find out, and take it back if it does.
                    let cleanup = maybe.if_ours(&request_id, &what.to_string()).await;
                    anyhow::bail!("{what}. Cleaned up: {cleanup}");
                }
                what => {
                    progress.nothing();
                    anyhow::bail!("{what}. Nothing was created");
                }
            },
        }
    }
    let rec = created.ok_or_else(|| {
        anyhow::anyhow!(
            "writing the grant record: the next place in the record chain was taken \
             {CHAIN_ATTEMPTS} times in a row while this request tried to follow it (many requests \
             at once, or records being created by hand); nothing was created. Try again in a few \
             seconds; if it keeps happening an admin should run: kubectl breakglass audit{}",
            crate::grant::context_flag(cluster.context())
        )
    })?;
    let mut undo = Undo::new(
        shared,
        rec.name(),
        &rec.spec.role,
        &rec.spec.expiry_time,
        cluster.context(),
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
            let event = events::build(&record, "Granted", "Request", note);
            if let Err(e) = cluster.emit(&event).await {
                warnings.push(format!(
                    "the Granted Event was not written ({e}); the record is the audit trail"
                ));
            }
            // An expired grant of this person leaves no seal a new token could be bound to.
            sweep_expired_own(cluster, &seen_records, &me.username).await;
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
    cluster: &dyn Cluster,
    rec: &Grant,
    allowed: &Allowed,
) -> anyhow::Result<(Grant, Secret<String>, Claims)> {
    let seal_step = format!(
        "creating the seal {}",
        seal::name_for(rec.name(), &rec.spec.role)
    );
    let sealed = cluster.create_seal(&seal::build(rec), &seal_step).await?;
    let seal_name = sealed.metadata.name.clone().unwrap_or_default();
    let seal_uid = sealed.metadata.uid.clone().unwrap_or_default();

    let token_step = format!(
        "requesting a token for ServiceAccount {NAMESPACE}/{}",
        allowed.role.name
    );
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
    let issued = cluster
        .request_token(&allowed.role.name, &tr, &token_step)
        .await?;
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
    let status = serde_json::to_value(&status)?;
    let record = cluster
        .patch_status(rec.name(), &status, &annotate_step)
        .await?;
    Ok((record, token, claims))
}

/// A plain request refused because the person holds a live grant already.
#[derive(Debug)]
pub struct AlreadyLive {
    /// The live grant's record name.
    pub grant: String,
    pub role: String,
    pub until: String,
    /// The person's own context the request came through.
    pub origin_context: String,
    /// The kubeconfig context that serves the live grant. `<origin>-breakglass` here, where
    /// only the cluster is known; the caller names the one its kubeconfig really has
    /// (`--additional` grants get `<origin>-breakglass-<role>`).
    pub elevated_context: String,
}

impl std::fmt::Display for AlreadyLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let grant = Untrusted(&self.grant);
        write!(
            f,
            "you already have a live break-glass grant {grant} (role {}, until {}): use it with \
             kubectl --context {} ..., revoke it with kubectl breakglass revoke {grant}{}, or \
             add --additional --role OTHER to hold a second role at once",
            Untrusted(&self.role),
            Untrusted(&self.until),
            Untrusted(&self.elevated_context),
            crate::grant::context_flag(&self.origin_context)
        )
    }
}

impl std::error::Error for AlreadyLive {}

fn refuse_second_grant(
    records: &[Grant],
    me: &Whoami,
    now: DateTime<Utc>,
    context: &str,
) -> anyhow::Result<()> {
    let mine = records.iter().filter(|g| g.spec.requester == me.username);
    for g in mine {
        if g.is_live(now) {
            return Err(AlreadyLive {
                grant: g.name().to_string(),
                role: g.spec.role.clone(),
                until: g.spec.expiry_time.clone(),
                origin_context: context.to_string(),
                elevated_context: format!("{context}-breakglass"),
            }
            .into());
        }
        if g.is_in_flight(now, IN_FLIGHT) {
            anyhow::bail!(
                "another break-glass request of yours is in progress ({}, started {}); wait for it, \
                 or add --additional to hold two grants at once",
                Untrusted(g.name()),
                Untrusted(&g.spec.start_time)
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
            Untrusted(g.name()),
            Untrusted(&g.spec.start_time)
        );
    }
    if let Some(g) = same {
        anyhow::bail!(
            "you already hold grant {} of role {role} (until {}): --additional is for a second \
             role, since a second grant of the same role would replace the first's cached token \
             (one is cached per cluster, role and person). Use the first, or revoke it and \
             request again: kubectl breakglass revoke {}{}",
            Untrusted(g.name()),
            Untrusted(&g.spec.expiry_time),
            Untrusted(g.name()),
            crate::grant::context_flag(context)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::model::policy::{Ask, Policy};
    use std::rc::Rc;

    fn allowed(role: &str) -> Allowed {
        let policy = Policy::from_data(&crate::grant::cluster::memory::policy()).unwrap();
        let ask = Ask {
            reason: Some("checkout is down, need to look"),
            ticket: None,
            role: Some(role),
            duration: Some(std::time::Duration::from_secs(1800)),
        };
        policy
            .check(&ask, "alice@example.com", &["sre".to_string()])
            .unwrap()
    }

    async fn grant(
        cluster: &Rc<MemoryCluster>,
        role: &str,
        beside: Beside,
    ) -> anyhow::Result<Granted> {
        let shared: Shared = cluster.clone();
        request(
            &shared,
            &cluster.me,
            &allowed(role),
            beside,
            &Progress::default(),
        )
        .await
    }

    fn state(cluster: &MemoryCluster, name: &str) -> Option<State> {
        cluster.state.borrow().records[name].state()
    }

    #[tokio::test]
    async fn a_grant_is_recorded_sealed_issued_and_annotated() {
        let cluster = Rc::new(MemoryCluster::new());
        let granted = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .unwrap();
        assert_eq!(granted.record.name(), "grant-000001");
        assert_eq!(state(&cluster, "grant-000001"), Some(State::Active));
        let st = cluster.state.borrow();
        assert_eq!(st.seals.len(), 1);
        let status = st.records["grant-000001"].status.clone().unwrap();
        assert_eq!(status.jti.as_deref(), Some(granted.claims.jti.as_str()));
        assert_eq!(
            status.seal_name.as_deref(),
            st.seals.keys().next().map(String::as_str)
        );
        assert_eq!(st.events.len(), 1, "a Granted Event");
    }

    #[tokio::test]
    async fn a_second_live_grant_is_refused_before_anything_is_created() {
        let cluster = Rc::new(MemoryCluster::new());
        grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .unwrap();
        let calls = cluster.state.borrow().calls.len();
        let err = grant(&cluster, "cluster-admin", Beside::Nothing)
            .await
            .err()
            .unwrap();
        // Typed, so `request` can name the context its kubeconfig serves the grant through.
        let live = err.downcast_ref::<AlreadyLive>().expect("AlreadyLive");
        assert_eq!(
            (live.grant.as_str(), live.role.as_str()),
            ("grant-000001", "incident-debug")
        );
        let context = cluster.context();
        assert_eq!(live.elevated_context, format!("{context}-breakglass"));
        let err = err.to_string();
        assert!(
            err.contains("you already have a live break-glass grant grant-000001"),
            "{err}"
        );
        let st = cluster.state.borrow();
        assert_eq!(st.records.len(), 1);
        assert_eq!(st.seals.len(), 1);
        assert!(
            !st.calls[calls..].contains(&"create_record"),
            "{:?}",
            st.calls
        );
    }

    #[tokio::test]
    async fn an_additional_grant_of_the_same_role_is_refused_and_of_another_allowed() {
        let cluster = Rc::new(MemoryCluster::new());
        grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .unwrap();
        let err = grant(&cluster, "incident-debug", Beside::OtherRoles)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("you already hold grant grant-000001 of role incident-debug"),
            "{err}"
        );
        let second = grant(&cluster, "cluster-admin", Beside::OtherRoles)
            .await
            .unwrap();
        assert_eq!(second.record.name(), "grant-000002");
    }

    #[tokio::test]
    async fn a_taken_chain_place_is_read_again_and_the_next_one_taken() {
        let cluster = Rc::new(MemoryCluster::new());
        cluster.state.borrow_mut().taken = 2;
        let granted = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .unwrap();
        // Two other requests took places 1 and 2; ours follows them in the chain.
        assert_eq!(granted.record.name(), "grant-000003");
        let previous = granted.record.spec.previous.clone().unwrap();
        assert_eq!(previous.name, "grant-000002");
        let st = cluster.state.borrow();
        assert_eq!(
            previous.digest,
            chain::digest_of(&st.records["grant-000002"])
        );
        assert_eq!(st.seals.len(), 1);
    }

    #[tokio::test]
    async fn a_cache_behind_costs_a_409_and_then_the_head_is_read_from_etcd() {
        let cluster = Rc::new(MemoryCluster::new());
        // alice's other request wrote place 2 a moment ago (Pending, no seal yet), and the
        // API server's cache has not seen it.
        grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .unwrap();
        cluster.state.borrow_mut().seals.clear();
        let mut in_flight = cluster.state.borrow().records["grant-000001"].clone();
        // (The first is over.)
        if let Some(s) = cluster
            .state
            .borrow_mut()
            .records
            .get_mut("grant-000001")
            .and_then(|g| g.status.as_mut())
        {
            s.state = Some(State::Revoked);
        }
        in_flight.metadata.name = Some("grant-000002".into());
        in_flight.spec.sequence = 2;
        in_flight.spec.start_time = record::timestamp(Utc::now());
        in_flight.status = None;
        {
            let mut st = cluster.state.borrow_mut();
            st.records.insert("grant-000002".into(), in_flight);
            st.not_cached.push("grant-000002".into());
            st.calls.clear();
        }

        let err = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("another break-glass request of yours is in progress (grant-000002"),
            "{err}"
        );
        let st = cluster.state.borrow();
        // The cached search ended at place 1, creating place 2 got 409, and the next round
        // read from etcd.
        let create = st.calls.iter().position(|c| *c == "create_record").unwrap();
        assert!(
            st.calls[..create].iter().all(|c| *c != "record"),
            "{:?}",
            st.calls
        );
        assert!(st.calls[create..].contains(&"record"), "{:?}", st.calls);
        assert_eq!(st.records.len(), 2, "nothing new was created");
    }

    #[tokio::test]
    async fn a_chain_place_taken_every_time_gives_up_having_created_nothing() {
        let cluster = Rc::new(MemoryCluster::new());
        cluster.state.borrow_mut().taken = CHAIN_ATTEMPTS;
        let err = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("taken {CHAIN_ATTEMPTS} times in a row")),
            "{err}"
        );
        let st = cluster.state.borrow();
        assert!(st
            .records
            .values()
            .all(|r| r.spec.requester != "alice@example.com"));
        assert!(st.seals.is_empty());
    }

    #[tokio::test]
    async fn a_failed_token_request_deletes_the_seal_and_fails_the_record() {
        let cluster = Rc::new(MemoryCluster::new());
        cluster.state.borrow_mut().failing.push("request_token");
        let err = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Cleaned up: deleted seal"), "{err}");
        assert!(err.contains("Nothing is live"), "{err}");
        assert_eq!(state(&cluster, "grant-000001"), Some(State::Failed));
        let st = cluster.state.borrow();
        assert!(st.seals.is_empty(), "no seal without an Active record");
        assert!(st.tokens.is_empty(), "no token was issued");
    }

    #[tokio::test]
    async fn a_failed_annotation_takes_back_the_issued_token() {
        let cluster = Rc::new(MemoryCluster::new());
        cluster.state.borrow_mut().failing.push("patch_status");
        let err = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("Cleaned up: deleted seal"),
            "{err}"
        );
        // The token was issued, but its seal is gone, so the cluster rejects it.
        let st = cluster.state.borrow();
        assert_eq!(st.tokens.len(), 1);
        assert!(st.seals.is_empty());
    }

    #[tokio::test]
    async fn a_refused_record_creates_nothing_and_says_so() {
        let cluster = Rc::new(MemoryCluster::new());
        cluster.state.borrow_mut().failing.push("create_record");
        let err = grant(&cluster, "incident-debug", Beside::Nothing)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.ends_with("Nothing was created"), "{err}");
        assert!(cluster.state.borrow().records.is_empty());
    }
}
