//! External checkpoints of the hash chain. The chain lives in the cluster that a break-glass
//! admin controls: one who removes the admission policies can rewrite every record and
//! recompute every digest, and the chain still verifies. A checkpoint kept outside the cluster
//! (a SIEM, the ticket, object storage) remembers each record's digest and uid as they were;
//! checking against it proves the chain only grew since, or names the first record rewritten.

use crate::grant::model::chain;
use crate::grant::model::record::Grant;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `kind` of a checkpoint document.
pub const KIND: &str = "BreakGlassChainCheckpoint";
/// The schema version a checkpoint is written in.
pub const SCHEMA_VERSION: u32 = 1;

/// A checkpoint: the chain head and every record's place in the chain, at `taken_at`;
/// `R` is how the records are given (a list, or a walk of the history written as it is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkpoint<R = Vec<Link>> {
    pub kind: String,
    pub schema_version: u32,
    /// The API server the chain was read from.
    pub cluster: String,
    pub taken_at: String,
    /// Whether `audit` found the chain intact when the checkpoint was taken.
    pub chain_intact: bool,
    /// The newest record (absent when there were none).
    pub head: Option<Link>,
    /// Every record, by sequence.
    pub records: R,
}

/// One record as a checkpoint remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Link {
    pub sequence: i64,
    pub name: String,
    pub uid: String,
    /// `chain::digest_of` the record: its name and spec.
    pub digest: String,
}

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "cannot read the checkpoint {path}: {cause} — pass a file written by: kubectl breakglass \
         audit --checkpoint-out FILE"
    )]
    Unreadable { path: String, cause: std::io::Error },
    #[error(
        "{path} is not a break-glass chain checkpoint ({why}) — pass a file written by: kubectl \
         breakglass audit --checkpoint-out FILE"
    )]
    Malformed { path: String, why: String },
    #[error(
        "the checkpoint {path} is of cluster {theirs}, not of {ours} — check it with --context \
         naming that cluster"
    )]
    OtherCluster {
        path: String,
        theirs: String,
        ours: String,
    },
    #[error(
        "cannot write the checkpoint {path}: {cause} — pass a writable path to --checkpoint-out"
    )]
    Unwritable { path: String, cause: std::io::Error },
}

/// How a checkpointed record was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Rewrite {
    /// No record of that name any more.
    Missing,
    /// A record of that name, but another object (deleted and re-created): its uid changed.
    Recreated,
    /// Its name and spec no longer hash to the checkpointed digest.
    Altered,
}

impl Rewrite {
    pub fn label(self) -> &'static str {
        match self {
            Rewrite::Missing => "deleted",
            Rewrite::Recreated => "deleted and re-created",
            Rewrite::Altered => "altered",
        }
    }
}

/// One checkpointed record that is not as it was.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewritten {
    pub name: String,
    pub sequence: i64,
    /// Every way it changed (re-created records are usually altered too).
    pub how: Vec<Rewrite>,
}

/// The verdict of a chain against a checkpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub taken_at: String,
    /// The checkpointed records, all unchanged: the chain only grew.
    pub holds: bool,
    pub checked: usize,
    /// Records the chain has now that the checkpoint did not.
    pub added: usize,
    /// Rewritten records, by sequence: the first is the first record rewritten.
    pub rewritten: Vec<Rewritten>,
}

impl Link {
    /// The link of `g`.
    pub fn of(g: &Grant) -> Link {
        Link {
            sequence: g.spec.sequence,
            name: g.name().to_string(),
            uid: g.metadata.uid.clone().unwrap_or_default(),
            digest: chain::digest_of(g),
        }
    }
}

/// The checkpoint of a chain whose head is `head`, read from `cluster` at `now`, with
/// `records` (by sequence) as they are given.
pub fn taken<R>(
    records: R,
    head: Option<&Grant>,
    cluster: &str,
    chain_intact: bool,
    now: DateTime<Utc>,
) -> Checkpoint<R> {
    Checkpoint {
        kind: KIND.into(),
        schema_version: SCHEMA_VERSION,
        cluster: cluster.into(),
        taken_at: crate::grant::model::record::timestamp(now),
        chain_intact,
        head: head.map(Link::of),
        records,
    }
}

