//! What the services write to the audit trail, and when.
//!
//! A store is audited (durably) before its success status leaves; a query
//! before its answers; an HL7 message before its ACK. Refused associations
//! are recorded without waiting (they acknowledge nothing).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::syslog::Destination;
use sansfilm_audit::{AuditEvent, AuditLog};
use sansfilm_hl7::{AckCode, Processed};
use sansfilm_worklist::Command;
use serde::{Deserialize, Serialize};

/// The `[audit]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record events (turning this off is for benchmarks, not practices).
    pub enabled: bool,
    /// Key sealing the records; default `DATA_DIR/audit.key`. Keep a copy
    /// apart from the data.
    pub key_file: Option<std::path::PathBuf>,
    /// Audit repository receiving the records: `udp://HOST:PORT` or
    /// `tcp://HOST:PORT` (RFC 5424 syslog, DICOM audit messages).
    pub syslog: Option<String>,
    /// For `tls://`: the CA certificate (PEM) that signed the repository's.
    pub syslog_ca: Option<std::path::PathBuf>,
    /// For `tls://` with mutual authentication: this node's certificate (PEM).
    pub syslog_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `syslog_cert`.
    pub syslog_key: Option<std::path::PathBuf>,
}

impl AuditConfig {
    /// The repository destination of `url` with this configuration's TLS
    /// settings.
    pub fn destination(&self, url: &str) -> Result<Destination, String> {
        let tls = match &self.syslog_ca {
            Some(ca) => {
                let identity = match (&self.syslog_cert, &self.syslog_key) {
                    (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
                    (None, None) => None,
                    _ => return Err("audit.syslog_cert and audit.syslog_key go together".into()),
                };
                Some(
                    sansfilm_audit::syslog::TlsClient::new(ca, identity)
                        .map_err(|e| e.to_string())?,
                )
            }
            None => None,
        };
        Destination::parse(url, tls)
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            key_file: None,
            syslog: None,
            syslog_ca: None,
            syslog_cert: None,
            syslog_key: None,
        }
    }
}

/// Opens the audit log of a configuration (`None` when disabled).
pub fn open(config: &crate::Config) -> sansfilm_audit::Result<Option<AuditLog>> {
    if !config.audit.enabled {
        return Ok(None);
    }
    AuditLog::open(&config.data_dir, config.audit.key_file.as_deref()).map(Some)
}

/// Records a Security Alert when the effective configuration differs from the
/// one the last service started with.
pub fn configuration(log: Option<&AuditLog>, config: &crate::Config, service: &str) {
    use sha2::Digest;
    let Some(log) = log else { return };
    let text = toml::to_string(config).unwrap_or_default();
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let marker = format!("configuration sha256={digest}");
    let last = log
        .records(&sansfilm_audit::Filter {
            kind: Some(EventKind::SecurityAlert),
            ..Default::default()
        })
        .ok()
        .and_then(|r| {
            r.into_iter()
                .rev()
                .find(|r| r.event.subtype == "configuration")
                .map(|r| r.event.detail)
        });
    if last.as_deref() == Some(marker.as_str()) {
        return;
    }
    let event = AuditEvent::new(
        EventKind::SecurityAlert,
        "configuration",
        Action::Update,
        Outcome::Success,
    )
    .participant(service, host(), true)
    .detail(marker);
    if let Err(e) = log.append(event) {
        tracing::error!("cannot audit the configuration: {e}");
    }
}

/// Records a Security Alert found by a check (tampering, corrupt files).
pub fn alert(log: &AuditLog, what: &str, detail: String) {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let event = AuditEvent::new(
        EventKind::SecurityAlert,
        what,
        Action::Execute,
        Outcome::SeriousFailure,
    )
    .participant(user, host(), true)
    .detail(detail);
    if let Err(e) = log.append(event) {
        tracing::error!("cannot audit the alert: {e}");
    }
}

/// Records a backup run (DICOM "Export"): the target, the snapshot, what
/// it holds, or why it failed.
pub fn backup_run(log: &AuditLog, target: &str, outcome: Result<String, String>) {
    let (result, detail) = match outcome {
        Ok(d) => (Outcome::Success, d),
        Err(d) => (Outcome::SeriousFailure, d),
    };
    let event = AuditEvent::new(EventKind::DataExport, "backup", Action::Read, result)
        .participant("sansfilm backup", host(), true)
        .participant(format!("backup target {target}"), host(), false)
        .detail(detail);
    if let Err(e) = log.append(event) {
        tracing::error!("cannot audit the backup: {e}");
    }
}

