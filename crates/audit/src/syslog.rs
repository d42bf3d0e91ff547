//! RFC 5424 syslog messages carrying DICOM audit messages, and sending them
//! to a collector over UDP (RFC 5426) or TCP (RFC 6587 octet counting), from
//! the log itself as a durable queue: a record leaves again until the
//! collector has it (at least once).

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use crate::event::Outcome;
use crate::log::{AuditLog, Filter, Record};
use crate::xml::audit_message;
use crate::{Error, Result};

/// The host name of this machine, for syslog headers.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// One RFC 5424 message: facility 10 (security/authorization), severity
/// notice, or warning for a failure; MSGID `IHE+RFC-3881`; the DICOM audit
/// message as body.
pub fn syslog_line(record: &Record, host: &str, app: &str) -> String {
    let severity = if record.event.outcome == Outcome::Success {
        5
    } else {
        4
    };
    let pri = 10 * 8 + severity;
    // The record's sequence number travels as structured data (SD-ID under
    // the documentation enterprise number 32473), so a repository can tell a
    // resent record from a new one and see that none is missing.
    format!(
        "<{pri}>1 {} {host} {app} {} IHE+RFC-3881 [sansfilm@32473 seq=\"{}\"] {}",
        record.time,
        std::process::id(),
        record.seq,
        audit_message(record, &format!("{app}@{host}"))
    )
}

/// Where exported records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// UDP, one datagram per message (RFC 5426).
    Udp(String),
    /// TCP, octet-counted frames (RFC 6587).
    Tcp(String),
}

impl std::str::FromStr for Destination {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(a) = s.strip_prefix("udp://") {
            Ok(Destination::Udp(a.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(Destination::Tcp(a.to_string()))
        } else {
            Err(format!("{s:?}: give udp://HOST:PORT or tcp://HOST:PORT"))
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Udp(a) => write!(f, "udp://{a}"),
            Destination::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Sends every record the destination has not acknowledged yet (its cursor
/// in the log), in batches; the cursor moves only after a batch is written.
/// Returns how many records were sent. A collector that is down leaves the
/// cursor where it was: the backlog goes out on the next call.
pub fn send_pending(log: &AuditLog, dest: &Destination, app: &str) -> Result<usize> {
    let key = dest.to_string();
    let host = hostname();
    let mut sent = 0;
    let io = |e: std::io::Error| Error::io(key.clone(), e);
    loop {
        let after = log.export_cursor(&key)?;
        let batch = log.records(&Filter {
            after_seq: Some(after),
            limit: 500,
            ..Default::default()
        })?;
        let Some(last) = batch.last().map(|r| r.seq) else {
            return Ok(sent);
        };
        match dest {
            Destination::Udp(addr) => {
                let sock = UdpSocket::bind("0.0.0.0:0").map_err(io)?;
                for r in &batch {
                    sock.send_to(syslog_line(r, &host, app).as_bytes(), addr.as_str())
                        .map_err(io)?;
                }
            }
            Destination::Tcp(addr) => {
                let mut s = TcpStream::connect(addr.as_str()).map_err(io)?;
                s.set_write_timeout(Some(Duration::from_secs(30)))
                    .map_err(io)?;
                let mut buf = Vec::new();
                for r in &batch {
                    let line = syslog_line(r, &host, app);
                    buf.extend_from_slice(format!("{} ", line.len()).as_bytes());
                    buf.extend_from_slice(line.as_bytes());
                }
                s.write_all(&buf).and_then(|_| s.flush()).map_err(io)?;
                // Plain syslog over TCP has no acknowledgement: close our side
                // and wait for the collector to close its own, which it does
                // once it has read everything. Only then does the cursor move;
                // a collector that dies meanwhile makes the batch go again.
                s.shutdown(std::net::Shutdown::Write).map_err(io)?;
                s.set_read_timeout(Some(Duration::from_secs(30)))
                    .map_err(io)?;
                let mut rest = Vec::new();
                std::io::Read::read_to_end(&mut s, &mut rest).map_err(io)?;
            }
        }
        log.set_export_cursor(&key, last)?;
        sent += batch.len();
    }
}