/// The checkpoint of `records` read from `cluster` at `now`.
#[cfg(test)]
pub fn take(
    records: &[Grant],
    cluster: &str,
    chain_intact: bool,
    now: DateTime<Utc>,
) -> Checkpoint {
    let mut all: Vec<Link> = records.iter().map(Link::of).collect();
    all.sort_by(|a, b| (a.sequence, &a.name).cmp(&(b.sequence, &b.name)));
    taken(all, chain::head(records), cluster, chain_intact, now)
}

/// Parses a checkpoint document read from `path`.
pub fn parse(path: &str, text: &str) -> Result<Checkpoint, CheckpointError> {
    let malformed = |why: String| CheckpointError::Malformed {
        path: path.into(),
        why,
    };
    let c: Checkpoint = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    if c.kind != KIND {
        return Err(malformed(format!("kind is {:?}, not {KIND}", c.kind)));
    }
    if c.schema_version != SCHEMA_VERSION {
        return Err(malformed(format!(
            "schema version {} (this plugin reads {SCHEMA_VERSION})",
            c.schema_version
        )));
    }
    Ok(c)
}

/// Reads the checkpoint at `path` and checks it is of `cluster`.
pub fn read(path: &std::path::Path, cluster: &str) -> Result<Checkpoint, CheckpointError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| CheckpointError::Unreadable {
        path: shown.clone(),
        cause,
    })?;
    let c = parse(&shown, &text)?;
    if c.cluster.trim_end_matches('/') != cluster.trim_end_matches('/') {
        return Err(CheckpointError::OtherCluster {
            path: shown,
            theirs: c.cluster,
            ours: cluster.into(),
        });
    }
    Ok(c)
}

/// Writes `c` to `path` (through a temporary file, so a reader never sees half of it; the
/// records are written as they are given).
pub fn write<R: Serialize>(
    path: &std::path::Path,
    c: &Checkpoint<R>,
) -> Result<(), CheckpointError> {
    use std::io::Write as _;
    let unwritable = |cause| CheckpointError::Unwritable {
        path: path.display().to_string(),
        cause,
    };
    let tmp = path.with_extension("tmp-checkpoint");
    let written = std::fs::File::create(&tmp).and_then(|file| {
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, c)?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            unwritable(e)
        })
}

/// Checks `records` against checkpoint `c`: every checkpointed record must still be there,
/// the same object (uid), with the same digest.
#[cfg(test)]
pub fn check(c: &Checkpoint, records: &[Grant]) -> Verdict {
    let mut checking = Checking::new(c);
    for g in records {
        checking.see(g);
    }
    checking.verdict()
}

/// A check against a checkpoint, given the chain's records one at a time (any order):
/// it keeps the uid and digest of each checkpointed name seen, nothing of the others.
pub struct Checking<'c> {
    c: &'c Checkpoint,
    seen: std::collections::HashMap<&'c str, Option<(String, String)>>,
    added: usize,
}

