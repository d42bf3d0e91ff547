//! The accept loop: association limits, TCP_NODELAY, graceful shutdown.
//!
//! A connection holds no association slot until its A-ASSOCIATE-RQ has come:
//! until then it waits at a [`Gate`] (a few per source address, the oldest
//! closed when newer ones come), so connections that send nothing cannot
//! lock the modalities out. Peers of the allow-list then take slots from a
//! pool of their own.
//!
//! Shaped after mini-redis's server: the caller binds the listener and passes a
//! shutdown future; each association runs in its own task, tracked so that
//! shutdown can wait for stores in flight (up to the grace period).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJSource, AssociationRQ, Pdu,
};
use sansfilm_net::{Gate, Ticket};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Result;
use crate::association::serve_association;
use crate::negotiation::peek_association_rq;
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
    let slots = Arc::new(Slots {
        listed: Arc::new(Semaphore::new(options.max_associations.max(1))),
        others: Arc::new(Semaphore::new(options.max_associations.max(1))),
    });
    let gate = Gate::new(options.max_waiting_per_host, options.max_waiting);
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
        let ticket = gate.enter(peer.ip());
        let (options, services, slots) = (options.clone(), services.clone(), slots.clone());
        let cancel = cancel.child_token();
        tracker.spawn(async move {
            let Some(rq) = wait_for_request(&socket, peer, ticket, &options, &cancel).await else {
                return;
            };
            // Peers of the allow-list have slots of their own: anonymous
            // associations (the default accepts any AE) cannot take them.
            let calling = rq.as_ref().map(|rq| rq.calling_ae_title.trim()).unwrap_or("");
            let listed = options.access.lists(calling, Some(peer.ip()));
            let pool = if listed { &slots.listed } else { &slots.others };
            let Ok(permit) = pool.clone().try_acquire_owned() else {
                tracing::warn!(%peer, calling_ae = calling, listed, limit = options.max_associations,
                    "association limit reached; rejecting");
                reject_busy(socket).await;
                return;
            };
            serve_association(socket, peer, rq, options, services, cancel).await;
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

/// Association slots: one pool for the peers of the allow-list, one for
/// everyone else.
struct Slots {
    listed: Arc<Semaphore>,
    others: Arc<Semaphore>,
}

/// Waits at the gate for the A-ASSOCIATE-RQ (without consuming it), within
/// the ARTIM timeout. `None` when the connection is to be closed: it sent
/// nothing in time, a newer connection of its address evicted it, the server
/// is stopping, or what it sent is no PDU. `Some(None)`: the first PDU is not
/// an A-ASSOCIATE-RQ (dicom-ul answers it with an abort).
async fn wait_for_request(
    socket: &TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    options: &ServerOptions,
    cancel: &CancellationToken,
) -> Option<Option<AssociationRQ>> {
    let peeked = tokio::select! {
        _ = ticket.evicted() => return None,
        _ = cancel.cancelled() => return None,
        r = tokio::time::timeout(options.artim_timeout(), peek_association_rq(socket)) => r,
    };
    match peeked {
        Err(_) => {
            tracing::warn!(%peer, "no A-ASSOCIATE-RQ within the ARTIM timeout; closing");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, "association not established: {e}");
            None
        }
        Ok(Ok(rq)) => Some(rq),
    }
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
