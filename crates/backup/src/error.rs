//! Errors of backup, restore and drill.

use std::io;
use std::path::PathBuf;

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a backup, restore or drill could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed (the target is full, gone, or not
    /// writable; the message names the file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: io::Error,
    },
    /// A database of the data directory could not be copied or read.
    #[error("database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The target holds no sansfilm backup repository.
    #[error(
        "{0} is not a sansfilm backup repository (no sansfilm-repository.json); back up to it first"
    )]
    NotARepository(String),
    /// The snapshot asked for does not exist, or there is none.
    #[error("no snapshot {0}")]
    NoSnapshot(String),
    /// A snapshot's manifest cannot be read.
    #[error("snapshot {id}: unreadable manifest: {message}")]
    Manifest {
        /// The snapshot.
        id: String,
        /// The parser's message.
        message: String,
    },
    /// A removable disk target is not plugged in (or not mounted).
    #[error("backup target {0} is not connected (plug the disk in and mount it)")]
    NotConnected(String),
    /// The request cannot be carried out as asked (the message says why).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
