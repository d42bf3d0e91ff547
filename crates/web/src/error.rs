//! The error type of the web crate, and how each error answers a request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors of the web services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or wrong ones (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Known, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// The resource exists in another state (409).
    #[error("{0}")]
    Conflict(String),
    /// The representation asked for cannot be produced (406).
    #[error("{0}")]
    NotAcceptable(String),
    /// The request body's media type is not one this resource takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// The archive failed.
    #[error("archive: {0}")]
    Archive(#[from] sansfilm_archive::Error),
    /// The accounts database failed.
    #[error("accounts database: {0}")]
    Accounts(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{}: {}", .0.display(), .1)]
    Io(std::path::PathBuf, std::io::Error),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Archive(sansfilm_archive::Error::MissingObject(_)) => StatusCode::NOT_FOUND,
            Error::Archive(_) | Error::Accounts(_) | Error::Io(..) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        } else {
            tracing::debug!(status = status.as_u16(), "{self}");
        }
        let mut rsp = (status, format!("{self}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            rsp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"sansfilm\", charset=\"UTF-8\""),
            );
        }
        rsp
    }
}

/// A blocking call on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}
