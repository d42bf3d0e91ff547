//! Configuration and wiring of the sansfilm services.
//!
//! The network crate (`sansfilm-dimse`) and the archive (`sansfilm-archive`) do
//! not know each other; this crate joins them, and holds the one configuration
//! file that every binary reads.
//!
//! - [`config`]: [`Config`], the TOML file (`--config FILE`), with embedded
//!   defaults so that every binary runs with no file at all.
//! - [`store`]: [`ArchiveStore`], the C-STORE service that writes into the
//!   archive and maps archive failures to DIMSE statuses.
//! - [`storage_scp`]: [`run_storage_scp`], [`run_worklist_scp`] and
//!   [`run_all_dicom`]: the DICOM servers as `storescp`, `wlmserver` and
//!   `sansfilm serve` run them.
//! - [`worklist_find`]: [`WorklistFind`], Modality Worklist C-FIND over the
//!   worklist store, shaped per device.
//! - [`qr_find`]: [`QrFind`], Query/Retrieve C-FIND (Patient Root, Study
//!   Root) over the archive's query API.
//! - [`prefetch`]: priors sent to the reading workstation when the RIS
//!   orders an exam.
//! - [`qr_move`]: [`QrMove`], Query/Retrieve C-MOVE over the archive.
//! - [`audit`]: what the services write to the audit trail, and forwarding
//!   it to an audit repository.
//! - [`compression`]: the archive's compression pass, in the background of
//!   the servers and from `sansfilm compress`, audited.
//! - [`logging`]: the service log the binaries install, with peer-controlled
//!   text escaped.
//! - [`repeated`]: repeated identical failures from one source recorded once
//!   with a count, so junk cannot flood the audit trail.
//! - [`startup`]: the quick consistency check a server runs when it starts.
//! - [`shutdown`]: a future that completes on SIGINT or SIGTERM.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sansfilm_services::{Config, run_storage_scp, shutdown::signal};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::default();
//! let archive = sansfilm_archive::Archive::open(&config.data_dir)?;
//! let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.storescp.port)).await?;
//! run_storage_scp(listener, Arc::new(config), archive, None, signal()).await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod backup;
pub mod compression;
pub mod config;
pub mod logging;
pub mod prefetch;
pub mod qr_find;
pub mod qr_move;
pub mod repeated;
pub mod scrub;
pub mod shutdown;
pub mod startup;
pub mod storage_scp;
pub mod store;
pub mod worklist_find;

pub use config::{Config, ConfigError};
pub use qr_find::QrFind;
pub use qr_move::QrMove;
pub use storage_scp::{run_all_dicom, run_everything, run_hl7, run_storage_scp, run_worklist_scp};
pub use store::ArchiveStore;
pub use worklist_find::WorklistFind;
