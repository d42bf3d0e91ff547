//! C-GET as an SCU (`sansfilm get`): the server sends the instances back on
//! our own association, as C-STORE sub-operations we answer, with the SCP
//! role granted to us for each storage class (role selection).
//!
//! Each storage class is proposed in the native syntaxes and in the lossless
//! compressed ones, so a server that keeps an instance compressed can send
//! it as it is and one holding it uncompressed can too.
//! Each instance received is written to `SOP_INSTANCE_UID.dcm` in the output
//! directory (temporary file, fsync, rename) before we answer success: an
//! instance the server counts as delivered is on our disk.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::uids;
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use tokio::io::AsyncWriteExt;

use crate::client::{ClientAssoc, ClientOptions, connect_with_roles};
use crate::client_query::{failed_uid_list, send_request, syntax_of};
use crate::command::{Command, SubOperations, field};
use crate::{Error, Result, status};

/// Storage classes proposed by [`get`] when the caller knows of no others:
/// what a practice's modalities and reporting produce.
pub const COMMON_STORAGE_CLASSES: &[&str] = &[
    uids::CT_IMAGE_STORAGE,
    uids::ENHANCED_CT_IMAGE_STORAGE,
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::BREAST_TOMOSYNTHESIS_IMAGE_STORAGE,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::X_RAY_RADIOFLUOROSCOPIC_IMAGE_STORAGE,
    uids::ENHANCED_XA_IMAGE_STORAGE,
    uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    uids::ENCAPSULATED_PDF_STORAGE,
    uids::ENCAPSULATED_CDA_STORAGE,
    uids::BASIC_TEXT_SR_STORAGE,
    uids::ENHANCED_SR_STORAGE,
    uids::COMPREHENSIVE_SR_STORAGE,
    uids::X_RAY_RADIATION_DOSE_SR_STORAGE,
    uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::SEGMENTATION_STORAGE,
];

/// Most storage classes one C-GET association can propose: two contexts
/// each, beside the C-GET model's own, within the 128 contexts of an
/// association.
pub const MAX_STORAGE_CLASSES: usize = 63;

/// Lossless compressed syntaxes offered for each storage class (the
/// archive's own, JPEG-LS, first).
const COMPRESSED: &[&str] = &[
    uids::JPEGLS_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::RLE_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
];

/// The presentation contexts of a C-GET association: the model's, then for
/// each storage class (in order of importance) a native one and, while the
/// 128 contexts allow it, one per compressed syntax (the server accepts one
/// syntax per context, so separate contexts let each instance come as it is
/// stored); when they run short, one context offering them all, then none.
fn contexts_for(model: &str, classes: &[String], native_only: bool) -> Vec<(String, Vec<String>)> {
    const MAX_CONTEXTS: usize = 127;
    let native: Vec<String> = vec![
        uids::EXPLICIT_VR_LITTLE_ENDIAN.into(),
        uids::IMPLICIT_VR_LITTLE_ENDIAN.into(),
    ];
    let mut contexts = vec![(model.to_string(), native.clone())];
    for (i, class) in classes.iter().enumerate() {
        contexts.push((class.clone(), native.clone()));
        if native_only {
            continue;
        }
        // Room left once every later class has its native context.
        let spare = MAX_CONTEXTS.saturating_sub(contexts.len() + (classes.len() - i - 1));
        if spare >= COMPRESSED.len() {
            for ts in COMPRESSED {
                contexts.push((class.clone(), vec![ts.to_string()]));
            }
        } else if spare >= 1 {
            contexts.push((
                class.clone(),
                COMPRESSED.iter().map(|s| s.to_string()).collect(),
            ));
        }
    }
    contexts
}

/// What [`get`] proposes and where it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRequest {
    /// The C-GET model: Study Root or Patient Root.
    pub model: String,
    /// Storage classes to receive (at most [`MAX_STORAGE_CLASSES`]; more
    /// are left out).
    pub storage_classes: Vec<String>,
    /// Propose only native syntaxes: the server decodes compressed
    /// instances for us.
    pub native_only: bool,
    /// Directory the instances are written to (created if missing).
    pub out_dir: PathBuf,
}

/// How a C-GET ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOutcome {
    /// Final status.
    pub status: u16,
    /// Error Comment of the final response.
    pub comment: Option<String>,
    /// Sub-operation counts of the final response.
    pub counts: SubOperations,
    /// Failed SOP Instance UID List, when the server sent one.
    pub failed_uids: Vec<String>,
    /// Files written, in the order they came.
    pub received: Vec<PathBuf>,
    /// Instances we could not keep (and answered with a failure), with why.
    pub not_kept: Vec<(String, String)>,
}