impl<'c> Checking<'c> {
    pub fn new(c: &'c Checkpoint) -> Checking<'c> {
        Checking {
            c,
            seen: c.records.iter().map(|l| (l.name.as_str(), None)).collect(),
            added: 0,
        }
    }

    /// Takes one record of the chain as it is now.
    pub fn see(&mut self, g: &Grant) {
        match self.seen.get_mut(g.name()) {
            None => self.added += 1,
            // The first record of a name counts, as a lookup by name finds it.
            Some(slot @ None) => {
                let uid = g.metadata.uid.clone().unwrap_or_default();
                *slot = Some((uid, chain::digest_of(g)));
            }
            Some(Some(_)) => {}
        }
    }

    /// The verdict over the records seen.
    pub fn verdict(self) -> Verdict {
        let mut rewritten = Vec::new();
        for l in &self.c.records {
            let how = match self.seen.get(l.name.as_str()).and_then(Option::as_ref) {
                None => vec![Rewrite::Missing],
                Some((uid, digest)) => {
                    let mut how = Vec::new();
                    if *uid != l.uid {
                        how.push(Rewrite::Recreated);
                    }
                    if *digest != l.digest {
                        how.push(Rewrite::Altered);
                    }
                    how
                }
            };
            if !how.is_empty() {
                rewritten.push(Rewritten {
                    name: l.name.clone(),
                    sequence: l.sequence,
                    how,
                });
            }
        }
        Verdict {
            taken_at: self.c.taken_at.clone(),
            holds: rewritten.is_empty(),
            checked: self.c.records.len(),
            added: self.added,
            rewritten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::model::record::{GrantSpec, PreviousRecord};

    fn chain_of(reasons: &[&str]) -> Vec<Grant> {
        let mut out: Vec<Grant> = Vec::new();
        for (i, reason) in reasons.iter().enumerate() {
            let seq = i as i64 + 1;
            let spec = GrantSpec {
                requester: "alice@example.com".into(),
                requester_groups: vec![],
                reason: (*reason).into(),
                ticket: None,
                role: "cluster-admin".into(),
                service_account: "cluster-admin".into(),
                duration_seconds: 600,
                start_time: "2026-11-29T08:00:00Z".into(),
                expiry_time: "2026-11-29T08:10:00Z".into(),
                client_host: "laptop".into(),
                plugin_version: "0.1.0".into(),
                request_id: format!("r{seq}"),
                sequence: seq,
                previous: out.last().map(|p| PreviousRecord {
                    name: p.name().into(),
                    digest: chain::digest_of(p),
                }),
            };
            let mut g = Grant::new(&crate::grant::model::record::name_for(seq), spec);
            g.metadata.uid = Some(format!("uid-{seq}-{reason}"));
            out.push(g);
        }
        out
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_grown_chain_holds_and_a_recomputed_one_names_its_first_rewrite() {
        let before = chain_of(&["one", "two", "three"]);
        let c = take(&before, "https://prod:6443", true, now());
        assert_eq!(c.head.as_ref().unwrap().name, "grant-000003");
        assert_eq!(c.head.as_ref().unwrap().sequence, 3);
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(parse("cp.json", &text).unwrap(), c);

        let grown = chain_of(&["one", "two", "three", "four"]);
        // Same content, same uids: the first three are the same objects.
        let v = check(&c, &grown);
        assert!(v.holds, "{v:?}");
        assert_eq!((v.checked, v.added), (3, 1));

        // Record two rewritten and every later digest recomputed: a consistent chain.
        let rewritten = chain_of(&["one", "TWO", "three"]);
        assert!(chain::breaks(&rewritten).is_empty());
        let v = check(&c, &rewritten);
        assert!(!v.holds);
        assert_eq!(v.rewritten[0].name, "grant-000002");
        assert_eq!(v.rewritten[0].how, [Rewrite::Recreated, Rewrite::Altered]);
        assert_eq!(v.rewritten.len(), 2);

        let v = check(&c, &before[..2]);
        assert_eq!(v.rewritten[0].name, "grant-000003");
        assert_eq!(v.rewritten[0].how, [Rewrite::Missing]);
    }

    #[test]
    fn malformed_and_foreign_checkpoints_are_their_own_errors() {
        for text in ["", "{}", "[]", r#"{"kind":"Pod"}"#] {
            let err = parse("cp.json", text).unwrap_err();
            assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");
        }
        let mut c = take(&chain_of(&["one"]), "https://prod:6443", true, now());
        c.schema_version = 9;
        let err = parse("cp.json", &serde_json::to_string(&c).unwrap()).unwrap_err();
        assert!(err.to_string().contains("schema version 9"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let c = take(&chain_of(&["one"]), "https://prod:6443", true, now());
        write(&path, &c).unwrap();
        assert_eq!(read(&path, "https://prod:6443/").unwrap(), c);
        let err = read(&path, "https://staging:6443").unwrap_err();
        assert!(matches!(err, CheckpointError::OtherCluster { .. }), "{err}");
        let err = read(&dir.path().join("none.json"), "x").unwrap_err();
        assert!(matches!(err, CheckpointError::Unreadable { .. }), "{err}");
    }
}
