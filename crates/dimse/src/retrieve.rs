//! What C-MOVE and C-GET share: the identifier read and the instances it
//! names found (or a failure answered), and the end of the sub-operations:
//! the service told (its audit record), the log line, the final response
//! with the counts and, when instances could not be sent, the Failed SOP
//! Instance UID List in a data set after it.

use std::sync::Arc;
use std::time::Instant;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxRegistry, entries};
use dicom_ul::association::Association;

use crate::association::Connection;
use crate::command::{Command, SubOperations};
use crate::find_scp::read_identifier;
use crate::service::{Failure, RetrieveContext, RetrieveItem, RetrieveService};
use crate::{Error, Result, status};

/// A count as a DIMSE US value.
pub(crate) fn clamp(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// How the sub-operations of a retrieve ended.
pub(crate) struct Ended {
    /// Instances the destination accepted.
    pub sent: Vec<RetrieveItem>,
    /// Instances that could not be sent.
    pub lost: Vec<RetrieveItem>,
    /// Instances not tried (a C-CANCEL came first).
    pub remaining: usize,
    /// Stopped by a C-CANCEL.
    pub cancelled: bool,
}

impl Connection {
    /// The context of a C-MOVE (`destination` its Move Destination) or a
    /// C-GET (`destination` the requester itself).
    pub(crate) fn retrieve_context(&self, command: &Command, destination: &str) -> RetrieveContext {
        RetrieveContext {
            calling_ae: self.assoc.peer_ae_title().trim().to_string(),
            called_ae: self.assoc.called_ae_title().trim().to_string(),
            peer: Some(self.peer),
            sop_class_uid: command.affected_sop_class_uid.clone(),
            destination: destination.to_string(),
        }
    }

    /// Reads the identifier and asks the service which instances it names.
    /// `None` when the request failed; its response is then sent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn plan_retrieve(
        &mut self,
        pc_id: u8,
        command: &Command,
        identifier: &[u8],
        ts: &str,
        ctx: &RetrieveContext,
        service: &Arc<dyn RetrieveService>,
        what: &str,
    ) -> Result<Option<Vec<RetrieveItem>>> {
        let identifier = match read_identifier(identifier, ts) {
            Ok(obj) => obj,
            Err(e) => {
                tracing::warn!(peer = %self.peer, "{what} identifier unreadable: {e}");
                let rsp = command.response(
                    status::CANNOT_UNDERSTAND,
                    Some(format!("cannot read the identifier: {e}")),
                );
                self.send_command(pc_id, &rsp).await?;
                return Ok(None);
            }
        };
        let (svc, ctx2) = (service.clone(), ctx.clone());
        let planned = tokio::task::spawn_blocking(move || svc.instances(&ctx2, &identifier))
            .await
            .unwrap_or_else(|e| Err(Failure::processing(format!("internal error: {e}"))));
        match planned {
            Ok(items) => Ok(Some(items)),
            Err(f) => {
                tracing::warn!(peer = %self.peer, calling_ae = %ctx.calling_ae, "{what} refused: {f}");
                let rsp = command.response(f.status, Some(f.comment));
                self.send_command(pc_id, &rsp).await?;
                Ok(None)
            }
        }
    }

    /// Tells the service, logs and sends the final response.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_retrieve(
        &mut self,
        pc_id: u8,
        command: &Command,
        ts: &str,
        ctx: &RetrieveContext,
        service: &Arc<dyn RetrieveService>,
        ended: Ended,
        started: Instant,
        what: &str,
    ) -> Result<()> {
        let Ended {
            sent,
            lost,
            remaining,
            cancelled,
        } = ended;
        let (svc, ctx2, s, l) = (service.clone(), ctx.clone(), sent.clone(), lost.clone());
        let _ = tokio::task::spawn_blocking(move || svc.moved(&ctx2, &s, &l)).await;
        let final_status = if cancelled {
            status::CANCEL
        } else if lost.is_empty() {
            status::SUCCESS
        } else if sent.is_empty() {
            status::UNABLE_TO_PERFORM_SUBOPERATIONS
        } else {
            status::SUBOPERATIONS_WITH_FAILURES
        };
        tracing::info!(peer = %self.peer, calling_ae = %ctx.calling_ae, destination = %ctx.destination,
            sent = sent.len(), failed = lost.len(), remaining, ms = started.elapsed().as_millis() as u64,
            status = format_args!("{final_status:04X}"), "{what}");
        let total = sent.len() + lost.len() + remaining;
        let mut rsp = command.response(
            final_status,
            (!lost.is_empty()).then(|| format!("{} of {total} instances not sent", lost.len())),
        );
        rsp.sub_operations = Some(SubOperations {
            remaining: clamp(remaining),
            completed: clamp(sent.len()),
            failed: clamp(lost.len()),
            warning: 0,
        });
        if lost.is_empty() {
            return self.send_command(pc_id, &rsp).await;
        }
        let list: Vec<&str> = lost.iter().map(|i| i.sop_instance_uid.as_str()).collect();
        let failed_list = InMemDicomObject::from_element_iter([DataElement::new(
            tags::FAILED_SOP_INSTANCE_UID_LIST,
            VR::UI,
            PrimitiveValue::from(list.join("\\")),
        )]);
        let implicit = entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let syntax = TransferSyntaxRegistry.get(ts).unwrap_or(&implicit);
        let mut data = vec![];
        failed_list
            .write_dataset_with_ts(&mut data, syntax)
            .map_err(|e| Error::Command(format!("cannot encode the failed list: {e}")))?;
        self.send_command(pc_id, &rsp.with_dataset()).await?;
        self.send_dataset(pc_id, data).await
    }
}