/// Asks the server for what `identifier` names with C-GET, and writes each
/// instance it sends into `request.out_dir`.
pub async fn get(
    address: &str,
    options: &ClientOptions,
    request: &GetRequest,
    identifier: &InMemDicomObject,
) -> Result<GetOutcome> {
    tokio::fs::create_dir_all(&request.out_dir).await?;
    let classes: Vec<String> = request
        .storage_classes
        .iter()
        .take(MAX_STORAGE_CLASSES)
        .cloned()
        .collect();
    let contexts = contexts_for(&request.model, &classes, request.native_only);
    let mut assoc = connect_with_roles(address, options, &contexts, &classes).await?;
    let accepted: Vec<(u8, String, String)> = assoc
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
    let (pc_id, ts_uid) = accepted
        .iter()
        .find(|(_, class, _)| *class == request.model)
        .map(|(id, _, ts)| (*id, ts.clone()))
        .ok_or_else(|| Error::Rejected(format!("{} refused by the server", request.model)))?;
    let rq = Command {
        field: field::C_GET_RQ,
        message_id: 1,
        affected_sop_class_uid: request.model.clone(),
        has_dataset: true,
        ..Default::default()
    };
    send_request(&mut assoc, pc_id, &rq, identifier, syntax_of(&ts_uid)?).await?;
    let mut receiver = Receiver {
        out_dir: &request.out_dir,
        accepted: &accepted,
        command_bytes: vec![],
        current: None,
        final_rsp: None,
        final_bytes: vec![],
        outcome: GetOutcome::default(),
    };
    loop {
        let pdu = tokio::time::timeout(options.timeout, assoc.receive())
            .await
            .map_err(|_| Error::Timeout("no response from the server"))??;
        let Pdu::PData { data } = pdu else {
            return Err(match pdu {
                Pdu::AbortRQ { .. } => Error::Aborted,
                other => Error::Protocol(format!("unexpected PDU {other:?}")),
            });
        };
        for pdv in data {
            match receiver.on_pdv(&mut assoc, pdv).await {
                Ok(None) => {}
                Ok(Some(done)) => {
                    let _ = assoc.release().await;
                    return Ok(done);
                }
                Err(e) => {
                    let _ = assoc.abort().await;
                    return Err(e);
                }
            }
        }
    }
}

/// An instance being received.
struct Incoming {
    rq: Command,
    pc_id: u8,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    /// Why it will be refused, once known (the rest of it is still read).
    refused: Option<String>,
}

struct Receiver<'a> {
    out_dir: &'a Path,
    accepted: &'a [(u8, String, String)],
    command_bytes: Vec<u8>,
    current: Option<Incoming>,
    /// The final C-GET response, while the data set that follows it comes.
    final_rsp: Option<Command>,
    final_bytes: Vec<u8>,
    outcome: GetOutcome,
}

