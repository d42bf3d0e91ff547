//! Query/Retrieve C-MOVE and C-GET: the instances an identifier names
//! (Patient Root or Study Root, any level), found by the archive's query API
//! and sent by the DICOM server to the destination named in the request
//! (C-MOVE) or on the requester's association (C-GET).

use std::path::Path;
use std::sync::Arc;

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use sansfilm_archive::Archive;
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog};
use sansfilm_codec::transcode::native_dataset;
use sansfilm_dimse::client::Transcoder;
use sansfilm_dimse::{Failure, RetrieveContext, RetrieveItem, RetrieveService, status};

/// An instance whose object cannot be had: sent as a file that does not
/// exist (the empty path), so that it fails at its turn and is counted.
fn unreadable(sop_instance_uid: String, e: &sansfilm_archive::Error) -> RetrieveItem {
    tracing::warn!(sop_instance = %sop_instance_uid, "cannot be read: {e}");
    RetrieveItem::file(sop_instance_uid, std::path::PathBuf::new())
}

/// The C-MOVE service over an [`Archive`].
#[derive(Debug, Clone)]
pub struct QrMove {
    archive: Archive,
    audit: Option<AuditLog>,
}

impl QrMove {
    /// A move service over `archive`; with `audit`, each move is recorded
    /// once its sub-operations are over (DICOM Instances Transferred, with
    /// the counts).
    pub fn new(archive: Archive, audit: Option<AuditLog>) -> Self {
        QrMove { archive, audit }
    }

    fn record(&self, ctx: &RetrieveContext, outcome: Outcome, n: usize, detail: String) {
        let Some(log) = &self.audit else { return };
        let event = AuditEvent::new(
            EventKind::InstancesTransferred,
            "C-MOVE",
            Action::Read,
            outcome,
        )
        .participant(
            ctx.calling_ae.clone(),
            ctx.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            true,
        )
        .participant(ctx.destination.clone(), "", false)
        .instances(u32::try_from(n).unwrap_or(u32::MAX))
        .detail(detail);
        if let Err(e) = log.append(event) {
            tracing::error!("cannot audit the C-MOVE: {e}");
        }
    }
}

impl RetrieveService for QrMove {
    fn sop_classes(&self) -> Vec<String> {
        vec![
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE.to_string(),
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE.to_string(),
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.to_string(),
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.to_string(),
        ]
    }

    fn instances(
        &self,
        _ctx: &RetrieveContext,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<RetrieveItem>, Failure> {
        let mut keys = identifier.clone();
        keys.remove_element(tags::QUERY_RETRIEVE_LEVEL);
        let conditions = sansfilm_dicom::matching::conditions(&keys)
            .map_err(|e| Failure::new(e.status, e.comment))?;
        if conditions.is_empty() {
            // A retrieve names what it wants: an empty identifier would send
            // the whole archive.
            return Err(Failure::new(
                status::DATASET_DOES_NOT_MATCH_SOP_CLASS,
                "the identifier names no patient, study, series or instance",
            ));
        }
        let found = self.archive.index().locate(&conditions).map_err(|e| {
            Failure::new(status::OUT_OF_RESOURCES, format!("index unavailable: {e}"))
        })?;
        let objects = self.archive.objects();
        let items: Vec<RetrieveItem> = found
            .into_iter()
            .map(|i| {
                let key = i.key();
                let local = key.as_ref().ok().and_then(|k| objects.local_path(k));
                match (key, local) {
                    // A local file: a missing one fails at its turn, counted.
                    (_, Some(path)) => {
                        RetrieveItem::file(i.sop_instance_uid, path).with_sop_class(i.sop_class_uid)
                    }
                    (Ok(key), None) => match objects.local(&key) {
                        Ok(copy) => RetrieveItem {
                            sop_instance_uid: i.sop_instance_uid,
                            path: copy.path().to_path_buf(),
                            sop_class_uid: Some(i.sop_class_uid),
                            keep: Some(Arc::new(copy)),
                        },
                        Err(e) => unreadable(i.sop_instance_uid, &e),
                    },
                    (Err(e), None) => unreadable(i.sop_instance_uid, &e),
                }
            })
            .collect();
        Ok(items)
    }

    fn transcoder(&self) -> Option<Arc<dyn Transcoder>> {
        Some(Arc::new(NativeTranscoder))
    }

    fn moved(&self, ctx: &RetrieveContext, sent: &[RetrieveItem], failed: &[RetrieveItem]) {
        let outcome = if failed.is_empty() {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        };
        self.record(
            ctx,
            outcome,
            sent.len(),
            format!(
                "to {}: {} sent, {} failed",
                ctx.destination,
                sent.len(),
                failed.len()
            ),
        );
    }
}

/// Decodes a stored instance (JPEG-LS, JPEG 2000, RLE…) for a destination
/// that takes only native syntaxes: the codec crate's checked decoding, the
/// pixels described as they are, every other attribute unchanged. A lossy
/// syntax is never produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeTranscoder;

impl Transcoder for NativeTranscoder {
    fn native(&self, path: &Path, ts: &str) -> Result<Vec<u8>, String> {
        let obj = dicom_object::open_file(path).map_err(|e| e.to_string())?;
        native_dataset(&obj, ts).map_err(|e| e.to_string())
    }
}
