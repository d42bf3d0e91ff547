//! The audit event model, after DICOM PS3.15 A.5 (the IHE ATNA audit
//! messages): what happened, when, with what outcome, who took part and which
//! patient, studies or queries it concerned.

use serde::{Deserialize, Serialize};

/// Kinds of event (PS3.15 A.5.3), each with its DICOM EventID code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// Application Activity: a service started or stopped (DCM 110100).
    ApplicationActivity,
    /// DICOM Instances Transferred: received or sent (DCM 110104).
    InstancesTransferred,
    /// Query: a C-FIND, with its keys (DCM 110112).
    Query,
    /// Patient Record: created, updated, merged from HL7 (DCM 110110).
    PatientRecord,
    /// Order Record: created, changed, cancelled from HL7 (DCM 110109).
    OrderRecord,
    /// DICOM Instances Accessed: compression, deletion (DCM 110103).
    InstancesAccessed,
    /// Data Export: backup, media (DCM 110106).
    DataExport,
    /// Security Alert: association refused, tampering, configuration (DCM 110113).
    SecurityAlert,
    /// Audit Log Used: someone read or exported the log (DCM 110101).
    AuditLogUsed,
    /// User Authentication: a login or logout, a share code tried (DCM
    /// 110114).
    UserAuthentication,
}

impl EventKind {
    /// DICOM EventID code value (scheme DCM).
    pub fn code(self) -> &'static str {
        match self {
            EventKind::ApplicationActivity => "110100",
            EventKind::InstancesTransferred => "110104",
            EventKind::Query => "110112",
            EventKind::PatientRecord => "110110",
            EventKind::OrderRecord => "110109",
            EventKind::InstancesAccessed => "110103",
            EventKind::DataExport => "110106",
            EventKind::SecurityAlert => "110113",
            EventKind::AuditLogUsed => "110101",
            EventKind::UserAuthentication => "110114",
        }
    }

    /// DICOM EventID code meaning.
    pub fn meaning(self) -> &'static str {
        match self {
            EventKind::ApplicationActivity => "Application Activity",
            EventKind::InstancesTransferred => "DICOM Instances Transferred",
            EventKind::Query => "Query",
            EventKind::PatientRecord => "Patient Record",
            EventKind::OrderRecord => "Order Record",
            EventKind::InstancesAccessed => "DICOM Instances Accessed",
            EventKind::DataExport => "Export",
            EventKind::SecurityAlert => "Security Alert",
            EventKind::AuditLogUsed => "Audit Log Used",
            EventKind::UserAuthentication => "User Authentication",
        }
    }

    /// All kinds, for parsing names on the command line.
    pub const ALL: [EventKind; 10] = [
        EventKind::ApplicationActivity,
        EventKind::InstancesTransferred,
        EventKind::Query,
        EventKind::PatientRecord,
        EventKind::OrderRecord,
        EventKind::InstancesAccessed,
        EventKind::DataExport,
        EventKind::SecurityAlert,
        EventKind::AuditLogUsed,
        EventKind::UserAuthentication,
    ];
}

/// EventActionCode: Create, Read, Update, Delete, Execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// C: create.
    Create,
    /// R: read, display, query.
    Read,
    /// U: update.
    Update,
    /// D: delete.
    Delete,
    /// E: execute.
    Execute,
}

impl Action {
    /// The code letter.
    pub fn code(self) -> &'static str {
        match self {
            Action::Create => "C",
            Action::Read => "R",
            Action::Update => "U",
            Action::Delete => "D",
            Action::Execute => "E",
        }
    }
}

/// EventOutcomeIndicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// 0: success.
    Success,
    /// 4: minor failure.
    MinorFailure,
    /// 8: serious failure.
    SeriousFailure,
    /// 12: major failure.
    MajorFailure,
}

impl Outcome {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::MinorFailure => 4,
            Outcome::SeriousFailure => 8,
            Outcome::MajorFailure => 12,
        }
    }
}

/// Someone or something taking part: a modality, the RIS, this archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// AE title or application name.
    pub id: String,
    /// Network address (host or IP).
    pub host: String,
    /// Whether this participant asked for the action.
    pub requestor: bool,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What kind of event.
    pub kind: EventKind,
    /// Event type detail (e.g. "Application Start", "received", "merge").
    pub subtype: String,
    /// Action.
    pub action: Action,
    /// Outcome.
    pub outcome: Outcome,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// Patient ID concerned, if any.
    pub patient_id: String,
    /// Study Instance UIDs concerned.
    pub study_uids: Vec<String>,
    /// Accession number concerned, if any.
    pub accession: String,
    /// Number of SOP instances concerned.
    pub instances: u32,
    /// Query keys (C-FIND), as `keyword=value` pairs.
    pub query: String,
    /// Free text: why it failed, what changed.
    pub detail: String,
}

impl AuditEvent {
    /// An event with no participant or object yet.
    pub fn new(
        kind: EventKind,
        subtype: impl Into<String>,
        action: Action,
        outcome: Outcome,
    ) -> Self {
        AuditEvent {
            kind,
            subtype: subtype.into(),
            action,
            outcome,
            participants: vec![],
            patient_id: String::new(),
            study_uids: vec![],
            accession: String::new(),
            instances: 0,
            query: String::new(),
            detail: String::new(),
        }
    }

    /// Adds a participant.
    pub fn participant(
        mut self,
        id: impl Into<String>,
        host: impl Into<String>,
        requestor: bool,
    ) -> Self {
        self.participants.push(Participant {
            id: id.into(),
            host: host.into(),
            requestor,
        });
        self
    }

    /// Sets the patient.
    pub fn patient(mut self, patient_id: impl Into<String>) -> Self {
        self.patient_id = patient_id.into();
        self
    }

    /// Adds a study.
    pub fn study(mut self, uid: impl Into<String>) -> Self {
        let uid = uid.into();
        if !uid.is_empty() && !self.study_uids.contains(&uid) {
            self.study_uids.push(uid);
        }
        self
    }

    /// Sets the accession number.
    pub fn accession(mut self, accession: impl Into<String>) -> Self {
        self.accession = accession.into();
        self
    }

    /// Sets the instance count.
    pub fn instances(mut self, n: u32) -> Self {
        self.instances = n;
        self
    }

    /// Sets the query keys.
    pub fn query(mut self, keys: impl Into<String>) -> Self {
        self.query = keys.into();
        self
    }

    /// Sets the detail text.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}
