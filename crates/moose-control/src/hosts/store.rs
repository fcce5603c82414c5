//! The hosts' durable store: allocations and quarantined ids in an embedded
//! `redb` database (`moose.state_dir/hosts.redb`), so that a restart — also
//! after SIGKILL — gives every host the address it had. Each batch of
//! changes is one transaction, committed with `redb`'s immediate
//! durability (fsync) before the table changes it carries are published,
//! so no host ever uses an address the store does not hold.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// Sort key of (VLAN, real MAC) → (host id, port, last seen, Unix ms).
const HOSTS: TableDefinition<u64, (u64, u16, u64)> = TableDefinition::new("hosts");
/// Host id → quarantined until, Unix ms.
const QUARANTINE: TableDefinition<u64, u64> = TableDefinition::new("quarantine");
/// "hash_key", "prefix" (address bits | length << 48).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
#[error("host store {path}: {reason}")]
pub struct StoreError {
    pub path: String,
    pub reason: String,
}

pub struct Store {
    db: Database,
    path: PathBuf,
}

/// What the store held at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// (key, id, port, last seen).
    pub hosts: Vec<(u64, u64, u16, Instant)>,
    pub quarantine: Vec<(u64, Instant)>,
    pub hash_key: Option<u64>,
    pub prefix: Option<u64>,
}

/// Changes to write in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub upsert: Vec<(u64, u64, u16, Instant)>,
    pub remove: Vec<u64>,
    pub quarantine: Vec<(u64, Instant)>,
    pub unquarantine: Vec<u64>,
    pub meta: Vec<(&'static str, u64)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty()
            && self.remove.is_empty()
            && self.quarantine.is_empty()
            && self.unquarantine.is_empty()
            && self.meta.is_empty()
    }
}

/// `Instant` ↔ Unix milliseconds, through the wall clock now.
fn to_unix(t: Instant) -> u64 {
    let now_i = Instant::now();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let s = if t >= now_i {
        now_s + (t - now_i)
    } else {
        now_s.saturating_sub(now_i - t)
    };
    s.as_millis() as u64
}

fn from_unix(ms: u64) -> Instant {
    let now_i = Instant::now();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    if ms >= now_ms {
        now_i + Duration::from_millis(ms - now_ms)
    } else {
        now_i
            .checked_sub(Duration::from_millis(now_ms - ms))
            .unwrap_or(now_i)
    }
}

impl Store {
    /// Opens (or creates) `dir/hosts.redb`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let (db, path) = crate::redb_file::open(dir, "hosts.redb")
            .map_err(|(path, reason)| StoreError { path, reason })?;
        Ok(Store { db, path })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut out = Loaded::default();
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        match r.open_table(HOSTS) {
            Ok(t) => {
                for row in t.iter().map_err(|e| self.err(e))? {
                    let (k, v) = row.map_err(|e| self.err(e))?;
                    let (id, port, seen) = v.value();
                    out.hosts.push((k.value(), id, port, from_unix(seen)));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.err(e)),
        }
        match r.open_table(QUARANTINE) {
            Ok(t) => {
                for row in t.iter().map_err(|e| self.err(e))? {
                    let (k, v) = row.map_err(|e| self.err(e))?;
                    out.quarantine.push((k.value(), from_unix(v.value())));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.err(e)),
        }
        match r.open_table(META) {
            Ok(t) => {
                out.hash_key = t
                    .get("hash_key")
                    .map_err(|e| self.err(e))?
                    .map(|v| v.value());
                out.prefix = t.get("prefix").map_err(|e| self.err(e))?.map(|v| v.value());
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.err(e)),
        }
        Ok(out)
    }

    /// Writes `b` in one durable transaction.
    pub fn write(&self, b: &Batch) -> Result<(), StoreError> {
        if b.is_empty() {
            return Ok(());
        }
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut hosts = w.open_table(HOSTS).map_err(|e| self.err(e))?;
            for &(k, id, port, seen) in &b.upsert {
                hosts
                    .insert(k, (id, port, to_unix(seen)))
                    .map_err(|e| self.err(e))?;
            }
            for k in &b.remove {
                hosts.remove(*k).map_err(|e| self.err(e))?;
            }
            let mut q = w.open_table(QUARANTINE).map_err(|e| self.err(e))?;
            for &(id, until) in &b.quarantine {
                q.insert(id, to_unix(until)).map_err(|e| self.err(e))?;
            }
            for id in &b.unquarantine {
                q.remove(*id).map_err(|e| self.err(e))?;
            }
            let mut m = w.open_table(META).map_err(|e| self.err(e))?;
            for &(k, v) in &b.meta {
                m.insert(k, v).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        {
            let s = Store::open(dir.path()).unwrap();
            assert!(s.load().unwrap().hosts.is_empty());
            s.write(&Batch {
                upsert: vec![(1, 10, 2, t0), (2, 11, 3, t0)],
                quarantine: vec![(7, t0 + Duration::from_secs(60))],
                meta: vec![("hash_key", 99)],
                ..Batch::default()
            })
            .unwrap();
            s.write(&Batch {
                remove: vec![2],
                ..Batch::default()
            })
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let l = s.load().unwrap();
        assert_eq!(l.hosts.len(), 1);
        assert_eq!((l.hosts[0].0, l.hosts[0].1, l.hosts[0].2), (1, 10, 2));
        let drift = if l.hosts[0].3 > t0 {
            l.hosts[0].3 - t0
        } else {
            t0 - l.hosts[0].3
        };
        assert!(drift < Duration::from_millis(50), "{drift:?}");
        assert_eq!(l.quarantine.len(), 1);
        assert_eq!(l.hash_key, Some(99));
    }
}
