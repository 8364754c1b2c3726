//! The whole history of grant records, read a page at a time (`limit`/`continue`) as one
//! snapshot: what `audit` walks without holding more than a page. The first read fixes the
//! snapshot (the list's resource version); every later read sees exactly the same records
//! (`resourceVersionMatch=Exact`), so two walks over a history that grows meanwhile agree.

use crate::grant::cluster::records::list_page;
use crate::grant::cluster::{Cluster, ClusterError, PageStart};
use crate::grant::model::record::Grant;
use std::cell::RefCell;

/// The records of one cluster, to be read whole, possibly more than once.
pub struct History<'a> {
    runtime: &'a tokio::runtime::Runtime,
    cluster: &'a dyn Cluster,
    limit: u32,
    snapshot: RefCell<Option<String>>,
}

impl<'a> History<'a> {
    /// Reads of `cluster` through `runtime` (never from inside it), `limit` records a page.
    pub fn new(
        runtime: &'a tokio::runtime::Runtime,
        cluster: &'a dyn Cluster,
        limit: u32,
    ) -> History<'a> {
        History {
            runtime,
            cluster,
            limit: limit.max(1),
            snapshot: RefCell::new(None),
        }
    }

    pub fn cluster(&self) -> &'a dyn Cluster {
        self.cluster
    }

    /// Runs one cluster call to its end (the history is read from synchronous code).
    pub fn run<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(call)
    }

    /// Every record, in name order (the API server's).
    pub fn read(&self) -> Records<'_, 'a> {
        Records {
            history: self,
            page: Vec::new().into_iter(),
            next: Next::First,
        }
    }

    /// One record by name, as it is now (not at the snapshot: a GET cannot be pinned).
    pub fn get(&self, name: &str) -> Result<Option<Grant>, ClusterError> {
        self.run(self.cluster.record(name))
            .map(without_managed_fields)
    }

    fn page(&self, from: &Next) -> Result<crate::grant::cluster::Page, ClusterError> {
        let snapshot = self.snapshot.borrow().clone();
        let start = match (from, &snapshot) {
            (Next::Continue(token), _) => PageStart::Continue(token),
            (_, Some(version)) => PageStart::Snapshot(version),
            (_, None) => PageStart::Now,
        };
        let pinned = !matches!(start, PageStart::Now);
        let page = self
            .run(list_page(self.cluster, self.limit, start))
            .map_err(|e| match e {
                ClusterError::Answered {
                    code: 410, doing, ..
                } if pinned => ClusterError::SnapshotGone { doing },
                e => e,
            })?;
        if snapshot.is_none() {
            *self.snapshot.borrow_mut() = page.snapshot.clone();
        }
        Ok(page)
    }
}

enum Next {
    First,
    Continue(String),
    Done,
}

/// One read of every record; an error ends it.
pub struct Records<'h, 'a> {
    history: &'h History<'a>,
    page: std::vec::IntoIter<Grant>,
    next: Next,
}

impl Iterator for Records<'_, '_> {
    type Item = Result<Grant, ClusterError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(g) = self.page.next() {
                return Some(Ok(without_managed_fields(Some(g))?));
            }
            if matches!(self.next, Next::Done) {
                return None;
            }
            match self.history.page(&self.next) {
                Ok(page) => {
                    self.next = page.next.map_or(Next::Done, Next::Continue);
                    self.page = page.records.into_iter();
                }
                Err(e) => {
                    self.next = Next::Done;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// What the API server keeps of who wrote which field is not part of the history and is
/// most of a record's size: dropped as records arrive.
fn without_managed_fields(g: Option<Grant>) -> Option<Grant> {
    g.map(|mut g| {
        g.metadata.managed_fields = None;
        g
    })
}

/// Merges `listed` (in name order) with `others` (records listing does not put in `order`,
/// sorted by it) into one sequence in `order`.
pub fn merged<'o, E>(
    listed: impl Iterator<Item = Result<Grant, E>> + 'o,
    others: &'o [Grant],
    order: fn(&Grant, &Grant) -> std::cmp::Ordering,
) -> impl Iterator<Item = Result<Grant, E>> + 'o {
    let mut listed = listed.peekable();
    let mut others = others.iter().peekable();
    std::iter::from_fn(move || {
        let take_other = match others.peek() {
            None => false,
            Some(o) => match listed.peek() {
                None => true,
                Some(Err(_)) => false,
                Some(Ok(l)) => order(o, l).is_lt(),
            },
        };
        if take_other {
            others.next().map(|o| Ok(o.clone()))
        } else {
            listed.next()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::test_support::grant_named as grant;

    fn cluster_with(names: &[&str]) -> MemoryCluster {
        let cluster = MemoryCluster::new();
        for n in names {
            let g = grant(n, 1);
            cluster.state.borrow_mut().records.insert(n.to_string(), g);
        }
        cluster
    }

    #[test]
    fn a_read_pages_through_every_record_and_a_second_read_starts_at_the_snapshot() {
        let runtime = crate::runtime::current_thread().unwrap();
        let cluster = cluster_with(&["grant-000001", "grant-000002", "grant-000003"]);
        let history = History::new(&runtime, &cluster, 2);
        let names = |h: &History| -> Vec<String> {
            h.read().map(|g| g.unwrap().name().to_string()).collect()
        };
        assert_eq!(
            names(&history),
            ["grant-000001", "grant-000002", "grant-000003"]
        );
        assert_eq!(
            cluster.state.borrow().calls,
            ["records_page", "records_page"]
        );
        assert_eq!(names(&history).len(), 3);
        // A snapshot the server no longer holds is said as such.
        cluster.state.borrow_mut().snapshot_gone = true;
        let err = history.read().next().unwrap().unwrap_err();
        assert!(matches!(err, ClusterError::SnapshotGone { .. }), "{err}");
        assert!(err.to_string().contains("run the command again"), "{err}");
    }

    #[test]
    fn others_are_merged_into_the_listed_order() {
        let listed = ["grant-000001", "grant-000003", "grant-000005"].map(|n| grant(n, 1));
        let mut others = vec![grant("zz-hand-made", 4), grant("aa-hand-made", 0)];
        let order: fn(&Grant, &Grant) -> std::cmp::Ordering =
            |a, b| (a.spec.sequence, a.name()).cmp(&(b.spec.sequence, b.name()));
        // The listed records' sequences are 1 (grant() gives `sequence`), so order by name.
        let by_name: fn(&Grant, &Grant) -> std::cmp::Ordering = |a, b| a.name().cmp(b.name());
        others.sort_by(by_name);
        let out: Vec<String> = merged(listed.iter().cloned().map(Ok::<_, ()>), &others, by_name)
            .map(|g| g.unwrap().name().to_string())
            .collect();
        assert_eq!(
            out,
            [
                "aa-hand-made",
                "grant-000001",
                "grant-000003",
                "grant-000005",
                "zz-hand-made"
            ]
        );
        others.sort_by(order);
        let out: Vec<i64> = merged(std::iter::empty::<Result<Grant, ()>>(), &others, order)
            .map(|g| g.unwrap().spec.sequence)
            .collect();
        assert_eq!(out, [0, 4]);
    }
}
