//! C-STORE as the server receives it: data fragments are buffered up to
//! [`CHUNK`] and handed to the service's sink on a blocking thread, so a
//! large multi-frame object never sits in memory. The response is sent only
//! after the sink's `finish` returned, which is when the instance is
//! durable. A failure met on the way (the sink refused, the disk filled) is
//! kept: the rest of the data set is read and dropped, then the failure is
//! answered.

use std::time::Instant;

use dicom_ul::association::Association;

use crate::association::{Connection, DataOp};
use crate::command::Command;
use crate::service::{Failure, StoreContext, StoreSink, Stored};
use crate::status;

/// Data set bytes buffered before they are handed to the sink.
pub const CHUNK: usize = 1024 * 1024;

/// An instance being received.
pub(crate) struct StoreInProgress {
    ctx: StoreContext,
    sink: Option<Box<dyn StoreSink>>,
    failure: Option<Failure>,
    buf: Vec<u8>,
    bytes: u64,
    started: Instant,
}

impl StoreInProgress {
    /// Takes a data fragment.
    pub(crate) async fn take(&mut self, data: Vec<u8>, is_last: bool) {
        self.bytes += data.len() as u64;
        if self.buf.is_empty() {
            self.buf = data;
        } else {
            self.buf.extend_from_slice(&data);
        }
        if self.buf.len() >= CHUNK && !is_last {
            flush(self).await;
        }
    }
}

impl Connection {
    pub(crate) async fn begin_store(
        &self,
        command: &Command,
        ts: &str,
        abstract_syntax: &str,
    ) -> DataOp {
        let Some(store) = self.services.store.clone() else {
            return DataOp::Discard(Failure::new(
                status::SOP_CLASS_NOT_SUPPORTED,
                "storage is not offered by this server",
            ));
        };
        if command.affected_sop_class_uid != abstract_syntax {
            return DataOp::Discard(Failure::new(
                status::DATASET_DOES_NOT_MATCH_SOP_CLASS,
                format!(
                    "SOP class {} sent on a context for {}",
                    command.affected_sop_class_uid, abstract_syntax
                ),
            ));
        }
        let ctx = StoreContext {
            calling_ae: self.assoc.peer_ae_title().trim().to_string(),
            called_ae: self.assoc.called_ae_title().trim().to_string(),
            peer: Some(self.peer),
            sop_class_uid: command.affected_sop_class_uid.clone(),
            sop_instance_uid: command.affected_sop_instance_uid.clone(),
            transfer_syntax: ts.trim_end_matches(['\0', ' ']).to_string(),
            message_id: command.message_id,
            max_instance_bytes: self.options.max_instance_bytes,
        };
        let ctx2 = ctx.clone();
        let begun = tokio::task::spawn_blocking(move || store.begin(&ctx2)).await;
        let (sink, failure) = match begun {
            Ok(Ok(sink)) => (Some(sink), None),
            Ok(Err(f)) => (None, Some(f)),
            Err(e) => (
                None,
                Some(Failure::processing(format!("internal error: {e}"))),
            ),
        };
        DataOp::Store(Box::new(StoreInProgress {
            ctx,
            sink,
            failure,
            buf: Vec::new(),
            bytes: 0,
            started: Instant::now(),
        }))
    }

    pub(crate) async fn finish_store(
        &self,
        mut store: Box<StoreInProgress>,
    ) -> Result<Stored, Failure> {
        let buf = std::mem::take(&mut store.buf);
        let sink = store.sink.take();
        let failure = store.failure.take();
        let finished = tokio::task::spawn_blocking(move || {
            if let Some(f) = failure {
                return Err(f);
            }
            let mut sink = sink.ok_or_else(|| Failure::processing("no sink"))?;
            if !buf.is_empty() {
                sink.write(&buf)?;
            }
            sink.finish()
        })
        .await
        .unwrap_or_else(|e| Err(Failure::processing(format!("internal error: {e}"))));
        let ctx = &store.ctx;
        if let Ok(stored) = &finished {
            tracing::info!(calling_ae = %ctx.calling_ae, sop_instance_uid = %ctx.sop_instance_uid,
                sop_class = %ctx.sop_class_uid, transfer_syntax = %ctx.transfer_syntax,
                bytes = store.bytes, ms = store.started.elapsed().as_millis() as u64,
                status = format_args!("{:04X}", stored.status),
                note = stored.note.as_deref().unwrap_or(""), "C-STORE");
        }
        finished
    }
}

/// Hands the buffered bytes to the sink on a blocking thread.
async fn flush(store: &mut StoreInProgress) {
    if store.failure.is_some() {
        store.buf.clear();
        return;
    }
    let Some(mut sink) = store.sink.take() else {
        store.buf.clear();
        return;
    };
    let mut buf = std::mem::take(&mut store.buf);
    let result = tokio::task::spawn_blocking(move || {
        let r = sink.write(&buf);
        buf.clear();
        (sink, buf, r)
    })
    .await;
    match result {
        Ok((sink, buf, Ok(()))) => {
            store.sink = Some(sink);
            store.buf = buf;
        }
        // The sink is dropped: what it wrote is discarded. The rest of the
        // data set is read and dropped, then the failure is answered.
        Ok((_, _, Err(f))) => store.failure = Some(f),
        Err(e) => store.failure = Some(Failure::processing(format!("internal error: {e}"))),
    }
}
