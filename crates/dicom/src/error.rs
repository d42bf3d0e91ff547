//! The error type of this crate.

/// Errors raised while reading or writing DICOM data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file or data set could not be parsed as DICOM.
    #[error("cannot read DICOM data: {0}")]
    Read(#[source] Box<dicom_object::ReadError>),
    /// The file meta group could not be read, built or written.
    #[error("invalid file meta group: {0}")]
    Meta(#[source] Box<dicom_object::meta::Error>),
    /// An attribute that the archive needs is missing or empty.
    #[error("missing required attribute {0}")]
    MissingAttribute(&'static str),
    /// An attribute has a value that cannot be used.
    #[error("invalid value for {attribute}: {reason}")]
    InvalidAttribute {
        /// Keyword of the attribute.
        attribute: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The data set's structure is broken: a declared length runs past the
    /// bytes present, sequences nest too deep, an item header is missing.
    /// Found before any value is read (see [`crate::bounds`]).
    #[error("malformed data set at byte {offset}: {reason}")]
    Malformed {
        /// Position of the offending header.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error while writing.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<dicom_object::ReadError> for Error {
    fn from(e: dicom_object::ReadError) -> Self {
        Error::Read(Box::new(e))
    }
}

impl From<dicom_object::meta::Error> for Error {
    fn from(e: dicom_object::meta::Error) -> Self {
        Error::Meta(Box::new(e))
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
