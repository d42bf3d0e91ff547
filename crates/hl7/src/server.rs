//! The MLLP listener: one task per connection, each message processed on a
//! blocking thread (SQLite) and acknowledged only after its commit.
//!
//! Shaped like the DICOM server: the caller binds the listener and passes a
//! shutdown future; a semaphore bounds connections; idle connections are
//! closed; at shutdown no new connection is accepted and each connection
//! finishes the message it is processing.
//!
//! A connection takes a slot only once its first complete message has come:
//! until then it waits at a [`Gate`] (a few per address, the oldest closed
//! when newer ones come, and a short budget), so connections that send
//! nothing cannot keep the RIS out. The RIS's addresses (`ris_hosts`) have
//! slots of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use sansfilm_net::{Gate, Ticket};
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
    let slots = Arc::new(Slots {
        ris: Arc::new(Semaphore::new(config.max_connections.max(1))),
        others: Arc::new(Semaphore::new(config.max_connections.max(1))),
    });
    let gate = Gate::new(config.max_waiting_per_host, config.max_waiting);
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
        let ticket = gate.enter(peer.ip());
        let (config, store, cancel) = (config.clone(), store.clone(), cancel.child_token());
        let (hook, slots) = (on_processed.clone(), slots.clone());
        tracker.spawn(async move {
            let codec = MllpCodec::new(config.max_message_bytes);
            let mut conn = Connection {
                socket,
                peer,
                config,
                store,
                hook,
                codec,
                buf: BytesMut::with_capacity(64 * 1024),
            };
            match conn.serve(ticket, &slots, cancel).await {
                Ok(n) => tracing::info!(%peer, messages = n, "HL7 connection closed"),
                Err(e) => tracing::warn!(%peer, "HL7 connection ended: {e}"),
            }
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

/// Connection slots: one pool for the RIS's addresses, one for other senders.
struct Slots {
    ris: Arc<Semaphore>,
    others: Arc<Semaphore>,
}

struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Hl7Config>,
    store: Arc<WorklistStore>,
    hook: Option<OnProcessed>,
    codec: MllpCodec,
    buf: BytesMut,
}

impl Connection {
    /// Waits at the gate for the first message, takes a slot, then answers
    /// messages until the peer closes, goes idle or the server stops.
    async fn serve(
        &mut self,
        ticket: Ticket,
        slots: &Slots,
        cancel: CancellationToken,
    ) -> Result<u64, MllpError> {
        let peer = self.peer;
        let budget = Duration::from_secs(self.config.first_message_timeout_secs.max(1));
        let deadline = tokio::time::Instant::now() + budget;
        let first = loop {
            if let Some(message) = self.next_buffered()? {
                break message;
            }
            let read = tokio::select! {
                _ = ticket.evicted() => return Ok(0),
                _ = cancel.cancelled() => return Ok(0),
                r = tokio::time::timeout_at(deadline, self.socket.read_buf(&mut self.buf)) => r,
            };
            match read {
                Err(_) => {
                    tracing::warn!(%peer, seconds = budget.as_secs(),
                        "no complete HL7 message in time after connecting; closing");
                    return Ok(0);
                }
                Ok(Ok(0)) => {
                    self.codec.decode_eof(&mut self.buf)?;
                    return Ok(0);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        };
        drop(ticket);
        let ris = self.config.is_ris(peer.ip());
        let pool = if ris { &slots.ris } else { &slots.others };
        let Ok(_permit) = pool.clone().try_acquire_owned() else {
            tracing::warn!(%peer, ris, limit = self.config.max_connections,
                "HL7 connection limit reached; closing without processing (the sender retries)");
            return Ok(0);
        };
        self.answer(first).await?;
        let mut handled = 1u64;
        let idle = Duration::from_secs(self.config.idle_timeout_secs.max(1));
        loop {
            // Every complete frame already buffered is handled before reading more.
            while let Some(message) = self.next_buffered()? {
                self.answer(message).await?;
                handled += 1;
            }
            let read = tokio::select! {
                _ = cancel.cancelled() => return Ok(handled),
                r = tokio::time::timeout(idle, self.socket.read_buf(&mut self.buf)) => r,
            };
            match read {
                Err(_) => {
                    tracing::info!(%peer, "HL7 connection idle; closing");
                    return Ok(handled);
                }
                Ok(Ok(0)) => {
                    // A half-received message is an error (and is not applied).
                    self.codec.decode_eof(&mut self.buf)?;
                    return Ok(handled);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// The next complete message already received, if any.
    fn next_buffered(&mut self) -> Result<Option<BytesMut>, MllpError> {
        let message = self.codec.decode(&mut self.buf)?;
        if self.codec.skipped > 0 {
            tracing::warn!(peer = %self.peer, bytes = self.codec.skipped, "bytes outside MLLP frames skipped");
            self.codec.skipped = 0;
        }
        Ok(message)
    }

    /// Processes one message on a blocking thread and sends its ACK.
    async fn answer(&mut self, message: BytesMut) -> Result<(), MllpError> {
        let peer = self.peer;
        let (store, config, hook) = (self.store.clone(), self.config.clone(), self.hook.clone());
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
        self.socket.write_all(&frame(&done.ack)).await?;
        Ok(())
    }
}
