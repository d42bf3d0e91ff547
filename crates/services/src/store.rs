//! The C-STORE service that writes into the archive.

use sansfilm_archive::{Archive, FailureKind, Incoming, IncomingMeta, StoreOutcome};
use sansfilm_dimse::{Failure, StoreContext, StoreService, StoreSink, Stored, status};

/// Stores every received instance in an [`Archive`].
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    archive: Archive,
}

impl ArchiveStore {
    /// A store service over `archive`.
    pub fn new(archive: Archive) -> Self {
        ArchiveStore { archive }
    }
}

impl StoreService for ArchiveStore {
    fn begin(&self, ctx: &StoreContext) -> Result<Box<dyn StoreSink>, Failure> {
        let incoming = self
            .archive
            .begin(IncomingMeta {
                sop_class_uid: ctx.sop_class_uid.clone(),
                sop_instance_uid: ctx.sop_instance_uid.clone(),
                transfer_syntax: ctx.transfer_syntax.clone(),
                calling_ae: ctx.calling_ae.clone(),
                called_ae: ctx.called_ae.clone(),
            })
            .map_err(to_failure)?;
        Ok(Box::new(ArchiveSink { incoming }))
    }
}

struct ArchiveSink {
    incoming: Incoming,
}

impl StoreSink for ArchiveSink {
    fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.incoming.write(data).map_err(to_failure)
    }

    fn finish(self: Box<Self>) -> Result<Stored, Failure> {
        match self.incoming.commit().map_err(to_failure)? {
            StoreOutcome::Stored { .. } => Ok(Stored::success()),
            StoreOutcome::Duplicate { path } => Ok(Stored::success_with_note(format!(
                "identical instance already stored at {}",
                path.display()
            ))),
            StoreOutcome::Conflict { path, summary } => {
                tracing::warn!(sop_instance_uid = %summary.sop_instance_uid, path = %path.display(),
                    "same SOP Instance UID with different content: both versions kept, flagged in the index");
                Ok(Stored::success_with_note(format!(
                    "SOP Instance UID already stored with other content; kept as {}",
                    path.display()
                )))
            }
        }
    }
}

/// Maps an archive error to the DIMSE status a peer should receive.
pub fn to_failure(e: sansfilm_archive::Error) -> Failure {
    let status = match e.kind() {
        FailureKind::OutOfResources => status::OUT_OF_RESOURCES,
        FailureKind::CannotUnderstand => status::CANNOT_UNDERSTAND,
        FailureKind::DataSetMismatch => status::DATASET_DOES_NOT_MATCH_SOP_CLASS,
        FailureKind::Processing => status::PROCESSING_FAILURE,
        _ => status::PROCESSING_FAILURE,
    };
    tracing::error!(status = format_args!("{status:04X}"), "store failed: {e}");
    Failure::new(status, e.to_string())
}
