//! `moose mac request|release|reclaim|show|pools`: the MAC provider of a
//! running appliance, through its JSON API (`/api/v1/mac/*`).

use std::time::Duration;

use clap::Subcommand;
use moose_control::mps::api::{MacGrant, MacRecord, PoolReport};

use crate::out;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Subcommand, Debug)]
pub enum MacCmd {
    /// Ask for the address of HANDLE (the same handle always gets the same
    /// address back).
    Request {
        handle: String,
        /// The address the device had before: granted if it is free.
        #[arg(long)]
        requested: Option<String>,
        /// The pool to take it from.
        #[arg(long)]
        pool: Option<String>,
        /// For an ipv4 pool: the IPv4 address the MAC is made of.
        #[arg(long)]
        ipv4: Option<String>,
        /// aai or eli (RFC 8948).
        #[arg(long)]
        quadrant: Option<String>,
    },
    /// HANDLE gives its address back.
    Release { handle: String },
    /// Take MAC back from whoever owns it (administrator).
    Reclaim { mac: String },
    /// Who owns MAC, or which address HANDLE owns.
    Show {
        /// A MAC address, or a handle.
        what: String,
    },
    /// Each pool's size, use and quotas.
    Pools,
}

/// Sends `method path body`; the body of a 2xx answer, else an error with
/// the API's message.
pub(crate) fn call(
    api: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<String> {
    let (status, text) = moose_mgmt::client::request(method, api, path, body, TIMEOUT)?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text);
    anyhow::bail!("{method} {path}: {status}: {msg}")
}

/// `?key=value` with the value percent-encoded (a handle is a URL).
fn query(key: &str, value: &str) -> String {
    let mut q = format!("?{key}=");
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    q
}

fn record_line(r: &MacRecord) -> String {
    format!(
        "{}  {}  pool {}",
        r.mac,
        r.handle,
        r.pool.as_deref().unwrap_or("(none)")
    )
}

pub fn run(cmd: MacCmd, api: &str, json: bool) -> anyhow::Result<()> {
    let print = |text: &str, human: String| {
        out::println(if json { text.trim_end() } else { &human });
    };
    match cmd {
        MacCmd::Request {
            handle,
            requested,
            pool,
            ipv4,
            quadrant,
        } => {
            let body = serde_json::to_string(&moose_control::mps::api::MacRequest {
                handle,
                requested,
                pool,
                ipv4,
                quadrant,
            })?;
            let text = call(api, "POST", "/api/v1/mac/request", Some(&body))?;
            let g: MacGrant = serde_json::from_str(&text)?;
            let mut line = format!(
                "{}  pool {}  {}",
                g.mac,
                g.pool.as_deref().unwrap_or("(none)"),
                if g.new { "new" } else { "existing" }
            );
            if let Some(r) = &g.requested {
                line += &format!("  requested: {r}");
            }
            print(&text, line);
        }
        MacCmd::Release { handle } => {
            let body = serde_json::json!({ "handle": handle }).to_string();
            let text = call(api, "POST", "/api/v1/mac/release", Some(&body))?;
            let r: MacRecord = serde_json::from_str(&text)?;
            print(&text, format!("released {}", record_line(&r)));
        }
        MacCmd::Reclaim { mac } => {
            let body = serde_json::json!({ "mac": mac }).to_string();
            let text = call(api, "POST", "/api/v1/mac/reclaim", Some(&body))?;
            let r: MacRecord = serde_json::from_str(&text)?;
            print(&text, format!("reclaimed {}", record_line(&r)));
        }
        MacCmd::Show { what } => {
            let q = if what.parse::<moose_wire::Mac>().is_ok() {
                query("mac", &what)
            } else {
                query("handle", &what)
            };
            let text = call(api, "GET", &format!("/api/v1/mac{q}"), None)?;
            let r: MacRecord = serde_json::from_str(&text)?;
            print(&text, record_line(&r));
        }
        MacCmd::Pools => {
            let text = call(api, "GET", "/api/v1/mac/pools", None)?;
            let pools: Vec<PoolReport> = serde_json::from_str(&text)?;
            let mut t = format!(
                "{:<12} {:<10} {:<9} {:<35} {:>10} {:>10} {:>10}  quotas\n",
                "pool", "policy", "quadrant", "range", "size", "used", "free"
            );
            for p in &pools {
                let quotas: Vec<String> = p
                    .quotas
                    .iter()
                    .map(|(k, q)| format!("{k:?} {}/{}", q.used, q.max))
                    .collect();
                t += &format!(
                    "{:<12} {:<10} {:<9} {:<35} {:>10} {:>10} {:>10}  {}\n",
                    p.name,
                    p.policy,
                    p.quadrant,
                    format!("{}-{}", p.first, p.last),
                    p.size,
                    p.used,
                    p.free,
                    quotas.join(", ")
                );
            }
            print(&text, t.trim_end().to_string());
        }
    }
    Ok(())
}
