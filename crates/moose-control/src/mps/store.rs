//! The MAC provider's durable store: handle → address in an embedded
//! `redb` database (`mps.state_dir/mps.redb`). Each turn's changes are one
//! transaction committed with immediate durability (fsync) before any of
//! them is acknowledged, so an acknowledged assignment survives SIGKILL and
//! power loss, and one never acknowledged may be lost but was never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// Handle → address (48 bits).
const OWNED: TableDefinition<&str, u64> = TableDefinition::new("owned");

#[derive(Debug, thiserror::Error)]
#[error("MAC provider store {path}: {reason}")]
pub struct StoreError {
    pub path: String,
    pub reason: String,
}

pub struct Store {
    db: Database,
    path: PathBuf,
}

/// The changes of one turn, net: for each handle and each address
/// touched, what it was before the turn and what it is after. The
/// embedded store writes the after-states; etcd also checks the
/// before-states (a transaction that fails if another provider changed
/// one of them).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Handle → (address before, address after).
    pub handles: BTreeMap<String, (Option<u64>, Option<u64>)>,
    /// Address → (owner before, owner after).
    pub macs: BTreeMap<u64, (Option<String>, Option<String>)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty() && self.macs.is_empty()
    }

    /// `handle` got `mac` (both free before, in the book).
    pub fn assign(&mut self, handle: &str, mac: u64) {
        self.handles
            .entry(handle.to_string())
            .or_insert((None, None))
            .1 = Some(mac);
        self.macs.entry(mac).or_insert((None, None)).1 = Some(handle.to_string());
    }

    /// `handle` gave up `mac`.
    pub fn unassign(&mut self, handle: &str, mac: u64) {
        self.handles
            .entry(handle.to_string())
            .or_insert((Some(mac), None))
            .1 = None;
        self.macs
            .entry(mac)
            .or_insert((Some(handle.to_string()), None))
            .1 = None;
    }

    /// Drops what the turn changed and changed back.
    pub fn settle(&mut self) {
        self.handles.retain(|_, (b, a)| b != a);
        self.macs.retain(|_, (b, a)| b != a);
    }

    /// Handles and addresses that change.
    pub fn len(&self) -> usize {
        self.handles.len() + self.macs.len()
    }
}

impl Store {
    /// Opens (or creates) `dir/mps.redb`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let (db, path) = crate::redb_file::open(dir, "mps.redb")
            .map_err(|(path, reason)| StoreError { path, reason })?;
        Ok(Store { db, path })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Every (handle, address) held.
    pub fn load(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = match r.open_table(OWNED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push((k.value().to_string(), v.value()));
        }
        Ok(out)
    }

    /// Writes `b` in one durable transaction.
    pub fn commit(&self, b: &Batch) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(OWNED).map_err(|e| self.err(e))?;
            for (h, (_, after)) in &b.handles {
                match after {
                    Some(m) => t.insert(h.as_str(), m).map(|_| ()),
                    None => t.remove(h.as_str()).map(|_| ()),
                }
                .map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("moose-mps-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::open(&dir).unwrap();
            assert!(s.load().unwrap().is_empty());
            let mut b = Batch::default();
            b.assign("a", 1);
            b.assign("b", 2);
            s.commit(&b).unwrap();
            let mut b = Batch::default();
            b.assign("c", 3);
            b.unassign("a", 1);
            s.commit(&b).unwrap();
        }
        let mut got = Store::open(&dir).unwrap().load().unwrap();
        got.sort();
        assert_eq!(got, vec![("b".into(), 2), ("c".into(), 3)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn batch_is_net() {
        let mut b = Batch::default();
        // Released, then the same address handed to another handle.
        b.unassign("a", 7);
        b.assign("b", 7);
        assert_eq!(b.handles["a"], (Some(7), None));
        assert_eq!(b.handles["b"], (None, Some(7)));
        assert_eq!(b.macs[&7], (Some("a".into()), Some("b".into())));
        // Assigned and released in the same turn: nothing to write.
        b.assign("c", 9);
        b.unassign("c", 9);
        b.settle();
        assert!(!b.handles.contains_key("c") && !b.macs.contains_key(&9));
        assert_eq!(b.len(), 3);
    }
}
