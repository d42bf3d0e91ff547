//! Durable ingest, on-disk layout and SQLite index of the sansfilm archive.
//!
//! - [`ingest`]: [`Archive`] opens a data directory; [`Archive::begin`] starts
//!   receiving an instance, [`Incoming::commit`] makes it durable and indexed
//!   before it returns (temporary file, fsync, rename, directory fsync, index
//!   commit).
//! - [`index`]: the SQLite index (WAL, group commit on one writer thread) with
//!   patient, study, series and instance levels.
//! - [`layout`]: where files live: `objects/STUDY/SERIES/SOP.dcm`, readable by any
//!   DICOM tool.
//! - [`compress`]: background lossless compression, each result proven bit
//!   for bit before it replaces the original, crash-safe swap.
//! - [`objects`]: the object store seam: instances are read by
//!   [`ObjectKey`] through an [`ObjectStore`] (files under the data directory
//!   here: [`FileObjects`]), whole, by range, streamed or as a local file.
//! - [`query`]: the query API every retrieval path uses ([`Query`] by
//!   [`Level`], matching shared with the worklist), answered from the index
//!   with the computed attributes (Modalities in Study, related counts).
//! - [`reindex`]: a new index built from the object files alone.
//! - [`scrub`]: the quality-control pass: a slice of the objects re-read
//!   and hashed (oldest check first, the whole archive once per period), a
//!   share of the compressed images decoded.
//! - [`verify`]: re-hashes every stored file against the index, finds missing
//!   and orphan files, and indexes orphans back.
//!
//! All calls block (file and SQLite I/O); async servers call them from
//! `tokio::task::spawn_blocking`.
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_archive::{Archive, IncomingMeta, StoreOutcome};
//!
//! let archive = Archive::open("sansfilm-data")?;
//! let mut incoming = archive.begin(IncomingMeta {
//!     sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
//!     sop_instance_uid: "1.2.3.4".into(),
//!     transfer_syntax: "1.2.840.10008.1.2.1".into(),
//!     calling_ae: "CT01".into(),
//!     called_ae: "SANSFILM".into(),
//!     max_bytes: None,
//! })?;
//! # let dataset_bytes: Vec<u8> = vec![];
//! incoming.write(&dataset_bytes)?; // as P-DATA fragments arrive
//! match incoming.commit()? {
//!     StoreOutcome::Stored { path, .. } => println!("stored at {}", path.display()),
//!     StoreOutcome::Duplicate { .. } => println!("already stored"),
//!     StoreOutcome::Conflict { path, .. } => println!("other content, kept at {}", path.display()),
//! }
//! # Ok::<(), sansfilm_archive::Error>(())
//! ```

pub mod compress;
mod error;
pub mod index;
pub mod ingest;
pub mod layout;
pub mod objects;
pub mod query;
pub mod reindex;
mod schema;
pub mod scrub;
pub mod verify;

pub use compress::{CompressReport, CompressionPolicy, awaiting_compression};
pub use error::{Error, FailureKind, Result};
pub use index::{Index, IndexCounts, StoredInstance};
pub use ingest::{Archive, Incoming, IncomingMeta, StoreOutcome};
pub use objects::{FileObjects, LocalObject, ObjectKey, ObjectStore};
pub use query::{Level, Query};
pub use scrub::{ScrubPolicy, ScrubReport};
pub use verify::VerifyReport;