impl Receiver<'_> {
    /// Takes one PDV; returns the outcome once the final C-GET response came.
    async fn on_pdv(
        &mut self,
        assoc: &mut ClientAssoc,
        pdv: PDataValue,
    ) -> Result<Option<GetOutcome>> {
        match pdv.value_type {
            PDataValueType::Command => {
                self.command_bytes.extend_from_slice(&pdv.data);
                if !pdv.is_last {
                    return Ok(None);
                }
                let command = Command::decode(&std::mem::take(&mut self.command_bytes))?;
                self.on_command(pdv.presentation_context_id, command).await
            }
            PDataValueType::Data => {
                if let Some(rsp) = &self.final_rsp {
                    self.final_bytes.extend_from_slice(&pdv.data);
                    if !pdv.is_last {
                        return Ok(None);
                    }
                    let data = self.dataset(pdv.presentation_context_id, &self.final_bytes)?;
                    self.outcome.failed_uids = failed_uid_list(data.as_ref());
                    let rsp = rsp.clone();
                    return Ok(Some(self.end(&rsp)));
                }
                let Some(incoming) = self.current.as_mut() else {
                    return Err(Error::Protocol("a data set before its command".into()));
                };
                if let (Some(f), None) = (incoming.file.as_mut(), &incoming.refused)
                    && let Err(e) = f.write_all(&pdv.data).await
                {
                    incoming.refused =
                        Some(format!("cannot write {}: {e}", incoming.tmp.display()));
                }
                if pdv.is_last {
                    let incoming = self.current.take().expect("checked above");
                    self.finish(assoc, incoming).await?;
                }
                Ok(None)
            }
        }
    }

    async fn on_command(&mut self, pc_id: u8, command: Command) -> Result<Option<GetOutcome>> {
        match command.field {
            field::C_STORE_RQ => {
                self.current = Some(self.begin(pc_id, command).await);
                Ok(None)
            }
            f if f == field::C_GET_RQ | 0x8000 => {
                if command.status == status::PENDING || command.status == 0xFF01 {
                    return Ok(None);
                }
                if command.has_dataset {
                    // The Failed SOP Instance UID List follows.
                    self.final_rsp = Some(command);
                    return Ok(None);
                }
                Ok(Some(self.end(&command)))
            }
            other => Err(Error::Protocol(format!(
                "unexpected command {other:04X} during a C-GET"
            ))),
        }
    }

    /// Starts an instance: a temporary file in the output directory.
    async fn begin(&self, pc_id: u8, rq: Command) -> Incoming {
        let uid = rq.affected_sop_instance_uid.trim_end_matches(['\0', ' ']);
        let tmp = self.out_dir.join(format!(".{uid}.part"));
        let mut incoming = Incoming {
            pc_id,
            tmp,
            file: None,
            refused: None,
            rq: rq.clone(),
        };
        let ts = self
            .accepted
            .iter()
            .find(|(id, _, _)| *id == pc_id)
            .map(|(_, _, ts)| ts.clone());
        let Some(ts) = ts else {
            incoming.refused = Some(format!("presentation context {pc_id} was not accepted"));
            return incoming;
        };
        if !sansfilm_dicom::uid::is_path_safe_uid(uid) {
            incoming.refused = Some(format!(
                "SOP Instance UID {uid:?} is not a usable file name"
            ));
            return incoming;
        }
        let header = sansfilm_dicom::Part10Header {
            sop_class_uid: rq
                .affected_sop_class_uid
                .trim_end_matches(['\0', ' '])
                .into(),
            sop_instance_uid: uid.into(),
            transfer_syntax: ts,
            source_ae_title: None,
            receiving_ae_title: None,
        };
        let opened = async {
            let bytes = header.encode().map_err(std::io::Error::other)?;
            let mut f = tokio::fs::File::create(&incoming.tmp).await?;
            f.write_all(&bytes).await?;
            Ok::<_, std::io::Error>(f)
        };
        match opened.await {
            Ok(f) => incoming.file = Some(f),
            Err(e) => {
                incoming.refused = Some(format!("cannot write {}: {e}", incoming.tmp.display()))
            }
        }
        incoming
    }

    /// Makes a received instance durable, then answers its C-STORE.
    async fn finish(&mut self, assoc: &mut ClientAssoc, mut incoming: Incoming) -> Result<()> {
        let uid = incoming
            .rq
            .affected_sop_instance_uid
            .trim_end_matches(['\0', ' '])
            .to_string();
        let path = self.out_dir.join(format!("{uid}.dcm"));
        if incoming.refused.is_none()
            && let Some(mut f) = incoming.file.take()
        {
            let durable = async {
                f.flush().await?;
                f.sync_all().await?;
                drop(f);
                tokio::fs::rename(&incoming.tmp, &path).await?;
                tokio::fs::File::open(self.out_dir).await?.sync_all().await
            };
            if let Err(e) = durable.await {
                incoming.refused = Some(format!("cannot write {}: {e}", path.display()));
            }
        }
        let status = match &incoming.refused {
            None => {
                self.outcome.received.push(path);
                status::SUCCESS
            }
            Some(why) => {
                let _ = tokio::fs::remove_file(&incoming.tmp).await;
                tracing::warn!(sop_instance = %uid, "instance not kept: {why}");
                self.outcome.not_kept.push((uid, why.clone()));
                status::OUT_OF_RESOURCES
            }
        };
        let rsp = incoming.rq.response(status, incoming.refused.clone());
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: incoming.pc_id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: rsp.encode()?,
                }],
            })
            .await?;
        Ok(())
    }

    /// The outcome, from the final response.
    fn end(&mut self, rsp: &Command) -> GetOutcome {
        self.outcome.status = rsp.status;
        self.outcome.comment = rsp.error_comment.clone();
        self.outcome.counts = rsp.sub_operations.unwrap_or_default();
        std::mem::take(&mut self.outcome)
    }

    /// A data set in the syntax of presentation context `pc_id`.
    fn dataset(&self, pc_id: u8, bytes: &[u8]) -> Result<Option<InMemDicomObject>> {
        let ts_uid = self
            .accepted
            .iter()
            .find(|(id, _, _)| *id == pc_id)
            .map(|(_, _, ts)| ts.as_str())
            .unwrap_or_default();
        let ts = syntax_of(ts_uid)?;
        sansfilm_dicom::bounds::check_dataset_bytes(bytes, ts.uid())
            .map_err(|e| Error::Command(e.to_string()))?;
        Ok(InMemDicomObject::read_dataset_with_ts(bytes, ts).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_stay_within_an_association() {
        let few: Vec<String> = vec![uids::CT_IMAGE_STORAGE.into()];
        let c = contexts_for(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            &few,
            false,
        );
        assert_eq!(c.len(), 1 + 1 + COMPRESSED.len(), "one context per syntax");
        let many: Vec<String> = COMMON_STORAGE_CLASSES
            .iter()
            .chain(COMMON_STORAGE_CLASSES)
            .take(MAX_STORAGE_CLASSES)
            .map(|s| s.to_string())
            .collect();
        let c = contexts_for(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            &many,
            false,
        );
        assert!(c.len() <= 127, "{}", c.len());
        for class in &many {
            assert!(
                c.iter()
                    .any(|(k, ts)| k == class && ts[0] == uids::EXPLICIT_VR_LITTLE_ENDIAN)
            );
        }
        let c = contexts_for(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            &many,
            true,
        );
        assert_eq!(c.len(), 1 + many.len());
    }
}
