//! An in-memory cluster for the use cases' unit tests: records, seals, tokens bound to seals
//! and the policy, with the API server's answers that the protocol decides on (409 for a
//! taken name, 401 for a token whose seal is gone) and faults injected by call.

use super::{Call, Cluster, ClusterError, Page, PageStart, Whoami};
use crate::grant::model::record::{Grant, LIVE_UNTIL_LABEL};
use crate::secret::Secret;
use base64::Engine as _;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use k8s_openapi::api::events::v1::Event;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The cluster's state, open to the test.
#[derive(Default)]
pub struct State {
    pub records: BTreeMap<String, Grant>,
    pub seals: BTreeMap<String, K8sSecret>,
    /// Token → the seal it is bound to and the ServiceAccount it authenticates as.
    pub tokens: BTreeMap<String, (String, String)>,
    pub events: Vec<Event>,
    pub policy: Option<BTreeMap<String, String>>,
    /// How many record creations still find their name taken (by a record of someone else).
    pub taken: usize,
    /// Calls (by method name) that fail with a 500.
    pub failing: Vec<&'static str>,
    /// Calls (by method name) that RBAC forbids (403).
    pub forbidden: Vec<&'static str>,
    /// Every call, by method name, in order.
    pub calls: Vec<&'static str>,
    /// Whether a read at a snapshot is answered 410 Gone (the server compacted it away).
    pub snapshot_gone: bool,
    /// Records the API server's cache has not caught up with yet (`record_at` misses them).
    pub not_cached: Vec<String>,
}

/// A cluster in memory, seen by `me`.
pub struct MemoryCluster {
    pub me: Whoami,
    pub state: RefCell<State>,
}

/// The test policy: two roles for group `sre`, an hour at most.
pub fn policy() -> BTreeMap<String, String> {
    [
        ("roles", "incident-debug,cluster-admin"),
        ("defaultRole", "incident-debug"),
        ("ticketRequired", "false"),
        ("minReasonLength", "10"),
        ("incident-debug.maxDuration", "1h"),
        ("incident-debug.groups", "sre"),
        ("cluster-admin.maxDuration", "1h"),
        ("cluster-admin.groups", "sre"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl MemoryCluster {
    /// An installed cluster with the test policy, seen by alice of group sre.
    pub fn new() -> MemoryCluster {
        MemoryCluster {
            me: Whoami {
                username: "alice@example.com".to_string(),
                groups: vec!["sre".to_string()],
                standby: None,
            },
            state: RefCell::new(State {
                policy: Some(policy()),
                ..State::default()
            }),
        }
    }

    /// Records the call and fails it when the test asked for that.
    fn call(&self, name: &'static str) -> Result<(), ClusterError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(name);
        if state.forbidden.contains(&name) {
            return Err(ClusterError::Forbidden {
                doing: name.to_string(),
                message: "forbidden".to_string(),
            });
        }
        if state.failing.contains(&name) {
            return Err(ClusterError::Answered {
                doing: name.to_string(),
                code: 500,
                reason: "InternalError".to_string(),
                message: "injected".to_string(),
            });
        }
        Ok(())
    }

    fn ready<'a, T: 'a>(result: Result<T, ClusterError>) -> Call<'a, T> {
        Box::pin(std::future::ready(result))
    }

    /// Answers a TokenRequest with a token for `sub`, bound to the object it names.
    fn issue(&self, request: &TokenRequest, sub: &str) -> TokenRequest {
        let mut state = self.state.borrow_mut();
        let bound = request
            .spec
            .bound_object_ref
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        let secs = request.spec.expiration_seconds.unwrap_or(3600);
        let exp = chrono::Utc::now().timestamp() + secs;
        let jti = format!("jti-{}", state.tokens.len() + 1);
        let issued = token(&jti, exp, sub);
        state
            .tokens
            .insert(issued.clone(), (bound, sub.to_string()));
        TokenRequest {
            status: Some(TokenRequestStatus {
                token: issued,
                expiration_timestamp: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::from_second(exp).unwrap_or_default(),
                ),
            }),
            ..request.clone()
        }
    }
}

fn conflict(doing: &str) -> ClusterError {
    ClusterError::Conflict {
        doing: doing.to_string(),
        reason: "AlreadyExists".to_string(),
        message: "already exists".to_string(),
    }
}

/// A token the protocol can read: `header.payload.signature` with jti, exp and sub.
fn token(jti: &str, exp: i64, sub: &str) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        b64(serde_json::json!({ "alg": "RS256" })),
        b64(serde_json::json!({ "jti": jti, "exp": exp, "sub": sub }))
    )
}

