//! The C-STORE service that writes into the archive.

use sansfilm_archive::{Archive, FailureKind, Incoming, IncomingMeta, StoreOutcome};
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::log::Pending;
use sansfilm_audit::{AuditEvent, AuditLog};
use sansfilm_dimse::{Failure, StoreContext, StoreService, StoreSink, Stored, status};

/// Stores every received instance in an [`Archive`], and audits it.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    archive: Archive,
    audit: Option<AuditLog>,
}

impl ArchiveStore {
    /// A store service over `archive`; with `audit`, every store is recorded
    /// durably before its status is sent.
    pub fn new(archive: Archive, audit: Option<AuditLog>) -> Self {
        ArchiveStore { archive, audit }
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
                max_bytes: Some(ctx.max_instance_bytes),
            })
            .map_err(to_failure)?;
        let auditor = Auditor {
            ctx: ctx.clone(),
            log: self.audit.clone(),
        };
        Ok(Box::new(ArchiveSink { incoming, auditor }))
    }
}

struct ArchiveSink {
    incoming: Incoming,
    auditor: Auditor,
}

struct Auditor {
    ctx: StoreContext,
    log: Option<AuditLog>,
}

impl Auditor {
    fn event(&self, outcome: Outcome, patient: &str, study: &str, detail: &str) -> AuditEvent {
        let host = self
            .ctx
            .peer
            .map(|p| p.ip().to_string())
            .unwrap_or_default();
        AuditEvent::new(
            EventKind::InstancesTransferred,
            "received",
            Action::Create,
            outcome,
        )
        .participant(self.ctx.calling_ae.clone(), host, true)
        .participant(self.ctx.called_ae.clone(), "", false)
        .patient(patient)
        .study(study)
        .instances(1)
        .detail(detail)
    }

    /// Starts recording the transfer (`None` when auditing is off).
    fn submit(&self, outcome: Outcome, patient: &str, study: &str) -> Option<Pending> {
        let log = self.log.as_ref()?;
        Some(log.submit(self.event(outcome, patient, study, "")))
    }

    /// Records the transfer and waits until it is durable.
    fn record(
        &self,
        outcome: Outcome,
        patient: &str,
        study: &str,
        detail: &str,
    ) -> Result<(), Failure> {
        let Some(log) = &self.log else { return Ok(()) };
        log.append(self.event(outcome, patient, study, detail))
            .map(|_| ())
            .map_err(|e| {
                tracing::error!("audit trail unavailable: {e}");
                Failure::out_of_resources(format!("audit trail unavailable: {e}"))
            })
    }
}

impl StoreSink for ArchiveSink {
    fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.incoming.write(data).map_err(to_failure)
    }

    fn finish(self: Box<Self>) -> Result<Stored, Failure> {
        let ArchiveSink {
            mut incoming,
            auditor,
        } = *self;
        // The audit record is written while the archive makes the instance
        // durable: both fsyncs overlap instead of adding up.
        let pending = match incoming.summary() {
            Ok(s) => auditor.submit(Outcome::Success, &s.patient.patient_id, &s.study.study_uid),
            Err(_) => None,
        };
        let outcome = incoming.commit();
        let audited = pending.map(Pending::wait);
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // A success record may already be on disk: the failure follows it.
                let _ = auditor.record(Outcome::MinorFailure, "", "", &e.to_string());
                return Err(to_failure(e));
            }
        };
        match audited {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::error!("audit trail unavailable: {e}");
                return Err(Failure::out_of_resources(format!(
                    "audit trail unavailable: {e}"
                )));
            }
            None => {
                let (patient, study) = match &outcome {
                    StoreOutcome::Stored { summary, .. }
                    | StoreOutcome::Conflict { summary, .. } => (
                        summary.patient.patient_id.clone(),
                        summary.study.study_uid.clone(),
                    ),
                    StoreOutcome::Duplicate { .. } => (String::new(), String::new()),
                };
                auditor.record(Outcome::Success, &patient, &study, "")?;
            }
        }
        match outcome {
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
