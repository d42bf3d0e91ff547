//! The error type of the codec crate.

/// Errors of the codecs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image has a layout or syntax this codec does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The image must be left as it is: compressing it would lose something
    /// (data in the bits above Bits Stored, for instance).
    #[error("unsuitable for compression: {0}")]
    Unsuitable(String),
    /// The encoder failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// Encoded data is damaged (truncated, lying lengths).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The re-decoded pixels differ from the original: the result is refused.
    #[error("verification failed: {0}")]
    VerificationFailed(String),
    /// Decoding through dicom-pixeldata failed.
    #[error("cannot decode the pixel data: {0}")]
    Decode(String),
    /// A required image attribute is missing.
    #[error("missing attribute {0}")]
    Missing(&'static str),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
