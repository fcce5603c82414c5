//! Opening the services' embedded `redb` stores (hosts, DHCP leases, MAC
//! provider): one file each in a state directory, created with it.

use std::path::{Path, PathBuf};

use redb::Database;

/// Opens (or creates) `dir/file`, creating `dir`; the error as (the
/// file's path, the reason), for the store's own error type.
pub(crate) fn open(dir: &Path, file: &str) -> Result<(Database, PathBuf), (String, String)> {
    let path = dir.join(file);
    let err = |e: &dyn std::fmt::Display| (path.display().to_string(), e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    let db = Database::create(&path).map_err(|e| err(&e))?;
    Ok((db, path))
}
