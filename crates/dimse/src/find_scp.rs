//! C-FIND: the identifier read (its lengths checked first), the service
//! routed by query model, one pending response per answer, C-CANCEL between
//! answers.

use std::time::Instant;

use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{PDataValueType, Pdu};

use crate::association::{Connection, pdu_name};
use crate::command::{Command, field};
use crate::service::{Failure, FindContext};
use crate::{Error, Result, status};
use dicom_ul::association::Association;

/// A C-FIND or C-MOVE identifier: every length checked against the bytes
/// received before dicom-rs reserves it, then read.
pub(crate) fn read_identifier(
    bytes: &[u8],
    ts: &str,
) -> std::result::Result<InMemDicomObject, String> {
    let syntax = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| format!("transfer syntax {ts} unknown"))?;
    sansfilm_dicom::bounds::check_dataset_bytes(bytes, ts).map_err(|e| e.to_string())?;
    InMemDicomObject::read_dataset_with_ts(bytes, syntax).map_err(|e| e.to_string())
}

impl Connection {
    /// Runs a C-FIND and sends its answers: one pending response per match,
    /// then the final status. A C-CANCEL between answers stops them (FE00).
    pub(crate) async fn answer_find(
        &mut self,
        pc_id: u8,
        command: Command,
        identifier: Vec<u8>,
        ts: String,
    ) -> Result<()> {
        let started = Instant::now();
        let find = self
            .services
            .find_for(&command.affected_sop_class_uid)
            .expect("checked when the command came");
        let ctx = FindContext {
            calling_ae: self.assoc.peer_ae_title().trim().to_string(),
            called_ae: self.assoc.called_ae_title().trim().to_string(),
            peer: Some(self.peer),
            sop_class_uid: command.affected_sop_class_uid.clone(),
            message_id: command.message_id,
        };
        let Some(syntax) = TransferSyntaxRegistry.get(&ts) else {
            let rsp = command.response(
                status::CANNOT_UNDERSTAND,
                Some(format!("transfer syntax {ts} unknown")),
            );
            return self.send_command(pc_id, &rsp).await;
        };
        let identifier = match read_identifier(&identifier, &ts) {
            Ok(obj) => obj,
            Err(e) => {
                tracing::warn!(peer = %self.peer, "C-FIND identifier unreadable: {e}");
                let rsp = command.response(
                    status::CANNOT_UNDERSTAND,
                    Some(format!("cannot read the identifier: {e}")),
                );
                return self.send_command(pc_id, &rsp).await;
            }
        };
        let ctx2 = ctx.clone();
        let result = tokio::task::spawn_blocking(move || find.find(&ctx2, &identifier))
            .await
            .unwrap_or_else(|e| Err(Failure::processing(format!("internal error: {e}"))));
        let answers = match result {
            Ok(answers) => answers,
            Err(f) => {
                tracing::warn!(peer = %self.peer, calling_ae = %ctx.calling_ae, "C-FIND refused: {f}");
                let rsp = command.response(f.status, Some(f.comment));
                return self.send_command(pc_id, &rsp).await;
            }
        };
        let total = answers.len();
        for (sent, answer) in answers.into_iter().enumerate() {
            if self.cancel_requested().await? {
                let rsp = command.response(status::CANCEL, None);
                tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, sent, total, "C-FIND cancelled");
                return self.send_command(pc_id, &rsp).await;
            }
            let cs = answer
                .get(dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET)
                .and_then(|e| e.to_str().ok())
                .and_then(|t| {
                    SpecificCharacterSet::from_code(t.split('\\').next().unwrap_or("").trim())
                })
                .unwrap_or_default();
            let mut data = Vec::new();
            answer
                .write_dataset_with_ts_cs(&mut data, syntax, cs)
                .map_err(|e| Error::Command(format!("cannot encode a C-FIND answer: {e}")))?;
            let rsp = command.response(status::PENDING, None).with_dataset();
            self.send_command(pc_id, &rsp).await?;
            self.send_dataset(pc_id, data).await?;
        }
        tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, sop_class = %ctx.sop_class_uid,
            matches = total, ms = started.elapsed().as_millis() as u64, "C-FIND");
        let rsp = command.response(status::SUCCESS, None);
        self.send_command(pc_id, &rsp).await
    }

    /// Whether the peer has sent a C-CANCEL (checked without waiting).
    pub(crate) async fn cancel_requested(&mut self) -> Result<bool> {
        // Poll the receive once: a zero timeout would wait for the next timer
        // tick (a millisecond) per answer. Dropping a pending receive loses
        // nothing: bytes already read stay in the association's buffer.
        let polled = tokio::select! {
            biased;
            r = self.assoc.receive() => Some(r),
            _ = std::future::ready(()) => None,
        };
        match polled {
            None => Ok(false),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(Pdu::PData { data })) => {
                let mut bytes = vec![];
                for pdv in data {
                    if pdv.value_type == PDataValueType::Command {
                        bytes.extend_from_slice(&pdv.data);
                    }
                }
                let cmd = Command::decode(&bytes)?;
                if cmd.field == field::C_CANCEL_RQ {
                    Ok(true)
                } else {
                    Err(Error::Protocol(format!(
                        "command {:04X} during C-FIND answers",
                        cmd.field
                    )))
                }
            }
            Some(Ok(Pdu::AbortRQ { .. })) => Err(Error::Aborted),
            Some(Ok(other)) => Err(Error::Protocol(format!(
                "unexpected {} during C-FIND answers",
                pdu_name(&other)
            ))),
        }
    }
}
