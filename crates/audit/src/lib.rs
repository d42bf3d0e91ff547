//! The tamper-evident audit trail of the sansfilm archive.
//!
//! Every transfer, query, patient or order change, backup, association and
//! security alert is appended to a hash-chained log that nobody can alter
//! unnoticed, and that exports as DICOM audit messages (PS3.15 A.5) in RFC
//! 5424 syslog messages, as a hospital's audit repository receives them.
//!
//! - [`event`]: [`AuditEvent`], the event model after PS3.15 A.5.
//! - [`log`]: [`AuditLog`], the append-only SQLite log: SHA-256 chain, HMAC
//!   seal under a key kept apart, group-committed durable appends,
//!   verification against checkpoints, filtered reading.
//! - [`xml`]: the DICOM audit message of a record.
//! - [`syslog`]: RFC 5424 lines, and sending to a collector over UDP or TCP
//!   from the log as a durable queue.
//!
//! # Example
//!
//! ```
//! use sansfilm_audit::{AuditLog, AuditEvent, event::{EventKind, Action, Outcome}};
//!
//! let dir = tempfile::tempdir()?;
//! let log = AuditLog::open(dir.path(), None)?;
//! let head = log.append(
//!     AuditEvent::new(EventKind::InstancesTransferred, "received", Action::Create, Outcome::Success)
//!         .participant("CT01", "192.168.10.21", true)
//!         .patient("4711")
//!         .study("1.2.826.0.1.3680043.10.1")
//!         .instances(1),
//! )?;
//! assert!(log.verify(Some(&head))?.is_intact());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod event;
pub mod log;
pub mod syslog;
pub mod xml;

pub use error::{Error, Result};
pub use event::AuditEvent;
pub use log::{AuditLog, Checkpoint, Filter, Record, VerifyReport};
