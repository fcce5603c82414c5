//! What the runtime needs from the port backend: each port's link state and
//! MTU, and re-attaching a device whose interface was re-created.
//!
//! The DPDK implementation (in the binary) reads them from ethdev and, for
//! `net_af_packet`, from the kernel interface; [`StaticPorts`] is for
//! backends without link state (tests, in-memory rings).

use moose_dataplane::io::Backend;
use moose_wire::PortId;

/// A port as the backend sees it now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortState {
    pub up: bool,
    /// Longest untagged frame the port may transmit (MTU + 14).
    pub tx_max: u16,
    /// The device must be re-attached before it works again (its kernel
    /// interface was deleted and created again).
    pub needs_reattach: bool,
}

/// The queue handles of one port: `rx` by queue index, `tx` by worker.
pub struct PortQueues<B: Backend> {
    pub rx: Vec<(u16, B::Rx)>,
    pub tx: Vec<(usize, B::Tx)>,
}

pub trait PortDriver<B: Backend>: Send {
    /// The port's state now (called every [`LINK_POLL`](crate::runtime::LINK_POLL)).
    fn state(&mut self, port: PortId) -> PortState;

    /// Re-attaches the port's device, given every queue handle of the port
    /// (`None` when an earlier attempt failed and consumed them), and
    /// returns the fresh handles, with the same queue indices and workers.
    fn reattach(
        &mut self,
        port: PortId,
        queues: Option<PortQueues<B>>,
    ) -> Result<PortQueues<B>, String>;
}

/// Ports that are always up, with a fixed frame limit.
pub struct StaticPorts {
    pub tx_max: u16,
}

impl<B: Backend> PortDriver<B> for StaticPorts {
    fn state(&mut self, _port: PortId) -> PortState {
        PortState {
            up: true,
            tx_max: self.tx_max,
            needs_reattach: false,
        }
    }

    fn reattach(
        &mut self,
        _port: PortId,
        queues: Option<PortQueues<B>>,
    ) -> Result<PortQueues<B>, String> {
        queues.ok_or_else(|| "static ports cannot be re-attached".to_string())
    }
}
