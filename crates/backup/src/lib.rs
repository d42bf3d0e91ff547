//! Backups of a sansfilm data directory that restore, and prove it.
//!
//! - [`backup()`]: a snapshot taken while the servers run: consistent copies
//!   of the SQLite databases (online backup, 1 MiB chunks) and the stored instances, sent
//!   once each (they never change), checked against the index's SHA-256 as
//!   they are read.
//! - [`manifest`]: each snapshot names every file it holds, with size and
//!   SHA-256, so a restore can be proven complete.
//! - [`repository`]: content-addressed blobs and manifests on a [`Store`];
//!   [`DirStore`] keeps them in a directory (second disk, removable disk,
//!   network mount). A store has no delete: the archive server never needs
//!   the right to remove a backup.
//! - [`s3`]: an S3-compatible bucket as a store, for the off-site copy
//!   (checksummed uploads, no deletes).
//! - [`crypt`]: an encrypted repository (age), for copies that leave the
//!   practice.
//! - [`restore()`] into a new data directory; [`drill()`] restores into a
//!   scratch directory and proves the result identical to the live archive
//!   as it was at the snapshot, decoding a sample of images.
//! - [`prune()`]: old snapshots forgotten by retention rules and the blobs
//!   they alone named removed; the one deletion, meant to run elsewhere.
//! - [`repair`]: a damaged object of the archive put back from a backup.
//! - [`target`]: `[[backup.targets]]` of the configuration, and how a
//!   removable disk is found by its label; [`state`]: when each target last
//!   had a backup.
//!
//! Every call blocks (file and SQLite I/O).
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_backup::{BackupOptions, DirStore, Repository, backup, drill};
//!
//! let repo = Repository::open_or_create(Box::new(DirStore::open("/mnt/backup")?))?;
//! let summary = backup("sansfilm-data".as_ref(), &repo, &BackupOptions::default(), &|_| {})?;
//! println!("{} objects, {} sent", summary.objects, summary.objects_sent);
//!
//! let report = drill(
//!     "sansfilm-data".as_ref(),
//!     &repo,
//!     &summary.snapshot,
//!     "/tmp/drill".as_ref(),
//!     50,
//!     &|_| {},
//! )?;
//! assert!(report.passed(), "{}", report.to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backup;
pub mod crypt;
pub mod drill;
mod error;
pub mod manifest;
pub mod prune;
pub mod repair;
pub mod repository;
pub mod restore;
pub mod s3;
pub mod state;
pub mod store;
pub mod target;
mod workers;

pub use backup::{BackupOptions, BackupSummary, Progress, backup};
pub use crypt::Key;
pub use drill::{DrillReport, drill};
pub use error::{Error, Result};
pub use manifest::{Entry, EntryKind, Problem, Snapshot};
pub use prune::{KeepPolicy, PruneOptions, PruneReport, prune};
pub use repository::Repository;
pub use restore::{DeferredInstance, RestoreReport, restore};
pub use s3::S3Store;
pub use store::{DirStore, Store};
pub use target::{BackupConfig, TargetConfig};
