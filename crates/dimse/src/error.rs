//! The error type of the DIMSE layer.

/// Errors of the DICOM network services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Upper layer (association, PDU) failure.
    #[error("association error: {0}")]
    Association(#[from] Box<dicom_ul::association::Error>),
    /// A DIMSE command could not be read or written.
    #[error("malformed DIMSE command: {0}")]
    Command(String),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A timeout expired.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The peer rejected the association.
    #[error("association rejected: {0}")]
    Rejected(String),
    /// The peer aborted the association.
    #[error("association aborted by the peer")]
    Aborted,
    /// No presentation context can carry this instance.
    #[error("no accepted presentation context for SOP class {sop_class} in {transfer_syntax}")]
    NoPresentationContext {
        /// SOP Class UID.
        sop_class: String,
        /// Transfer syntax of the file.
        transfer_syntax: String,
    },
    /// Reading a DICOM file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        source: sansfilm_dicom::Error,
    },
    /// I/O failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<dicom_ul::association::Error> for Error {
    fn from(e: dicom_ul::association::Error) -> Self {
        Error::Association(Box::new(e))
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
