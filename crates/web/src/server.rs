//! Serving the routes on a bound listener until a shutdown future
//! completes, as the DICOM server does.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::routes::router;
use crate::state::WebState;

/// Serves the web routes on `listener` until `shutdown` completes; requests
/// under way are finished first.
pub async fn run(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
