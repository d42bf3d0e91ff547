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

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries;

use crate::association::Connection;
use crate::client::{self, ClientOptions, SendOutcome};
use crate::command::{Command, SubOperations};
use crate::find_scp::read_identifier;
use crate::service::{Failure, RetrieveContext, RetrieveItem};
use crate::{Error, Result, status};
use dicom_ul::association::Association;

/// How often the requester hears of the progress.
const PENDING_EVERY: Duration = Duration::from_secs(1);

fn clamp(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

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
        let ctx = RetrieveContext {
            calling_ae: self.assoc.peer_ae_title().trim().to_string(),
            called_ae: self.assoc.called_ae_title().trim().to_string(),
            peer: Some(self.peer),
            sop_class_uid: command.affected_sop_class_uid.clone(),
            destination: destination.clone(),
        };
        let fail = |status, comment: String| command.response(status, Some(comment));
        let Some(dest) = self.options.destinations.get(&destination).cloned() else {
            tracing::warn!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination,
                "C-MOVE refused: destination unknown (not in [dicom.destinations])");
            let rsp = fail(
                status::MOVE_DESTINATION_UNKNOWN,
                format!("move destination {destination:?} unknown"),
            );
            return self.send_command(pc_id, &rsp).await;
        };
        let identifier = match read_identifier(&identifier, &ts) {
            Ok(obj) => obj,
            Err(e) => {
                tracing::warn!(peer = %self.peer, "C-MOVE identifier unreadable: {e}");
                let rsp = fail(
                    status::CANNOT_UNDERSTAND,
                    format!("cannot read the identifier: {e}"),
                );
                return self.send_command(pc_id, &rsp).await;
            }
        };
        let ctx2 = ctx.clone();
        let svc = service.clone();
        let planned = tokio::task::spawn_blocking(move || svc.instances(&ctx2, &identifier))
            .await
            .unwrap_or_else(|e| Err(Failure::processing(format!("internal error: {e}"))));
        let items = match planned {
            Ok(items) => items,
            Err(f) => {
                tracing::warn!(peer = %self.peer, calling_ae = %ctx.calling_ae, "C-MOVE refused: {f}");
                let rsp = fail(f.status, f.comment);
                return self.send_command(pc_id, &rsp).await;
            }
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
        let paths = items.iter().map(|i| i.path.clone()).collect();
        let lanes = self.options.move_associations.max(1);
        let transcoder = service.transcoder();
        let mut sending = tokio::spawn(async move {
            client::send_files_with(&address, &options, paths, lanes, progress, transcoder).await
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
                        let mut rsp = command.response(status::CANCEL, None);
                        rsp.sub_operations = Some(counts(&done, &failed));
                        tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination,
                            "C-MOVE cancelled");
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
        let svc = service.clone();
        let (ctx3, sent2, lost2) = (ctx.clone(), sent.clone(), lost.clone());
        let _ = tokio::task::spawn_blocking(move || svc.moved(&ctx3, &sent2, &lost2)).await;
        let n = SubOperations {
            remaining: 0,
            completed: clamp(sent.len()),
            failed: clamp(lost.len()),
            warning: 0,
        };
        let final_status = if lost.is_empty() {
            status::SUCCESS
        } else if sent.is_empty() {
            status::UNABLE_TO_PERFORM_SUBOPERATIONS
        } else {
            status::SUBOPERATIONS_WITH_FAILURES
        };
        tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination,
            sent = sent.len(), failed = lost.len(), ms = started.elapsed().as_millis() as u64,
            status = format_args!("{final_status:04X}"), "C-MOVE");
        let mut rsp = command.response(
            final_status,
            (!lost.is_empty()).then(|| format!("{} of {total} instances not sent", lost.len())),
        );
        rsp.sub_operations = Some(n);
        if lost.is_empty() {
            return self.send_command(pc_id, &rsp).await;
        }
        // The Failed SOP Instance UID List goes in a data set with the
        // final response.
        let list: Vec<&str> = lost.iter().map(|i| i.sop_instance_uid.as_str()).collect();
        let failed_list = InMemDicomObject::from_element_iter([DataElement::new(
            tags::FAILED_SOP_INSTANCE_UID_LIST,
            VR::UI,
            PrimitiveValue::from(list.join("\\")),
        )]);
        let pc_ts = self.context_syntax(pc_id);
        let implicit = entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry
            .get(&pc_ts)
            .unwrap_or(&implicit);
        let mut data = vec![];
        failed_list
            .write_dataset_with_ts(&mut data, syntax)
            .map_err(|e| Error::Command(format!("cannot encode the failed list: {e}")))?;
        self.send_command(pc_id, &rsp.with_dataset()).await?;
        self.send_dataset(pc_id, data).await
    }

    /// The transfer syntax negotiated for a presentation context.
    fn context_syntax(&self, pc_id: u8) -> String {
        self.assoc
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == pc_id)
            .map(|pc| pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    }
}
