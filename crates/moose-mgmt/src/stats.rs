//! The server's own counters, for the binary to export to Prometheus.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the management server. Written by the server thread only,
/// read by anyone: every field is a relaxed atomic, and a reader gets each
/// value as it was at some moment, not all at one moment.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) header_timeouts: AtomicU64,
    pub(crate) write_timeouts: AtomicU64,
    pub(crate) active: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) handler_timeouts: AtomicU64,
}

/// The values of [`ServerStats`] as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections `accept` returned, refused ones included.
    pub accepted: u64,
    /// Connections closed at once because `max_connections` were open.
    pub refused: u64,
    /// `accept` calls that failed (`EMFILE`, `ECONNABORTED`, ...).
    pub accept_errors: u64,
    /// Connections closed because a request head did not arrive in time.
    pub header_timeouts: u64,
    /// Connections closed because a write made no progress in time.
    pub write_timeouts: u64,
    /// Connections being served now.
    pub active: u64,
    /// Requests whose head was read and handed to the router.
    pub requests: u64,
    /// Handlers that panicked (answered 500, or cut off mid-body).
    pub handler_panics: u64,
    /// Handlers that did not answer within `request_timeout` (answered 503),
    /// or whose streamed body stalled that long.
    pub handler_timeouts: u64,
}

/// Whether a [`Metric`] only grows or goes up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

impl MetricKind {
    /// The name Prometheus' text format uses in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// One exported value: what the binary needs to render it without knowing
/// the fields of [`ServerStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub value: u64,
}

impl ServerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            accept_errors: get(&self.accept_errors),
            header_timeouts: get(&self.header_timeouts),
            write_timeouts: get(&self.write_timeouts),
            active: get(&self.active),
            requests: get(&self.requests),
            handler_panics: get(&self.handler_panics),
            handler_timeouts: get(&self.handler_timeouts),
        }
    }

    /// Every value as a (name, help, type, value) row, in a fixed order.
    pub fn metrics(&self) -> [Metric; 9] {
        use MetricKind::{Counter, Gauge};
        let s = self.snapshot();
        let m = |name, help, kind, value| Metric {
            name,
            help,
            kind,
            value,
        };
        [
            m(
                "moose_api_connections_accepted_total",
                "Management connections accepted, refused ones included.",
                Counter,
                s.accepted,
            ),
            m(
                "moose_api_connections_refused_total",
                "Management connections closed at once because max_connections were open.",
                Counter,
                s.refused,
            ),
            m(
                "moose_api_accept_errors_total",
                "Failed accept calls on the management listener (EMFILE, ECONNABORTED, ...).",
                Counter,
                s.accept_errors,
            ),
            m(
                "moose_api_header_timeouts_total",
                "Management connections closed because a request head did not arrive in time.",
                Counter,
                s.header_timeouts,
            ),
            m(
                "moose_api_write_timeouts_total",
                "Management connections closed because the client did not read its responses.",
                Counter,
                s.write_timeouts,
            ),
            m(
                "moose_api_connections_active",
                "Management connections being served now.",
                Gauge,
                s.active,
            ),
            m(
                "moose_api_requests_total",
                "Management requests handed to the router.",
                Counter,
                s.requests,
            ),
            m(
                "moose_api_handler_panics_total",
                "Management handlers that panicked.",
                Counter,
                s.handler_panics,
            ),
            m(
                "moose_api_handler_timeouts_total",
                "Management handlers that did not answer within request_timeout.",
                Counter,
                s.handler_timeouts,
            ),
        ]
    }
}
