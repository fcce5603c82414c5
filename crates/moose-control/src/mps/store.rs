//! The MAC provider's durable store: handle → address in an embedded
//! `redb` database (`mps.state_dir/mps.redb`). Each turn's changes are one
//! transaction committed with immediate durability (fsync) before any of
//! them is acknowledged, so an acknowledged assignment survives SIGKILL and
//! power loss, and one never acknowledged may be lost but was never used.

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

/// The changes of one turn.
#[derive(Debug, Default)]
pub struct Batch {
    pub put: Vec<(String, u64)>,
    pub remove: Vec<String>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.remove.is_empty()
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
            for h in &b.remove {
                t.remove(h.as_str()).map_err(|e| self.err(e))?;
            }
            for (h, m) in &b.put {
                t.insert(h.as_str(), m).map_err(|e| self.err(e))?;
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
            s.commit(&Batch {
                put: vec![("a".into(), 1), ("b".into(), 2)],
                remove: vec![],
            })
            .unwrap();
            s.commit(&Batch {
                put: vec![("c".into(), 3)],
                remove: vec!["a".into()],
            })
            .unwrap();
        }
        let mut got = Store::open(&dir).unwrap().load().unwrap();
        got.sort();
        assert_eq!(got, vec![("b".into(), 2), ("c".into(), 3)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
