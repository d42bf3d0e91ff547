//! The error type of the worklist crate.

/// Errors of the worklist store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite store failed.
    #[error("worklist store error: {0}")]
    Store(#[from] rusqlite::Error),
    /// A stored entry cannot be read back.
    #[error("corrupt worklist entry {id}: {reason}")]
    Corrupt {
        /// Row id.
        id: i64,
        /// Why.
        reason: String,
    },
    /// No entry or patient matches the request.
    #[error("not found: {0}")]
    NotFound(String),
    /// A change cannot be applied (unknown patient or order, duplicate order).
    #[error("{}", .0.reason)]
    Rejected(crate::command::Rejection),
    /// A worklist file cannot be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
