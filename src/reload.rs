//! Changing the config without a restart: SIGHUP, `POST /api/v1/reload`
//! and `moose reload` (a client of the latter).
//!
//! All three read the file `moose run -c` was given, validate it
//! ([`Config::load`]: a file that does not parse or validate changes
//! nothing, and its error is the answer), and hand it to the control
//! thread ([`calls::Reload`]), which compares it with the running config
//! and applies all of its live changes through the services, or none if a
//! key cannot change while running. The outcome is logged as one line.

use std::path::Path;
use std::time::Duration;

use moose_config::Config;
use moose_control::runtime::calls;
use moose_control::ReloadReport;

use crate::app::Shared;

/// What a reload came to.
pub enum Outcome {
    /// Applied (`report.applied` may be empty: nothing changed).
    Applied(ReloadReport),
    /// A key cannot change while running: nothing was applied.
    Refused(ReloadReport),
    /// The file does not parse or validate (or cannot be read): nothing was
    /// applied.
    Invalid(String),
    /// The control thread did not answer.
    Unanswered(String),
}

/// Reads and validates the config file.
pub fn load(path: &Path) -> Result<Config, Outcome> {
    Config::load(path).map_err(|e| Outcome::Invalid(e.to_string()))
}

/// The control thread's answer as an outcome.
pub fn outcome(report: ReloadReport) -> Outcome {
    if report.refused.is_empty() {
        Outcome::Applied(report)
    } else {
        Outcome::Refused(report)
    }
}

/// Logs the outcome of a reload of `path` as one line.
pub fn log(path: &Path, o: &Outcome) {
    match o {
        Outcome::Applied(r) if r.applied.is_empty() => {
            log::info!("config reloaded: {}: nothing changed", path.display())
        }
        Outcome::Applied(r) => log::info!(
            "config reloaded: {}: {}",
            path.display(),
            r.applied.join("; ")
        ),
        Outcome::Refused(r) => {
            log::warn!("reload refused: {} (nothing changed)", r.refused.join("; "))
        }
        Outcome::Invalid(e) => log::warn!("reload refused: {e} (nothing changed)"),
        Outcome::Unanswered(e) => log::warn!("reload failed: {e}"),
    }
}

/// SIGHUP: reloads and logs, from the main thread.
pub fn on_signal(s: &Shared) {
    let o = match load(&s.config_path) {
        Err(o) => o,
        Ok(cfg) => match s.control.call_blocking(
            calls::Reload {
                config: Box::new(cfg),
            },
            Duration::from_secs(5),
        ) {
            Ok(r) => outcome(r),
            Err(e) => Outcome::Unanswered(e.to_string()),
        },
    };
    log(&s.config_path, &o);
}

/// `moose reload`: asks the appliance at `api` to reload; prints what
/// changed (or, with `json`, the API's answer). A refused or invalid
/// reload is an error naming the keys.
pub fn cli(api: &str, json: bool) -> anyhow::Result<()> {
    let (status, body) =
        moose_mgmt::client::request("POST", api, "/api/v1/reload", None, Duration::from_secs(10))?;
    if json {
        crate::out::println(body.trim_end());
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let lines = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect()
    };
    match status {
        200..=299 => {
            if !json {
                let applied = lines("applied");
                if applied.is_empty() {
                    crate::out::println("reloaded: nothing changed");
                }
                for l in applied {
                    crate::out::println(&format!("applied: {l}"));
                }
            }
            Ok(())
        }
        409 => anyhow::bail!("reload refused: {}", lines("refused").join("; ")),
        _ => anyhow::bail!(
            "reload refused: {}",
            v["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}: {}", body.trim_end()))
        ),
    }
}
