//! The blocking client `moose show` uses to ask a running appliance. Its
//! errors are meant to be printed to an operator as they are.

use std::io::Read as _;
use std::time::Duration;

/// The most of an answer [`get`] reads (a full FDB dump fits many times).
const MAX_ANSWER: u64 = 1 << 30;
/// The most of an error answer's body an error message carries.
const MAX_ERROR_BODY: usize = 2048;

/// Why [`get`] has no answer; the message says it plainly.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr} (is moose running with metrics.listen set?): {reason}")]
    Connect { addr: String, reason: String },
    #[error("no answer from {addr} for {path} within {timeout:?}")]
    Timeout {
        addr: String,
        path: String,
        timeout: Duration,
    },
    #[error("{addr} answered {path} with HTTP {status}: {body}")]
    Status {
        addr: String,
        path: String,
        status: u16,
        body: String,
    },
    #[error("cannot ask {addr} for {path}: {reason}")]
    Request {
        addr: String,
        path: String,
        reason: String,
    },
}

/// GETs `path` from the management server at `addr` (`host:port`) and
/// returns the body of a 2xx answer. `timeout` bounds the whole exchange.
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<String, ClientError> {
    let (status, body) = request("GET", addr, path, None, timeout)?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(ClientError::Status {
            addr: addr.to_string(),
            path: if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            },
            status,
            body: shorten(body.trim_end()),
        })
    }
}

/// Sends `method path` (with a JSON `body`, if any) to the management
/// server at `addr` and returns the status and body of whatever it
/// answers, so that the caller can read an error answer's JSON. `timeout`
/// bounds the whole exchange.
pub fn request(
    method: &str,
    addr: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), ClientError> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let url = format!("http://{addr}{path}");
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(timeout)
        .timeout(timeout)
        .redirects(0)
        .build();
    let request_error = |reason: String| ClientError::Request {
        addr: addr.to_string(),
        path: path.clone(),
        reason,
    };
    let timed_out = || ClientError::Timeout {
        addr: addr.to_string(),
        path: path.clone(),
        timeout,
    };
    let req = agent.request(method, &url);
    let sent = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    let resp = match sent {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(ureq::Error::Transport(t)) => {
            let io_kind = std::error::Error::source(&t)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .map(|e| e.kind());
            if matches!(
                io_kind,
                Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
            ) {
                return Err(timed_out());
            }
            let reason = transport_reason(&t);
            return Err(match t.kind() {
                ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => ClientError::Connect {
                    addr: addr.to_string(),
                    reason,
                },
                _ => request_error(reason),
            });
        }
    };
    let status = resp.status();
    let mut body = String::new();
    if let Err(e) = resp
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut body)
    {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            return Err(timed_out());
        }
        return Err(request_error(format!("reading the answer: {e}")));
    }
    Ok((status, body))
}

/// The most specific text a transport error has: its cause's, if any.
fn transport_reason(t: &ureq::Transport) -> String {
    match (std::error::Error::source(t), t.message()) {
        (Some(source), _) => source.to_string(),
        (None, Some(msg)) => msg.to_string(),
        (None, None) => t.to_string(),
    }
}

fn shorten(s: &str) -> String {
    if s.len() <= MAX_ERROR_BODY {
        return s.to_string();
    }
    let mut end = MAX_ERROR_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
