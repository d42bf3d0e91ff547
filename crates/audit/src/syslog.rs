//! RFC 5424 syslog messages carrying DICOM audit messages, and sending them
//! to a collector over UDP (RFC 5426) or TCP (RFC 6587 octet counting), from
//! the log itself as a durable queue: a record leaves again until the
//! collector has it (at least once).

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
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

/// TLS settings of a repository connection (RFC 5425): the CA that signed the
/// repository's certificate, and this node's certificate for mutual
/// authentication, as IHE ATNA asks.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts the CA certificates in `ca_pem`; presents `identity` (a PEM
    /// certificate chain and its PEM private key) when given.
    pub fn new(ca_pem: &Path, identity: Option<(&Path, &Path)>) -> Result<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let tls = |p: &Path, e: &dyn std::fmt::Display| Error::Key {
            path: p.to_path_buf(),
            reason: e.to_string(),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_pem).map_err(|e| tls(ca_pem, &e))? {
            roots
                .add(cert.map_err(|e| tls(ca_pem, &e))?)
                .map_err(|e| tls(ca_pem, &e))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(ca_pem, &e))?
        .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| tls(cert, &e))?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| tls(cert, &e))?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(key, &e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| tls(cert, &e))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            config: Arc::new(config),
        })
    }
}

/// Where exported records go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// UDP, one datagram per message (RFC 5426).
    Udp(String),
    /// TCP, octet-counted frames (RFC 6587).
    Tcp(String),
    /// TLS over TCP, octet-counted frames (RFC 5425).
    Tls(String, TlsClient),
}

impl Destination {
    /// Parses `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` (which
    /// needs `tls`).
    pub fn parse(url: &str, tls: Option<TlsClient>) -> std::result::Result<Self, String> {
        if let Some(a) = url.strip_prefix("udp://") {
            Ok(Destination::Udp(a.to_string()))
        } else if let Some(a) = url.strip_prefix("tcp://") {
            Ok(Destination::Tcp(a.to_string()))
        } else if let Some(a) = url.strip_prefix("tls://") {
            let tls = tls.ok_or_else(|| {
                format!("{url:?}: TLS needs the repository's CA certificate (audit.syslog_ca)")
            })?;
            Ok(Destination::Tls(a.to_string(), tls))
        } else {
            Err(format!(
                "{url:?}: give udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT"
            ))
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Destination::parse(s, None)
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Udp(a) => write!(f, "udp://{a}"),
            Destination::Tcp(a) => write!(f, "tcp://{a}"),
            Destination::Tls(a, _) => write!(f, "tls://{a}"),
        }
    }
}

/// Octet-counted frames (RFC 6587 / RFC 5425) of a batch.
fn framed(batch: &[Record], host: &str, app: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in batch {
        let line = syslog_line(r, host, app);
        buf.extend_from_slice(format!("{} ", line.len()).as_bytes());
        buf.extend_from_slice(line.as_bytes());
    }
    buf
}

/// Writes a batch over TLS, closes our side (close_notify) and waits for the
/// collector to close its own.
fn send_tls(addr: &str, client: &TlsClient, buf: &[u8]) -> std::io::Result<()> {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let conn = rustls::ClientConnection::new(client.config.clone(), name)
        .map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(addr)?;
    sock.set_write_timeout(Some(Duration::from_secs(30)))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(buf)?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()?;
    let mut rest = Vec::new();
    match std::io::Read::read_to_end(&mut tls, &mut rest) {
        Ok(_) => Ok(()),
        // A collector may close the TCP connection without close_notify
        // once it has read everything.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
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
            Destination::Tls(addr, client) => {
                send_tls(addr, client, &framed(&batch, &host, app)).map_err(io)?;
            }
            Destination::Tcp(addr) => {
                let mut s = TcpStream::connect(addr.as_str()).map_err(io)?;
                s.set_write_timeout(Some(Duration::from_secs(30)))
                    .map_err(io)?;
                let buf = framed(&batch, &host, app);
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
