//! C-GET: the instances an identifier names are sent back on the
//! requester's own association, with C-STORE sub-operations on the storage
//! presentation contexts it proposed (with the SCP role for itself, or
//! without a role item at all, as some viewers do). Each instance goes as
//! stored when its syntax was accepted, decoded to a native syntax when only
//! that was (the service's transcoder). An instance that cannot be sent does
//! not stop the others: they are counted, and the final response lists the
//! failed ones (B000). A pending response with the counts follows each
//! sub-operation; a C-CANCEL stops after the current one (FE00).

use std::sync::Arc;
use std::time::Instant;

use dicom_ul::association::Association;

use crate::association::Connection;
use crate::client::{FileToSend, Transcoder};
use crate::command::{Command, SubOperations, field};
use crate::outgoing::{self, Accepted, NotReady, Ready};
use crate::retrieve::{Ended, clamp};
use crate::service::RetrieveItem;
use crate::{Error, Result, status};

/// How one sub-operation ended.
enum SubOp {
    Sent,
    Failed(String),
    /// The requester sent C-CANCEL while this one was under way.
    SentThenCancelled,
}

/// Readies a stored instance for a context the requester accepted (the
/// stored bytes, or decoded). Blocking.
fn prepare(
    item: &RetrieveItem,
    contexts: &[Accepted],
    transcoder: Option<&Arc<dyn Transcoder>>,
    caller: &str,
) -> std::result::Result<(FileToSend, Ready), String> {
    let file = item.to_send().map_err(|e| e.to_string())?;
    match outgoing::prepare(&file, contexts, transcoder) {
        Ok(ready) => Ok((file, ready)),
        Err(NotReady::NoContext) => Err(format!(
            "{} in {} was not accepted by {caller} (no presentation context)",
            file.sop_class_uid, file.transfer_syntax
        )),
        Err(NotReady::Unreadable(why)) => Err(why),
    }
}

impl Connection {
    /// Runs a C-GET to its end on this association.
    pub(crate) async fn answer_get(
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
        let requester = self.assoc.peer_ae_title().trim().to_string();
        let ctx = self.retrieve_context(&command, &requester);
        let Some(items) = self
            .plan_retrieve(pc_id, &command, &identifier, &ts, &ctx, &service, "C-GET")
            .await?
        else {
            return Ok(());
        };
        let total = items.len();
        let (mut sent, mut lost) = (vec![], vec![]);
        let mut cancelled = false;
        let mut message_id: u16 = 0;
        // The next instance is read (or decoded) on a blocking thread while
        // this one is sent: decoding is most of the work when the requester
        // takes only native syntaxes, and the machine has more than one core.
        let contexts = Arc::new(outgoing::accepted_contexts(
            self.assoc.presentation_contexts(),
        ));
        let transcoder = service.transcoder();
        let start_preparing = |item: &RetrieveItem| {
            let (item, contexts, transcoder) = (item.clone(), contexts.clone(), transcoder.clone());
            let caller = ctx.calling_ae.clone();
            tokio::task::spawn_blocking(move || {
                prepare(&item, &contexts, transcoder.as_ref(), &caller)
            })
        };
        let mut next = items.first().map(start_preparing);
        for (i, item) in items.iter().enumerate() {
            let prepared = match next.take() {
                Some(task) => task.await.unwrap_or_else(|e| Err(e.to_string())),
                None => Err("not prepared".to_string()),
            };
            next = items.get(i + 1).map(start_preparing);
            message_id = message_id.wrapping_add(1).max(1);
            let outcome = match prepared {
                Ok(ready) => self.send_prepared(ready, message_id).await?,
                Err(why) => SubOp::Failed(why),
            };
            let item = item.clone();
            match outcome {
                SubOp::Sent => sent.push(item),
                SubOp::SentThenCancelled => {
                    sent.push(item);
                    cancelled = true;
                }
                SubOp::Failed(why) => {
                    tracing::warn!(peer = %self.peer, sop_instance_uid = %item.sop_instance_uid,
                        "C-GET sub-operation failed: {why}");
                    lost.push(item);
                }
            }
            let counts = SubOperations {
                remaining: clamp(total - sent.len() - lost.len()),
                completed: clamp(sent.len()),
                failed: clamp(lost.len()),
                warning: 0,
            };
            if cancelled {
                break;
            }
            if counts.remaining > 0 {
                let mut rsp = command.response(status::PENDING, None);
                rsp.sub_operations = Some(counts);
                self.send_command(pc_id, &rsp).await?;
            }
        }
        let remaining = total - sent.len() - lost.len();
        let ended = Ended {
            sent,
            lost,
            remaining,
            cancelled,
        };
        self.finish_retrieve(
            pc_id, &command, &ts, &ctx, &service, ended, started, "C-GET",
        )
        .await
    }

    /// One C-STORE sub-operation on this association, of an instance
    /// already read or decoded. `Err` only when the association is lost.
    async fn send_prepared(
        &mut self,
        (file, ready): (FileToSend, Ready),
        message_id: u16,
    ) -> Result<SubOp> {
        let mut rq = Command::store_rq(message_id, &file.sop_class_uid, &file.sop_instance_uid);
        rq.priority = 0;
        self.send_command(ready.pc_id, &rq).await?;
        let max = self.assoc.requestor_max_pdu_length();
        outgoing::send_body(self.assoc.inner_stream(), ready.pc_id, ready.body, max)
            .await
            .map_err(Error::Io)?;
        // The C-STORE-RSP, or a C-CANCEL of the C-GET first.
        let mut cancelled = false;
        loop {
            let rsp = outgoing::receive_command(
                &mut self.assoc,
                self.options.idle_timeout(),
                "no response to a C-GET sub-operation",
            )
            .await?;
            match rsp.field {
                field::C_CANCEL_RQ => cancelled = true,
                field::C_STORE_RSP if status::is_success_or_warning(rsp.status) => {
                    return Ok(if cancelled {
                        SubOp::SentThenCancelled
                    } else {
                        SubOp::Sent
                    });
                }
                field::C_STORE_RSP => {
                    return Ok(SubOp::Failed(format!(
                        "the requester answered {:04X} {}",
                        rsp.status,
                        rsp.error_comment.unwrap_or_default()
                    )));
                }
                other => {
                    return Err(Error::Protocol(format!(
                        "command {other:04X} while a C-GET sub-operation waits for its response"
                    )));
                }
            }
        }
    }
}