impl Cluster for MemoryCluster {
    fn context(&self) -> &str {
        "memory"
    }

    fn server(&self) -> &str {
        "https://memory.invalid"
    }

    fn whoami(&self) -> Call<'_, Whoami> {
        Self::ready(self.call("whoami").map(|_| self.me.clone()))
    }

    fn whoami_with<'a>(&'a self, token: &'a Secret<String>, doing: &'a str) -> Call<'a, Whoami> {
        let answer = self.call("whoami_with").and_then(|_| {
            let state = self.state.borrow();
            match state.tokens.get(token.expose()) {
                Some((seal, account)) if state.seals.contains_key(seal) => Ok(Whoami {
                    username: account.clone(),
                    groups: Vec::new(),
                    standby: None,
                }),
                _ => Err(ClusterError::Unauthorized {
                    doing: doing.to_string(),
                    server: self.server().to_string(),
                    context: self.context().to_string(),
                    message: "Unauthorized".to_string(),
                }),
            }
        });
        Self::ready(answer)
    }

    fn records_live_after<'a>(&'a self, since: i64, _at: Option<&'a str>) -> Call<'a, Vec<Grant>> {
        let answer = self.call("records_live_after").map(|_| {
            let state = self.state.borrow();
            let live = state.records.values().filter(|g| {
                let label = g
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LIVE_UNTIL_LABEL));
                label
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|t| t > since)
            });
            live.cloned().collect()
        });
        Self::ready(answer)
    }

    fn records_page<'a>(&'a self, limit: u32, from: PageStart<'a>) -> Call<'a, Page> {
        let answer = self.call("records_page").and_then(|_| {
            let state = self.state.borrow();
            let after = match from {
                PageStart::Snapshot(_) if state.snapshot_gone => {
                    return Err(ClusterError::Answered {
                        doing: "records_page".to_string(),
                        code: 410,
                        reason: "Expired".to_string(),
                        message: "too old resource version".to_string(),
                    })
                }
                PageStart::Continue(token) => Some(token),
                PageStart::Now | PageStart::Snapshot(_) => None,
            };
            let mut records: Vec<Grant> = state
                .records
                .iter()
                .filter(|(name, _)| after.is_none_or(|f| name.as_str() > f))
                .take(limit as usize + 1)
                .map(|(_, g)| g.clone())
                .collect();
            let more = records.len() > limit as usize;
            records.truncate(limit as usize);
            let next = more
                .then(|| records.last().map(|g| g.name().to_string()))
                .flatten();
            Ok(Page {
                records,
                next,
                snapshot: Some("1".to_string()),
            })
        });
        Self::ready(answer)
    }

    fn record<'a>(&'a self, name: &'a str) -> Call<'a, Option<Grant>> {
        let answer = self
            .call("record")
            .map(|_| self.state.borrow().records.get(name).cloned());
        Self::ready(answer)
    }

    fn record_at<'a>(&'a self, name: &'a str, _at: &'a str) -> Call<'a, Option<Grant>> {
        let answer = self.call("record_at").map(|_| {
            let state = self.state.borrow();
            let cached = !state.not_cached.iter().any(|n| n == name);
            state.records.get(name).filter(|_| cached).cloned()
        });
        Self::ready(answer)
    }

    fn create_record<'a>(&'a self, grant: &'a Grant) -> Call<'a, Grant> {
        let answer = self.call("create_record").and_then(|_| {
            let mut state = self.state.borrow_mut();
            let name = grant.name().to_string();
            if state.taken > 0 {
                // Someone else's request took this place in the chain just now.
                state.taken -= 1;
                let mut theirs = grant.clone();
                theirs.spec.requester = "bob@example.com".to_string();
                state.records.insert(name, theirs);
                return Err(conflict("writing the grant record"));
            }
            if state.records.contains_key(&name) {
                return Err(conflict("writing the grant record"));
            }
            let mut created = grant.clone();
            created.metadata.uid = Some(format!("uid-{name}"));
            state.records.insert(name, created.clone());
            Ok(created)
        });
        Self::ready(answer)
    }

    fn patch_status<'a>(
        &'a self,
        name: &'a str,
        status: &'a serde_json::Value,
        doing: &'a str,
    ) -> Call<'a, Grant> {
        let answer = self.call("patch_status").and_then(|_| {
            let mut state = self.state.borrow_mut();
            let Some(record) = state.records.get_mut(name) else {
                return Err(ClusterError::NotFound {
                    doing: doing.to_string(),
                    reason: "NotFound".to_string(),
                    message: format!("{name} not found"),
                });
            };
            let mut merged = serde_json::to_value(&record.status).unwrap_or_default();
            if merged.is_null() {
                merged = serde_json::json!({});
            }
            for (k, v) in status.as_object().cloned().unwrap_or_default() {
                merged[k] = v;
            }
            record.status = serde_json::from_value(merged).ok();
            Ok(record.clone())
        });
        Self::ready(answer)
    }

    fn create_seal<'a>(&'a self, seal: &'a K8sSecret, doing: &'a str) -> Call<'a, K8sSecret> {
        let answer = self.call("create_seal").and_then(|_| {
            let mut state = self.state.borrow_mut();
            let name = seal.metadata.name.clone().unwrap_or_default();
            if state.seals.contains_key(&name) {
                return Err(conflict(doing));
            }
            let mut created = seal.clone();
            created.metadata.uid = Some(format!("uid-{name}"));
            state.seals.insert(name, created.clone());
            Ok(created)
        });
        Self::ready(answer)
    }

    fn delete_seal<'a>(&'a self, name: &'a str, _doing: &'a str) -> Call<'a, bool> {
        let answer = self
            .call("delete_seal")
            .map(|_| self.state.borrow_mut().seals.remove(name).is_some());
        Self::ready(answer)
    }

    fn delete_seals(&self, names: Vec<String>) -> Call<'_, ()> {
        let answer = self.call("delete_seals").map(|_| {
            let mut state = self.state.borrow_mut();
            for name in names {
                state.seals.remove(&name);
            }
        });
        Self::ready(answer)
    }

    fn seal_exists<'a>(&'a self, name: &'a str) -> Call<'a, bool> {
        let answer = self
            .call("seal_exists")
            .map(|_| self.state.borrow().seals.contains_key(name));
        Self::ready(answer)
    }

    fn seals(&self) -> Call<'_, Vec<K8sSecret>> {
        let answer = self
            .call("seals")
            .map(|_| self.state.borrow().seals.values().cloned().collect());
        Self::ready(answer)
    }

    fn seals_cached(&self) -> Call<'_, Vec<K8sSecret>> {
        let answer = self
            .call("seals_cached")
            .map(|_| self.state.borrow().seals.values().cloned().collect());
        Self::ready(answer)
    }

    fn request_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        _doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        let answer = self.call("request_token").map(|_| {
            self.issue(
                request,
                &format!("system:serviceaccount:breakglass:{account}"),
            )
        });
        Self::ready(answer)
    }

    fn emit<'a>(&'a self, event: &'a Event) -> Call<'a, ()> {
        let answer = self
            .call("emit")
            .map(|_| self.state.borrow_mut().events.push(event.clone()));
        Self::ready(answer)
    }

    fn request_standby_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        _doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        let answer = self.call("request_standby_token").map(|_| {
            let standby = crate::grant::model::standby::USER_PREFIX;
            self.issue(request, &format!("{standby}{account}"))
        });
        Self::ready(answer)
    }

    fn policy_data(&self) -> Call<'_, Option<BTreeMap<String, String>>> {
        let answer = self
            .call("policy_data")
            .map(|_| self.state.borrow().policy.clone());
        Self::ready(answer)
    }
}
