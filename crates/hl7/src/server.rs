//! The MLLP listener: one task per connection, each message processed on a
//! blocking thread (SQLite) and acknowledged only after its commit.
//!
//! Shaped like the DICOM server: the caller binds the listener and passes a
//! shutdown future; a semaphore bounds connections; idle connections are
//! closed; at shutdown no new connection is accepted and each connection
//! finishes the message it is processing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use sansfilm_worklist::WorklistStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mapping::Hl7Config;
use crate::mllp::{MllpCodec, MllpError, frame};
use crate::process::{Processed, process};

/// Called for every processed message on its blocking thread, before the ACK
/// is sent (for example to write an audit record that must not be lost).
pub type OnProcessed = Arc<dyn Fn(&Processed, SocketAddr) + Send + Sync>;

/// Runs the HL7 listener until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Arc<Hl7Config>,
    store: Arc<WorklistStore>,
    on_processed: Option<OnProcessed>,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!(error = %e, "HL7 accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.max_connections, "HL7 connection limit reached; closing");
            continue;
        };
        let (config, store, cancel) = (config.clone(), store.clone(), cancel.child_token());
        let hook = on_processed.clone();
        tracker.spawn(async move {
            match serve_connection(socket, peer, config, store, hook, cancel).await {
                Ok(n) => tracing::info!(%peer, messages = n, "HL7 connection closed"),
                Err(e) => tracing::warn!(%peer, "HL7 connection ended: {e}"),
            }
            drop(permit);
        });
    }
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(30), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("HL7 connections still busy after 30 s; stopping anyway");
    }
    Ok(())
}

async fn serve_connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Hl7Config>,
    store: Arc<WorklistStore>,
    hook: Option<OnProcessed>,
    cancel: CancellationToken,
) -> Result<u64, MllpError> {
    let mut codec = MllpCodec::new(config.max_message_bytes);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let idle = Duration::from_secs(config.idle_timeout_secs.max(1));
    let mut handled = 0u64;
    loop {
        // Every complete frame already buffered is handled before reading more.
        while let Some(message) = codec.decode(&mut buf)? {
            if codec.skipped > 0 {
                tracing::warn!(%peer, bytes = codec.skipped, "bytes outside MLLP frames skipped");
                codec.skipped = 0;
            }
            let (store, config, hook) = (store.clone(), config.clone(), hook.clone());
            let done = tokio::task::spawn_blocking(move || {
                let done = process(&message, &store, &config);
                if let Some(hook) = hook {
                    hook(&done, peer);
                }
                done
            })
            .await
            .map_err(|e| MllpError::Io(std::io::Error::other(e)))?;
            tracing::info!(%peer, control_id = %done.control_id, message_type = %done.message_type,
                ack = done.code.as_str(), "HL7 {}", done.detail);
            socket.write_all(&frame(&done.ack)).await?;
            handled += 1;
        }
        let read = tokio::select! {
            _ = cancel.cancelled() => return Ok(handled),
            r = tokio::time::timeout(idle, socket.read_buf(&mut buf)) => r,
        };
        match read {
            Err(_) => {
                tracing::info!(%peer, "HL7 connection idle; closing");
                return Ok(handled);
            }
            Ok(Ok(0)) => {
                // A half-received message is an error (and is not applied).
                codec.decode_eof(&mut buf)?;
                return Ok(handled);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}
