//! The error type of the archive.

use std::path::PathBuf;

/// What kind of failure a store met, as a peer should learn it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Disk full, quota exceeded, index unavailable: try again later (DIMSE A700).
    OutOfResources,
    /// The data set cannot be parsed or lacks required keys (DIMSE C000).
    CannotUnderstand,
    /// The data set does not match the command's SOP class or instance (DIMSE A900).
    DataSetMismatch,
    /// Anything else that went wrong while storing (DIMSE 0110).
    Processing,
}

/// Errors of the archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk holding the data directory is full (or a quota is exhausted).
    #[error("no space left for {path}: {source}")]
    StorageFull {
        /// File being written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Another I/O failure on a file of the data directory.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The SQLite index failed.
    #[error("index error: {0}")]
    Index(#[from] rusqlite::Error),
    /// The index writer thread is gone (the archive is shutting down or crashed).
    #[error("index unavailable: {0}")]
    IndexUnavailable(String),
    /// The received data set cannot be read as DICOM.
    #[error("cannot understand the data set: {0}")]
    Invalid(#[from] sansfilm_dicom::Error),
    /// The data set does not agree with the command that carried it.
    #[error("{attribute} of the data set ({dataset}) differs from the command ({command})")]
    Mismatch {
        /// Keyword of the attribute.
        attribute: &'static str,
        /// Value in the data set.
        dataset: String,
        /// Value in the command.
        command: String,
    },
    /// The instance is larger than the configured ceiling
    /// (`[dicom] max_instance_bytes`, counted once inflated).
    #[error("larger than [dicom] max_instance_bytes = {max}")]
    TooLarge {
        /// The ceiling.
        max: u64,
    },
    /// Another process holds the archive for the same work (a compression
    /// pass already running).
    #[error("busy: {0}")]
    Busy(String),
    /// An instance's index row changed while it was being compressed (a
    /// repair or another writer): the compressed copy is dropped and the
    /// row left as the other writer made it.
    #[error("{0} changed in the index during compression; left as it is")]
    ChangedMeanwhile(PathBuf),
    /// An object key that could name something outside the store.
    #[error("not a valid object key: {0:?}")]
    BadKey(String),
    /// The index names an object the store does not hold.
    #[error("object {0} is missing from the store")]
    MissingObject(String),
    /// A setting (compression policy…) is not valid.
    #[error("configuration: {0}")]
    Config(String),
    /// The data directory is not usable.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error, recognising a full disk.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::StorageFull { path, source },
            _ => Error::Io { path, source },
        }
    }

    /// The kind of failure, to choose the status a peer receives.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::StorageFull { .. } | Error::IndexUnavailable(_) | Error::TooLarge { .. } => {
                FailureKind::OutOfResources
            }
            Error::Index(e) if is_busy_or_full(e) => FailureKind::OutOfResources,
            Error::Invalid(_) => FailureKind::CannotUnderstand,
            Error::Mismatch { .. } => FailureKind::DataSetMismatch,
            _ => FailureKind::Processing,
        }
    }
}

fn is_busy_or_full(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | DiskFull | CannotOpen | ReadOnly | SystemIoFailure)
    )
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
