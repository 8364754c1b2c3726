//! Taking back a request that did not finish: delete the seal (so any token issued for it
//! dies) and mark the record Failed. `Progress` publishes what a request has created so far,
//! so that an interrupt, which drops the request mid-step, can take it back the same way.

use crate::grant::cluster::{ClusterError, Shared};
use crate::grant::context_flag;
use crate::grant::model::record::State;
use crate::grant::model::seal;
use crate::interrupt::{Interrupted, Signal, Signals};
use std::cell::RefCell;
use std::time::Duration;

/// What a request has created so far, to take back.
#[derive(Clone)]
pub struct Undo {
    cluster: Shared,
    record: String,
    /// The seal's name (it carries the record's role).
    seal: String,
    pub(super) seal_attempted: bool,
    expiry: String,
    context: String,
}

impl Undo {
    pub(super) fn new(
        cluster: &Shared,
        record: &str,
        role: &str,
        expiry: &str,
        context: &str,
    ) -> Undo {
        Undo {
            cluster: cluster.clone(),
            record: record.to_string(),
            seal: seal::name_for(record, role),
            seal_attempted: false,
            expiry: expiry.to_string(),
            context: context.to_string(),
        }
    }

    /// Deletes the seal (killing any token bound to it) and marks the record Failed.
    /// The record is kept, not deleted: it is a link in the hash chain and the audit of an attempt.
    pub async fn run(self, why: &str) -> String {
        let mut done = Vec::new();
        let mut seal_dead = true;
        if self.seal_attempted {
            let name = &self.seal;
            match retry(|| self.cluster.delete_seal(name, "deleting the seal")).await {
                Ok(true) => done.push(format!(
                    "deleted seal {name}, so no token issued for it works"
                )),
                Ok(false) => done.push(format!("seal {name} was never created")),
                Err(e) => {
                    seal_dead = false;
                    done.push(format!(
                        "COULD NOT delete seal {name} ({e}): a token issued for it may stay valid until {}; \
                         run: kubectl breakglass revoke {}{}",
                        self.expiry,
                        self.record,
                        context_flag(&self.context)
                    ));
                }
            }
        }
        let why = if seal_dead {
            why.to_string()
        } else {
            format!("{why}; seal not deleted")
        };
        done.push(self.mark_failed(&why).await);
        done.join("; ")
    }

    /// After a lost answer to the record's creation: marks the record Failed if it was
    /// written (it carries our `request_id`), and says what was found.
    pub(super) async fn if_ours(&self, request_id: &str, why: &str) -> String {
        match self.cluster.record(&self.record).await {
            Ok(Some(r)) if r.spec.request_id == request_id => self.mark_failed(why).await,
            Ok(_) => "nothing was created".to_string(),
            Err(_) => format!(
                "could not tell whether record {} was written; if it was, it stays Pending \
                 with no seal and no token (nothing live)",
                self.record
            ),
        }
    }

    async fn mark_failed(&self, why: &str) -> String {
        let status = serde_json::json!({
            "state": State::Failed,
            "message": crate::grant::model::record::status_message(why),
        });
        let doing = "marking the record Failed";
        match retry(|| self.cluster.patch_status(&self.record, &status, doing)).await {
            Ok(_) => format!(
                "marked record {} Failed (records are kept as the audit trail)",
                self.record
            ),
            Err(e) => format!(
                "could not mark record {} Failed ({e}); it stays Pending, with no live token",
                self.record
            ),
        }
    }
}

/// What an in-flight request has created, published before each step that creates something.
#[derive(Default)]
pub struct Progress(RefCell<Made>);

#[derive(Default, Clone)]
enum Made {
    #[default]
    Nothing,
    /// The record's creation was sent; its answer may never come.
    MaybeRecord { undo: Undo, request_id: String },
    /// The record exists (and the seal, once `seal_attempted`).
    Record(Undo),
}

impl Progress {
    pub(super) fn creating(&self, undo: &Undo, request_id: &str) {
        *self.0.borrow_mut() = Made::MaybeRecord {
            undo: undo.clone(),
            request_id: request_id.to_string(),
        };
    }

    pub(super) fn created(&self, undo: &Undo) {
        *self.0.borrow_mut() = Made::Record(undo.clone());
    }

    pub(super) fn nothing(&self) {
        *self.0.borrow_mut() = Made::Nothing;
    }

    /// Takes back what the request created, the same way as a failed step; says what it did.
    pub async fn undo(&self, why: &str) -> String {
        let made = self.0.borrow().clone();
        match made {
            Made::Nothing => "nothing was created".to_string(),
            Made::MaybeRecord { undo, request_id } => undo.if_ours(&request_id, why).await,
            Made::Record(undo) => undo.run(why).await,
        }
    }

    /// What may be left when the undo was abandoned half-way, and how to finish it.
    pub fn left(&self) -> String {
        match &*self.0.borrow() {
            Made::Nothing => "nothing (nothing had been created)".to_string(),
            Made::MaybeRecord { undo, .. } => format!(
                "record {} may exist as Pending, with no seal and no token (nothing live)",
                undo.record
            ),
            Made::Record(undo) if !undo.seal_attempted => format!(
                "record {} stays Pending, with no seal and no token (nothing live)",
                undo.record
            ),
            Made::Record(undo) => format!(
                "record {r} and maybe its seal {s}, so a token issued for it may work until {e}; \
                 finish with: kubectl breakglass revoke {r}{c}",
                r = undo.record,
                s = undo.seal,
                e = undo.expiry,
                c = context_flag(&undo.context)
            ),
        }
    }
}

async fn retry<T, F, Fut>(mut f: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClusterError>>,
{
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Takes back what an interrupted request created (`progress`), the same undo as a failed
/// step, and says what it did; a further signal abandons it and says what may be left.
pub async fn undo_interrupted(
    signals: &mut Signals,
    signal: Signal,
    progress: &Progress,
) -> Interrupted {
    let why = format!("interrupted by the requester ({signal})");
    say!("{signal} received: taking back what this request created; press Ctrl-C again to abandon that");
    let message = match signals.race(progress.undo(&why)).await {
        Ok(cleanup) => format!("{why}. Cleaned up: {cleanup}"),
        Err(again) => format!(
            "{why}; the clean-up was abandoned at a second {again}. May be left: {}",
            progress.left()
        ),
    };
    Interrupted { signal, message }
}
