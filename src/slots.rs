//! `moose slots show|reserve|unreserve|modify`: the NIC MAC slots of a
//! running appliance, through its JSON API (`/api/v1/slots`).

use clap::Subcommand;
use moose_control::nicslots::api::{PortSlots, Reserved};

use crate::mac::call;
use crate::out;

#[derive(Subcommand, Debug)]
pub enum SlotsCmd {
    /// Every port's filter (or PORT's): mode, entries, slots.
    Show { port: Option<String> },
    /// Reserve a slot of PORT for MAC, for OWNER; prints the token.
    Reserve {
        port: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        mac: String,
    },
    /// Give slot SLOT of PORT back (the owner's token).
    Unreserve {
        port: String,
        slot: usize,
        #[arg(long)]
        token: String,
    },
    /// Change the address of slot SLOT of PORT (the owner's token).
    Modify {
        port: String,
        slot: usize,
        #[arg(long)]
        token: String,
        #[arg(long)]
        mac: String,
    },
}

fn table(ports: &[PortSlots]) -> String {
    let mut t = String::new();
    for p in ports {
        t += &format!(
            "{}: {}{}, {} filter entries ({} free), burned-in {}, {} frames filtered in software\n",
            p.port,
            p.mode,
            if p.emulated { " (emulated filter)" } else { "" },
            p.total,
            p.free,
            p.burned_in,
            p.filtered_frames
        );
        for s in p.slots.iter().filter(|s| s.slot > 0) {
            t += &format!(
                "  slot {:<3} {}  {}  {}\n",
                s.slot,
                s.mac,
                if s.in_nic { "in NIC  " } else { "software" },
                s.owner.as_deref().unwrap_or("")
            );
        }
    }
    t.trim_end().to_string()
}

fn reserved_line(r: &Reserved) -> String {
    format!(
        "{} slot {}: {} ({}; port mode {})  token {}",
        r.port,
        r.slot,
        r.mac,
        if r.in_nic { "in NIC" } else { "software" },
        r.mode,
        r.token
    )
}

pub fn run(cmd: SlotsCmd, api: &str, json: bool) -> anyhow::Result<()> {
    let print = |text: &str, human: String| {
        out::println(if json { text.trim_end() } else { &human });
    };
    match cmd {
        SlotsCmd::Show { port } => {
            let text = call(api, "GET", "/api/v1/slots", None)?;
            let mut ports: Vec<PortSlots> = serde_json::from_str(&text)?;
            if let Some(p) = &port {
                ports.retain(|x| &x.port == p);
                if ports.is_empty() {
                    anyhow::bail!("no port named {p:?}");
                }
            }
            print(&serde_json::to_string(&ports)?, table(&ports));
        }
        SlotsCmd::Reserve { port, owner, mac } => {
            let body = serde_json::json!({ "owner": owner, "mac": mac }).to_string();
            let text = call(
                api,
                "POST",
                &format!("/api/v1/slots/{port}/reserve"),
                Some(&body),
            )?;
            let r: Reserved = serde_json::from_str(&text)?;
            print(&text, reserved_line(&r));
        }
        SlotsCmd::Unreserve { port, slot, token } => {
            let body = serde_json::json!({ "slot": slot, "token": token }).to_string();
            let text = call(
                api,
                "POST",
                &format!("/api/v1/slots/{port}/unreserve"),
                Some(&body),
            )?;
            let p: PortSlots = serde_json::from_str(&text)?;
            print(&text, table(&[p]));
        }
        SlotsCmd::Modify {
            port,
            slot,
            token,
            mac,
        } => {
            let body = serde_json::json!({ "slot": slot, "token": token, "mac": mac }).to_string();
            let text = call(
                api,
                "POST",
                &format!("/api/v1/slots/{port}/modify"),
                Some(&body),
            )?;
            let r: Reserved = serde_json::from_str(&text)?;
            print(&text, reserved_line(&r));
        }
    }
    Ok(())
}
