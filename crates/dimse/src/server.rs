//! The accept loop: association limit, TCP_NODELAY, graceful shutdown.
//!
//! Shaped after mini-redis's server: the caller binds the listener and passes a
//! shutdown future; each association runs in its own task, tracked so that
//! shutdown can wait for stores in flight (up to the grace period).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJSource, Pdu,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Result;
use crate::association::serve_association;
use crate::options::ServerOptions;
use crate::service::Services;

/// Runs a DICOM server on `listener` until `shutdown` completes, then stops
/// accepting, lets associations in flight finish their current operation
/// within the grace period, and returns.
pub async fn run(
    listener: TcpListener,
    options: Arc<ServerOptions>,
    services: Services,
    shutdown: impl Future,
) -> Result<()> {
    let limit = Arc::new(Semaphore::new(options.max_associations.max(1)));
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let services = Arc::new(services);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(10);
                pair
            }
            Err(e) => {
                // Out of file descriptors and the like: wait and retry, as
                // mini-redis does, instead of spinning or dying.
                tracing::error!(error = %e, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        crate::socket::tune(&socket);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = options.max_associations, "association limit reached; rejecting");
            tracker.spawn(reject_busy(socket));
            continue;
        };
        let options = options.clone();
        let services = services.clone();
        let cancel = cancel.child_token();
        tracker.spawn(async move {
            serve_association(socket, peer, options, services, cancel).await;
            drop(permit);
        });
    }
    tracing::info!(
        in_flight = tracker.len(),
        "shutting down: no new associations; letting transfers in flight finish"
    );
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(options.shutdown_grace(), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tracker.len(),
            "grace period over; aborting remaining associations"
        );
    }
    Ok(())
}

/// The A-ASSOCIATE-RJ sent when the association limit is reached: transient,
/// service provider (presentation), local limit exceeded.
fn busy_rejection() -> Vec<u8> {
    let rj = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut buf = Vec::new();
    dicom_ul::write_pdu(&mut buf, &rj).expect("an A-ASSOCIATE-RJ always encodes");
    buf
}

/// Answers an A-ASSOCIATE-RQ with a transient rejection (local limit exceeded).
async fn reject_busy(mut socket: TcpStream) {
    // Read the request first (bounded), so the peer sees an answer to it, and
    // drain it after answering so that closing does not reset the connection
    // before the peer has read the rejection.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        crate::negotiation::peek_association_rq(&socket),
    )
    .await;
    if socket.write_all(&busy_rejection()).await.is_ok() {
        let _ = socket.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            use tokio::io::AsyncReadExt;
            while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn busy_rejection_is_a_transient_local_limit() {
        let bytes = super::busy_rejection();
        // A-ASSOCIATE-RJ: type 3, result 2 (transient), source 3, reason 2.
        assert_eq!(bytes[0], 0x03);
        assert_eq!(&bytes[7..10], &[2, 3, 2]);
    }
}
