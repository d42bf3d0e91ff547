//! The error type of the audit crate.

use std::path::PathBuf;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite log failed.
    #[error("audit log error: {0}")]
    Store(#[from] rusqlite::Error),
    /// The writer thread is gone.
    #[error("audit log unavailable: {0}")]
    Unavailable(String),
    /// A record cannot be decoded.
    #[error("audit record {seq} cannot be read: {reason}")]
    Corrupt {
        /// Sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The key cannot be read or created.
    #[error("audit key {path}: {reason}")]
    Key {
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
