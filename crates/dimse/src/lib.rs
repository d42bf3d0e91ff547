//! DICOM network services for the sansfilm archive over dicom-ul and tokio:
//! C-ECHO, C-STORE, C-FIND (worklist and Query/Retrieve), C-MOVE and C-GET
//! as a server (SCP), and C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET as a
//! client.
//!
//! - [`server`]: [`run`] serves associations on a bound listener until a
//!   shutdown future completes: connections wait at a gate until their
//!   A-ASSOCIATE-RQ, association limits (allow-listed AEs have their own),
//!   TCP_NODELAY, ARTIM and idle timeouts, calling-AE access control and
//!   per-AE permissions, graceful drain.
//! - [`service`]: the traits a server calls: [`StoreService`] and
//!   [`StoreSink`], [`FindService`] (routed by query model),
//!   [`RetrieveService`] (C-MOVE and C-GET). The archive implements them;
//!   this crate knows nothing of storage. Inside, one file per service:
//!   C-FIND, C-MOVE (sub-operations over associations of our own) and C-GET
//!   (sub-operations on the requester's association, role selection).
//! - [`socket`]: TCP options; connection gating comes from `sansfilm-net`.
//! - [`options`]: [`ServerOptions`] and [`AccessPolicy`], deserialisable from
//!   the configuration file.
//! - [`command`] and [`status`]: DIMSE command sets and status codes.
//! - [`client`]: [`client::echo`] and [`client::send_files`], used by tests,
//!   benches and `sansfilm send`; [`client_query`]: C-FIND and C-MOVE as an
//!   SCU (`sansfilm find`, `sansfilm move`); [`client_get`]: C-GET as an SCU
//!   (`sansfilm get`), instances written durably as they come.
//!
//! Every Storage SOP class of the standard is accepted (recognised through the
//! DICOM dictionary), in every transfer syntax of
//! [`sansfilm_dicom::syntax::STORAGE_TRANSFER_SYNTAXES`].
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sansfilm_dimse::{ServerOptions, Services, run};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:11112").await?;
//! let services = Services::default(); // C-ECHO only; set `store` to receive images
//! run(listener, Arc::new(ServerOptions::default()), services, tokio::signal::ctrl_c()).await?;
//! # Ok(()) }
//! ```

mod association;
pub mod client;
pub mod client_get;
pub mod client_query;
pub mod command;
mod error;
mod find_scp;
#[doc(hidden)]
pub mod fuzz;
mod get_scp;
mod lanes;
mod move_scp;
pub mod negotiation;
pub mod options;
mod outgoing;
mod retrieve;
pub mod server;
pub mod service;
pub mod socket;
pub mod status;
mod store_scp;

pub use error::{Error, Result};
pub use options::{AccessPolicy, AllowedPeer, Destination, Operation, ServerOptions};
pub use server::run;
pub use service::{
    Failure, FindContext, FindService, RetrieveContext, RetrieveItem, RetrieveService,
    ServerEvents, Services, StoreContext, StoreService, StoreSink, Stored,
};