/// A share made from the command line (`sansfilm share create`).
pub fn share_created(log: &AuditLog, share_id: i64, scope: &str) {
    let event = AuditEvent::new(
        EventKind::SecurityAlert,
        "share created",
        Action::Execute,
        Outcome::Success,
    )
    .participant("sansfilm share", host(), true)
    .detail(format!("share #{share_id}: {scope}"));
    if let Err(e) = log.append(event) {
        tracing::error!("cannot audit the share: {e}");
    }
}

/// Records the start or stop of a service, and writes the head of the chain
/// to the service log as a checkpoint.
pub fn application(log: Option<&AuditLog>, service: &str, started: bool) {
    let Some(log) = log else { return };
    let event = AuditEvent::new(
        EventKind::ApplicationActivity,
        if started {
            "Application Start"
        } else {
            "Application Stop"
        },
        Action::Execute,
        Outcome::Success,
    )
    .participant(service, crate::audit::host(), false);
    match log.append(event) {
        Ok(head) => {
            tracing::info!(checkpoint = %head, "audit checkpoint (keep it apart from the data)")
        }
        Err(e) => tracing::error!("cannot audit {service}: {e}"),
    }
}

pub(crate) fn host() -> String {
    sansfilm_audit::syslog::hostname()
}

/// Association-level events of the DICOM server.
#[derive(Debug, Clone)]
pub struct DicomEvents(pub AuditLog);

impl sansfilm_dimse::ServerEvents for DicomEvents {
    fn association_refused(
        &self,
        calling_ae: &str,
        called_ae: &str,
        peer: Option<IpAddr>,
        reason: &str,
    ) {
        self.0.append_detached(
            AuditEvent::new(
                EventKind::SecurityAlert,
                "association refused",
                Action::Execute,
                Outcome::MinorFailure,
            )
            .participant(
                calling_ae,
                peer.map(|p| p.to_string()).unwrap_or_default(),
                true,
            )
            .participant(called_ae, host(), false)
            .detail(reason),
        );
    }

    fn request_refused(
        &self,
        calling_ae: &str,
        peer: Option<IpAddr>,
        operation: &str,
        sop_class_uid: &str,
    ) {
        let kind = if operation == "C-FIND" {
            EventKind::Query
        } else {
            EventKind::InstancesTransferred
        };
        let event = AuditEvent::new(kind, operation, Action::Execute, Outcome::MinorFailure);
        let event = if kind == EventKind::Query {
            event.query(format!("SOPClassUID={sop_class_uid}"))
        } else {
            event
        };
        self.0.append_detached(
            event
                .participant(
                    calling_ae,
                    peer.map(|p| p.to_string()).unwrap_or_default(),
                    true,
                )
                .participant("SANSFILM", host(), false)
                .detail(format!(
                    "refused: not permitted to this AE ({sop_class_uid})"
                )),
        );
    }
}

/// A C-FIND recorded before its answers are sent (DICOM Query, with the
/// keys): `what` names the model ("Modality Worklist", "Query/Retrieve").
pub fn record_query(
    log: &AuditLog,
    what: &str,
    ctx: &sansfilm_dimse::FindContext,
    identifier: &dicom_object::InMemDicomObject,
    answers: &Result<Vec<dicom_object::InMemDicomObject>, sansfilm_dimse::Failure>,
) -> Result<(), sansfilm_dimse::Failure> {
    let (outcome, detail) = match answers {
        Ok(a) => (Outcome::Success, format!("{} answers", a.len())),
        Err(f) => (Outcome::MinorFailure, f.to_string()),
    };
    let event = AuditEvent::new(EventKind::Query, what, Action::Execute, outcome)
        .participant(
            ctx.calling_ae.clone(),
            ctx.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            true,
        )
        .participant(ctx.called_ae.clone(), "", false)
        .query(crate::worklist_find::query_keys(identifier))
        .detail(detail);
    log.append(event).map(|_| ()).map_err(|e| {
        sansfilm_dimse::Failure::new(
            sansfilm_dimse::status::OUT_OF_RESOURCES,
            format!("audit trail unavailable: {e}"),
        )
    })
}

