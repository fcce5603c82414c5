//! `[moose] prefix = "auto"`: which attempt of [`moose_config::auto_prefix`]
//! a switch holds, kept in `state_dir/auto-prefix` so that a restarted
//! switch comes back with the prefix its hosts' neighbours know.

use std::io::Write;
use std::path::{Path, PathBuf};

use moose_config::Config;
use moose_wire::{Mac, MacPrefix};

const FILE: &str = "auto-prefix";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads the attempt kept in `dir`: 0 if none (or unreadable, which the
/// caller is told about).
pub fn load(dir: &Path) -> std::io::Result<u32> {
    match std::fs::read_to_string(path(dir)) {
        Ok(s) => s
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not an attempt number", path(dir).display()),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Keeps `attempt` (and the prefix it gives, for a human) in `dir`,
/// durably: written to a temporary file, synced, renamed.
pub fn store(dir: &Path, attempt: u32, prefix: MacPrefix) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{attempt} {prefix}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Resolves an automatic prefix for switch `id`: sets `cfg.moose.switch`
/// and returns the attempt it came from (`None`: the prefix is
/// configured).
pub fn resolve(cfg: &mut Config, id: Mac) -> std::io::Result<Option<u32>> {
    let Some(m) = cfg.moose.as_mut() else {
        return Ok(None);
    };
    if !m.auto_prefix {
        return Ok(None);
    }
    let attempt = match &m.state_dir {
        Some(d) => load(d)?,
        None => 0,
    };
    m.switch = moose_config::auto_prefix(&id.0, attempt);
    if let Some(d) = &m.state_dir {
        store(d, attempt, m.switch.prefix())?;
    }
    Ok(Some(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "[switch]\nname = \"a\"\n[moose]\nprefix = \"auto\"\nstate_dir = \"{}\"\n[[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_null0\"\n",
            dir.path().display()
        );
        let id = Mac([0x52, 0x54, 0, 0, 0, 9]);
        let mut c = Config::from_toml(&cfg).unwrap();
        assert_eq!(resolve(&mut c, id).unwrap(), Some(0));
        let first = c.moose.as_ref().unwrap().switch;
        assert_eq!(first, moose_config::auto_prefix(&id.0, 0));
        store(dir.path(), 3, moose_config::auto_prefix(&id.0, 3).prefix()).unwrap();
        let mut c = Config::from_toml(&cfg).unwrap();
        assert_eq!(resolve(&mut c, id).unwrap(), Some(3));
        assert_eq!(
            c.moose.as_ref().unwrap().switch,
            moose_config::auto_prefix(&id.0, 3)
        );
        assert_ne!(first, c.moose.as_ref().unwrap().switch);
    }
}
