//! Serving the routes on a bound listener until a shutdown future
//! completes, as the DICOM server does: plain HTTP, or HTTPS when the
//! options give a certificate and key.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::routes::router;
use crate::state::WebState;
use crate::tls::{TlsListener, TlsPeer, server_config};

/// Serves the web routes on `listener` until `shutdown` completes; requests
/// under way are finished first.
pub async fn run(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match (&state.options().tls_cert, &state.options().tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            server_config(cert, key).map_err(std::io::Error::other)?,
        )),
        _ => None,
    };
    let app = router(state);
    match tls {
        Some(config) => {
            let listener = TlsListener::new(listener, config)?;
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<TlsPeer>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    }
}