/// The audit event of an HL7 message's outcome.
pub fn hl7_events(done: &Processed, peer: std::net::SocketAddr) -> Vec<AuditEvent> {
    let who = |e: AuditEvent| {
        e.participant(done.sender.clone(), peer.ip().to_string(), true)
            .participant("SANSFILM-HL7", host(), false)
    };
    if done.code != AckCode::AA {
        let kind = if done.message_type.starts_with("ADT") {
            EventKind::PatientRecord
        } else {
            EventKind::OrderRecord
        };
        let outcome = if done.code == AckCode::AE {
            Outcome::MinorFailure
        } else {
            Outcome::SeriousFailure
        };
        return vec![who(AuditEvent::new(
            kind,
            done.message_type.clone(),
            Action::Update,
            outcome,
        )
        .detail(format!(
            "{} {}: {}",
            done.code.as_str(),
            done.control_id,
            done.detail
        )))];
    }
    done.applied
        .iter()
        .map(|c| {
            let e = match c {
                Command::UpsertPatient(p) => AuditEvent::new(
                    EventKind::PatientRecord,
                    "create or update",
                    Action::Update,
                    Outcome::Success,
                )
                .patient(p.patient_id.clone()),
                Command::MergePatient { from, into } => AuditEvent::new(
                    EventKind::PatientRecord,
                    "merge",
                    Action::Update,
                    Outcome::Success,
                )
                .patient(into.patient_id.clone())
                .detail(format!("merged {} into {}", from.0, into.patient_id)),
                Command::ChangePatientId { from, to } => AuditEvent::new(
                    EventKind::PatientRecord,
                    "change identifier",
                    Action::Update,
                    Outcome::Success,
                )
                .patient(to.patient_id.clone())
                .detail(format!("{} became {}", from.0, to.patient_id)),
                Command::CancelPatientSteps((id, _)) => AuditEvent::new(
                    EventKind::OrderRecord,
                    "cancel",
                    Action::Update,
                    Outcome::Success,
                )
                .patient(id.clone()),
                Command::CreateOrder(items) => {
                    let first = items.first().cloned().unwrap_or_default();
                    AuditEvent::new(
                        EventKind::OrderRecord,
                        "create",
                        Action::Create,
                        Outcome::Success,
                    )
                    .patient(first.patient_id)
                    .accession(first.accession_number)
                    .study(first.study_uid)
                }
                Command::ReplaceOrder { accession, items } => {
                    let first = items.first().cloned().unwrap_or_default();
                    AuditEvent::new(
                        EventKind::OrderRecord,
                        "change",
                        Action::Update,
                        Outcome::Success,
                    )
                    .patient(first.patient_id)
                    .accession(accession.clone())
                }
                Command::SetOrderStatus { accession, status } => AuditEvent::new(
                    EventKind::OrderRecord,
                    "status",
                    Action::Update,
                    Outcome::Success,
                )
                .accession(accession.clone())
                .detail(status.clone()),
            };
            who(e.detail(format!("{} {}", done.message_type, done.control_id)))
        })
        .collect()
}

/// The hook the HL7 listener calls before each ACK. Failures (AE, AR)
/// repeated from one address are folded into one record with a count
/// ([`crate::repeated`]); every applied change is recorded as it is.
pub fn hl7_hook(log: AuditLog) -> sansfilm_hl7::server::OnProcessed {
    let failures = crate::repeated::RepeatedFailures::new(log.clone(), crate::repeated::WINDOW);
    Arc::new(move |done: &Processed, peer| {
        let recorded = if done.code == AckCode::AA {
            log.append_all(hl7_events(done, peer)).map(|_| ())
        } else {
            let kind = format!(
                "{} {} {}",
                done.code.as_str(),
                done.message_type,
                done.detail
            );
            hl7_events(done, peer)
                .into_iter()
                .try_for_each(|e| failures.record(peer.ip(), &kind, e))
        };
        if let Err(e) = recorded {
            tracing::error!("cannot audit HL7 message {}: {e}", done.control_id);
        }
    })
}

/// Sends the audit trail to the configured repository every few seconds,
/// until `stop`; a repository that is down gets the backlog when it returns.
pub async fn forward_to_syslog(
    log: AuditLog,
    config: AuditConfig,
    destination: String,
    stop: tokio_util::sync::CancellationToken,
) {
    let dest: Destination = match config.destination(&destination) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("audit.syslog: {e}");
            return;
        }
    };
    let mut failing = false;
    loop {
        let (l, d) = (log.clone(), dest.clone());
        let sent = tokio::task::spawn_blocking(move || {
            sansfilm_audit::syslog::send_pending(&l, &d, "sansfilm")
        })
        .await;
        match sent {
            Ok(Ok(n)) => {
                if failing || n > 0 {
                    tracing::debug!(records = n, destination = %dest, "audit records sent");
                }
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!(destination = %dest, "audit repository unreachable, keeping the backlog: {e}");
                failing = true;
            }
            _ => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
