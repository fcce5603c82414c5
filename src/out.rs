//! Standard output that a closed pipe cannot crash: `moose config check
//! FILE | head -1` (or `| true`) ends quietly instead of panicking on
//! EPIPE.

use std::io::Write;

/// Writes `s` and a newline to stdout. If the reader has gone away the
/// process exits at once with status 0, as a well-behaved filter does;
/// any other write error exits with status 1.
pub fn println(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{s}").and_then(|()| out.flush()) {
        std::process::exit(if e.kind() == std::io::ErrorKind::BrokenPipe {
            0
        } else {
            1
        });
    }
}
