//! Prefetch of priors: when the RIS orders an exam, the patient's last
//! studies (of the same modality, by default) are sent to the reading
//! workstation before the exam is read, so that comparison needs no wait.
//!
//! The order's HL7 message is acknowledged first; the prefetch runs after,
//! in the background, and never delays or fails the order. What is sent is
//! found by the archive's query API and sent as C-MOVE would send it (as
//! stored, or decoded for a workstation that takes only native syntaxes),
//! and recorded in the audit trail (DICOM Instances Transferred).

use std::sync::Arc;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_archive::{Archive, Level, Query};
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog};
use sansfilm_dimse::client::{self, ClientOptions};
use sansfilm_dimse::{Destination, RetrieveService};
use sansfilm_hl7::Processed;
use sansfilm_worklist::Command;
use serde::{Deserialize, Serialize};

/// `[prefetch]`: priors sent to a workstation when an exam is ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrefetchConfig {
    /// Send priors when an order arrives.
    pub enabled: bool,
    /// The workstation's AE title, one of `[dicom.destinations]`.
    pub destination: String,
    /// How many of the patient's most recent studies.
    pub studies: usize,
    /// Only studies of the ordered modality.
    pub same_modality: bool,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        PrefetchConfig {
            enabled: false,
            destination: String::new(),
            studies: 3,
            same_modality: true,
        }
    }
}

/// What a prefetch needs: the archive, where to send, our AE title.
#[derive(Clone)]
pub struct Prefetcher {
    archive: Archive,
    config: PrefetchConfig,
    destination: Destination,
    ae_title: String,
    audit: Option<AuditLog>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher")
            .field("destination", &self.config.destination)
            .finish_non_exhaustive()
    }
}

impl Prefetcher {
    /// A prefetcher, or `None` when prefetch is off. The destination must be
    /// in `destinations` (checked by the configuration's validation).
    pub fn new(
        archive: Archive,
        config: &crate::Config,
        audit: Option<AuditLog>,
    ) -> Option<Prefetcher> {
        let p = &config.prefetch;
        if !p.enabled {
            return None;
        }
        let destination = config.dicom.destinations.get(&p.destination)?.clone();
        Some(Prefetcher {
            archive,
            config: p.clone(),
            destination,
            ae_title: config.dicom.ae_title.clone(),
            audit,
        })
    }

    /// Starts the prefetch for the orders a processed message created (on
    /// the current tokio runtime); returns at once.
    pub fn on_processed(&self, done: &Processed) {
        for command in &done.applied {
            let Command::CreateOrder(items) = command else {
                continue;
            };
            let Some(item) = items.first() else { continue };
            let (patient, modality) = (item.patient_id.clone(), item.modality.clone());
            let this = self.clone();
            let Ok(handle) = tokio::runtime::Handle::try_current() else {
                return;
            };
            handle.spawn(async move { this.send_priors(&patient, &modality).await });
        }
    }

    /// The studies to send: the patient's most recent, of the modality.
    fn priors(&self, patient_id: &str, modality: &str) -> Vec<String> {
        let mut keys = vec![DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from(patient_id),
        )];
        if self.config.same_modality && !modality.is_empty() {
            keys.push(DataElement::new(
                tags::MODALITIES_IN_STUDY,
                VR::CS,
                PrimitiveValue::from(modality),
            ));
        }
        let identifier = InMemDicomObject::from_element_iter(keys);
        let Ok(conditions) = sansfilm_dicom::matching::conditions(&identifier) else {
            return vec![];
        };
        let studies = self
            .archive
            .index()
            .query(&Query {
                level: Level::Study,
                conditions,
                offset: 0,
                limit: 0,
            })
            .unwrap_or_default();
        // The query orders by date, oldest first: the last ones are wanted.
        studies
            .iter()
            .rev()
            .take(self.config.studies)
            .filter_map(|s| {
                s.get(tags::STUDY_INSTANCE_UID)
                    .and_then(|e| e.to_str().ok())
                    .map(|u| u.to_string())
            })
            .collect()
    }

    async fn send_priors(&self, patient_id: &str, modality: &str) {
        let this = self.clone();
        let (p, m) = (patient_id.to_string(), modality.to_string());
        let plan = tokio::task::spawn_blocking(move || {
            let studies = this.priors(&p, &m);
            let mut paths = vec![];
            for uid in &studies {
                let identifier = InMemDicomObject::from_element_iter([DataElement::new(
                    tags::STUDY_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(uid.as_str()),
                )]);
                let Ok(conditions) = sansfilm_dicom::matching::conditions(&identifier) else {
                    continue;
                };
                for i in this.archive.index().locate(&conditions).unwrap_or_default() {
                    paths.push(this.archive.layout().absolute(&i.path));
                }
            }
            (studies, paths)
        })
        .await;
        let Ok((studies, paths)) = plan else { return };
        if paths.is_empty() {
            tracing::info!(patient_id, modality, "prefetch: no prior study");
            return;
        }
        let options = ClientOptions {
            calling_ae: self.ae_title.clone(),
            called_ae: self.config.destination.clone(),
            ..Default::default()
        };
        let address = format!("{}:{}", self.destination.host, self.destination.port);
        let transcoder = crate::QrMove::new(self.archive.clone(), None).transcoder();
        let report =
            client::send_files_with(&address, &options, paths, 2, Arc::new(|_| {}), transcoder)
                .await;
        let (sent, failed) = match &report {
            Ok(r) => (r.succeeded(), r.failed()),
            Err(e) => {
                tracing::warn!(patient_id, destination = %self.config.destination,
                    "prefetch failed: {e}");
                (0, 0)
            }
        };
        tracing::info!(patient_id, modality, studies = studies.len(), sent, failed,
            destination = %self.config.destination, "prefetch of priors");
        if let Some(log) = &self.audit {
            let outcome = if failed == 0 && report.is_ok() {
                Outcome::Success
            } else {
                Outcome::MinorFailure
            };
            let mut event = AuditEvent::new(
                EventKind::InstancesTransferred,
                "prefetch",
                Action::Read,
                outcome,
            )
            .participant(self.ae_title.clone(), "", true)
            .participant(
                self.config.destination.clone(),
                self.destination.host.clone(),
                false,
            )
            .patient(patient_id)
            .instances(u32::try_from(sent).unwrap_or(u32::MAX))
            .detail(format!("{sent} sent, {failed} failed"));
            for s in &studies {
                event = event.study(s.clone());
            }
            log.append_detached(event);
        }
    }
}
