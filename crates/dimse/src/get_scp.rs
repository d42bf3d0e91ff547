//! C-GET: the instances an identifier names are sent back on the
//! requester's own association, with C-STORE sub-operations on the storage
//! presentation contexts it proposed (with the SCP role for itself, or
//! without a role item at all, as some viewers do). Each instance goes as
//! stored when its syntax was accepted, decoded to a native syntax when only
//! that was (the service's transcoder). An instance that cannot be sent does
//! not stop the others: they are counted, and the final response lists the
//! failed ones (B000). A pending response with the counts follows each
//! sub-operation; a C-CANCEL stops after the current one (FE00).

use std::time::Instant;

use dicom_ul::association::Association;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};

use crate::association::{Connection, pdu_name};
use crate::client::{FileToSend, NATIVE_FALLBACK as NATIVE};
use crate::command::{Command, SubOperations, field};
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

/// An instance ready to be sent: its presentation context, UIDs and data
/// set bytes in that context's syntax.
struct Prepared {
    pc_id: u8,
    sop_class_uid: String,
    sop_instance_uid: String,
    data: Vec<u8>,
}

/// Reads a stored instance for a context the requester accepted: its bytes
/// as stored when their syntax was accepted, decoded to a native syntax
/// otherwise. Blocking (file reads, decoding).
fn prepare(
    path: &std::path::Path,
    contexts: &[(u8, String, String)],
    transcoder: Option<std::sync::Arc<dyn crate::client::Transcoder>>,
    caller: &str,
) -> std::result::Result<Prepared, String> {
    let file = FileToSend::inspect(path).map_err(|e| e.to_string())?;
    let accepted = |ts: &str| {
        contexts
            .iter()
            .find(|(_, class, syntax)| *class == file.sop_class_uid && syntax == ts)
            .map(|(id, _, _)| *id)
    };
    let (pc_id, data) = if let Some(pc_id) = accepted(&file.transfer_syntax) {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&file.path).map_err(|e| e.to_string())?;
        f.seek(std::io::SeekFrom::Start(file.dataset_offset))
            .map_err(|e| e.to_string())?;
        let mut data = Vec::with_capacity(file.dataset_len as usize);
        f.read_to_end(&mut data).map_err(|e| e.to_string())?;
        (pc_id, data)
    } else {
        let (pc_id, ts) = NATIVE
            .iter()
            .find_map(|ts| accepted(ts).map(|id| (id, *ts)))
            .ok_or_else(|| {
                format!(
                    "{} in {} was not accepted by {caller} (no presentation context)",
                    file.sop_class_uid, file.transfer_syntax
                )
            })?;
        let transcoder = transcoder.ok_or("stored syntax not accepted")?;
        let bytes = transcoder
            .native(&file.path, ts)
            .map_err(|e| format!("cannot be decoded: {e}"))?;
        (pc_id, bytes)
    };
    Ok(Prepared {
        pc_id,
        sop_class_uid: file.sop_class_uid,
        sop_instance_uid: file.sop_instance_uid,
        data,
    })
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
        let contexts: Vec<(u8, String, String)> = self
            .assoc
            .presentation_contexts()
            .iter()
            .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
            .map(|pc| {
                (
                    pc.id,
                    pc.abstract_syntax.trim_end_matches(['\0', ' ']).to_string(),
                    pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_string(),
                )
            })
            .collect();
        let transcoder = service.transcoder();
        let start_preparing = |item: &RetrieveItem| {
            let (path, contexts, transcoder) =
                (item.path.clone(), contexts.clone(), transcoder.clone());
            let caller = ctx.calling_ae.clone();
            tokio::task::spawn_blocking(move || prepare(&path, &contexts, transcoder, &caller))
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
    async fn send_prepared(&mut self, ready: Prepared, message_id: u16) -> Result<SubOp> {
        let Prepared {
            pc_id,
            sop_class_uid,
            sop_instance_uid,
            data,
        } = ready;
        let mut rq = Command::store_rq(message_id, &sop_class_uid, &sop_instance_uid);
        rq.priority = 0;
        self.send_command(pc_id, &rq).await?;
        let max = match self.assoc.requestor_max_pdu_length() {
            0 => 1024 * 1024,
            n => n.min(4 * 1024 * 1024),
        } as usize;
        let chunk = max.saturating_sub(12).max(1024);
        let mut chunks = data.chunks(chunk).peekable();
        if chunks.peek().is_none() {
            self.send_dataset(pc_id, vec![]).await?;
        }
        while let Some(part) = chunks.next() {
            self.assoc
                .send(&Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: pc_id,
                        value_type: PDataValueType::Data,
                        is_last: chunks.peek().is_none(),
                        data: part.to_vec(),
                    }],
                })
                .await?;
        }
        // The C-STORE-RSP, or a C-CANCEL of the C-GET first.
        let mut cancelled = false;
        loop {
            let rsp = self.receive_command().await?;
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

    /// Reads PDUs until a whole command set has come.
    async fn receive_command(&mut self) -> Result<Command> {
        let mut bytes = vec![];
        loop {
            let pdu = tokio::time::timeout(self.options.idle_timeout(), self.assoc.receive())
                .await
                .map_err(|_| Error::Timeout("no response to a C-GET sub-operation"))??;
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        if pdv.value_type != PDataValueType::Command {
                            continue;
                        }
                        bytes.extend_from_slice(&pdv.data);
                        if pdv.is_last {
                            return Command::decode(&bytes);
                        }
                    }
                }
                Pdu::AbortRQ { .. } => return Err(Error::Aborted),
                other => {
                    return Err(Error::Protocol(format!(
                        "unexpected {} during a C-GET",
                        pdu_name(&other)
                    )));
                }
            }
        }
    }
}
