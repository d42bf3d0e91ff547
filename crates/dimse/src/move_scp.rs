//! C-MOVE: the instances an identifier names are sent to the destination
//! AE of the request (from `[dicom.destinations]`) with C-STORE over a few
//! parallel associations of our own — as stored when the destination takes
//! their syntax, decoded to Explicit or Implicit VR Little Endian when it
//! does not (the service's transcoder) — while the requester gets a pending
//! response with the counts at least every second. A C-CANCEL stops the
//! sub-operations (FE00 with the counts). Instances that could not be sent
//! do not stop the others: they are counted and listed in the final
//! response (B000, Failed SOP Instance UID List), and an unknown destination
//! is refused at once (A801).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::association::Connection;
use crate::client::{self, ClientOptions, SendOutcome};
use crate::command::{Command, SubOperations};
use crate::retrieve::{Ended, clamp};
use crate::service::RetrieveItem;
use crate::{Error, Result, status};

/// How often the requester hears of the progress.
const PENDING_EVERY: Duration = Duration::from_secs(1);

impl Connection {
    /// Runs a C-MOVE: resolve the destination, find the instances, send
    /// them, report.
    pub(crate) async fn answer_move(
        &mut self,
        pc_id: u8,
        command: Command,
        identifier: Vec<u8>,
        ts: String,
    ) -> Result<()> {
        let started = Instant::now();
        let service = self
            .services
            .retrieve
            .clone()
            .expect("checked when the command came");
        let destination = command.move_destination.clone().unwrap_or_default();
        let ctx = self.retrieve_context(&command, &destination);
        let Some(dest) = self.options.destinations.get(&destination).cloned() else {
            tracing::warn!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination,
                "C-MOVE refused: destination unknown (not in [dicom.destinations])");
            let rsp = command.response(
                status::MOVE_DESTINATION_UNKNOWN,
                Some(format!("move destination {destination:?} unknown")),
            );
            return self.send_command(pc_id, &rsp).await;
        };
        let Some(items) = self
            .plan_retrieve(pc_id, &command, &identifier, &ts, &ctx, &service, "C-MOVE")
            .await?
        else {
            return Ok(());
        };
        let total = items.len();
        let done = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let progress = {
            let (done, failed) = (done.clone(), failed.clone());
            Arc::new(move |o: &SendOutcome| {
                done.fetch_add(1, Ordering::Relaxed);
                if !o.is_ok() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }) as Arc<dyn Fn(&SendOutcome) + Send + Sync>
        };
        let address = format!("{}:{}", dest.host, dest.port);
        let options = ClientOptions {
            calling_ae: self.options.ae_title.clone(),
            called_ae: destination.clone(),
            ..Default::default()
        };
        let lanes = self.options.move_associations.max(1);
        let transcoder = service.transcoder();
        let to_send: Vec<RetrieveItem> = items.clone();
        let mut sending = tokio::spawn(async move {
            let files = tokio::task::spawn_blocking(move || {
                to_send
                    .iter()
                    .map(|i| i.to_send().map_err(|e| (i.path.clone(), e.to_string())))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| crate::Error::Io(std::io::Error::other(e)))?;
            client::send_inspected(&address, &options, files, lanes, progress, transcoder).await
        });
        let counts = |done: &AtomicUsize, failed: &AtomicUsize| {
            let (d, f) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
            SubOperations {
                remaining: clamp(total.saturating_sub(d)),
                completed: clamp(d - f.min(d)),
                failed: clamp(f),
                warning: 0,
            }
        };
        let mut tick = tokio::time::interval(PENDING_EVERY);
        tick.tick().await;
        let report = loop {
            tokio::select! {
                r = &mut sending => break r,
                _ = tick.tick() => {
                    if self.cancel_requested().await? {
                        sending.abort();
                        // What the aborted sending had finished is not known
                        // item by item: the counts say it, the list is empty.
                        let n = counts(&done, &failed);
                        let mut rsp = command.response(status::CANCEL, None);
                        rsp.sub_operations = Some(n);
                        tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination,
                            completed = n.completed, failed = n.failed, "C-MOVE cancelled");
                        return self.send_command(pc_id, &rsp).await;
                    }
                    let mut rsp = command.response(status::PENDING, None);
                    rsp.sub_operations = Some(counts(&done, &failed));
                    self.send_command(pc_id, &rsp).await?;
                }
            }
        };
        let outcomes: Vec<SendOutcome> = match report {
            Ok(Ok(report)) => report.outcomes,
            Ok(Err(e)) => {
                tracing::warn!(destination, address = %format!("{}:{}", dest.host, dest.port),
                    "C-MOVE destination unreachable: {e}");
                vec![]
            }
            Err(e) => return Err(Error::Protocol(format!("C-MOVE sub-operations: {e}"))),
        };
        let ok: HashMap<&std::path::Path, bool> = outcomes
            .iter()
            .map(|o| (o.path.as_path(), o.is_ok()))
            .collect();
        let (sent, lost): (Vec<RetrieveItem>, Vec<RetrieveItem>) = items
            .into_iter()
            .partition(|i| ok.get(i.path.as_path()).copied().unwrap_or(false));
        for o in outcomes.iter().filter(|o| !o.is_ok()) {
            tracing::warn!(destination, path = %o.path.display(),
                status = ?o.status, comment = o.comment.as_deref().unwrap_or(""),
                "C-MOVE sub-operation failed");
        }
        let ended = Ended {
            sent,
            lost,
            remaining: 0,
            cancelled: false,
        };
        self.finish_retrieve(
            pc_id, &command, &ts, &ctx, &service, ended, started, "C-MOVE",
        )
        .await
    }
}
