//! The web side of the sansfilm archive: DICOMweb (PS3.18) for viewers and
//! scripts, the OHIF viewer served from the same origin, the practice's
//! page of studies, practice users and share codes for referring
//! physicians and patients.
//!
//! - [`server::run`]: serves the routes on a bound listener until a
//!   shutdown future completes (axum over tokio), like the DICOM server;
//!   [`tls`]: HTTPS with rustls, handshakes bounded in time and number.
//! - [`qido`]: QIDO-RS search of studies, series and instances through the
//!   archive's query API (the C-FIND matching rules).
//! - [`wado`]: WADO-RS retrieval (`multipart/related` of Part 10 files,
//!   decoded to a native syntax unless the client takes the stored one),
//!   metadata (DICOM JSON, bulk data by URI; [`metadata`]: series documents
//!   kept gzip in memory, rebuilt when the series changes), bulk data;
//!   [`frames`]: frames as stored or decoded, rendered images and
//!   thumbnails.
//! - [`stow`]: STOW-RS through the archive's durable ingest.
//! - [`accounts`]: users (argon2 passwords, roles), login sessions, shares
//!   of a study or a patient (a link token and a short code with PIN,
//!   stored hashed, expiring, revocable, locked after wrong PINs);
//!   [`access`]: who calls, for every request (session cookie, or HTTP
//!   Basic over HTTPS or from this machine), and what a share holder may
//!   see.
//! - [`pages`], [`practice`], [`viewer`]: login, share link and code pages,
//!   the practice's list of studies, OHIF's files and configuration.
//! - [`audit`]: what is written to the audit trail.
//!
//! Every DICOMweb route requires a practice user or a share session; a
//! share holder reaches only the share's study (or patient): other studies
//! are not found.
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_web::{WebOptions, WebState, accounts::Accounts, server::run};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let archive = sansfilm_archive::Archive::open("sansfilm-data")?;
//! let accounts = Accounts::open(std::path::Path::new("sansfilm-data"))?;
//! let state = WebState::new(archive, accounts, None, WebOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! run(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod accept;
pub mod access;
pub mod accounts;
pub mod audit;
mod error;
pub mod frames;
pub mod metadata;
pub mod multipart;
pub mod options;
pub mod pages;
pub mod practice;
pub mod qido;
pub mod routes;
pub mod server;
pub mod state;
pub mod stow;
pub mod tls;
pub mod viewer;
pub mod wado;

pub use error::{Error, Result};
pub use options::WebOptions;
pub use state::WebState;
