//! Changes to the worklist as the RIS asks for them (the HL7 bridge maps its
//! messages to these), applied all together or not at all.

use serde::{Deserialize, Serialize};

use crate::model::WorklistItem;

/// A patient's identity and demographics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    /// Patient ID.
    pub patient_id: String,
    /// Issuer of Patient ID (assigning authority).
    pub issuer: String,
    /// Name, DICOM PN form (`Family^Given^Middle^Prefix^Suffix`).
    pub name: String,
    /// Birth date `YYYYMMDD`.
    pub birth_date: String,
    /// Sex (`M`, `F`, `O`).
    pub sex: String,
}

impl Patient {
    /// Copies this patient's identity and demographics into an entry.
    pub fn apply_to(&self, item: &mut WorklistItem) {
        item.patient_id = self.patient_id.clone();
        item.issuer = self.issuer.clone();
        item.patient_name = self.name.clone();
        item.birth_date = self.birth_date.clone();
        item.sex = self.sex.clone();
    }
}

/// One change to the worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Creates the patient, or updates their demographics everywhere.
    UpsertPatient(Patient),
    /// Moves every entry of patient `from` to `into` (which must be known or
    /// is created), and forgets `from` (HL7 A40).
    MergePatient {
        /// The patient that disappears (HL7 MRG-1).
        from: (String, String),
        /// The surviving patient.
        into: Patient,
    },
    /// Renames patient `from` to the identity of `to` (HL7 A47).
    ChangePatientId {
        /// The old identifier.
        from: (String, String),
        /// The new identity.
        to: Patient,
    },
    /// Discontinues every scheduled step of a patient (HL7 A11).
    CancelPatientSteps((String, String)),
    /// Adds the steps of a new order; fails if the accession number exists.
    CreateOrder(Vec<WorklistItem>),
    /// Replaces the steps of an existing order; fails if it is unknown.
    ReplaceOrder {
        /// Accession number of the order.
        accession: String,
        /// Its new steps.
        items: Vec<WorklistItem>,
    },
    /// Sets the step status of an order; fails if it is unknown.
    SetOrderStatus {
        /// Accession number.
        accession: String,
        /// New status (`DISCONTINUED`, `COMPLETED`, `STARTED`, `SCHEDULED`…).
        status: String,
    },
}

/// The inbound message a set of commands comes from, kept with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Who sent it (HL7: sending application and facility).
    pub source: String,
    /// Its identifier at the source (HL7 MSH-10).
    pub message_id: String,
    /// The message as received.
    pub raw: Vec<u8>,
    /// A one-line description for people reading the journal.
    pub summary: String,
}

/// How [`crate::WorklistStore::apply`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The commands were applied and the message journaled, in one commit.
    Done,
    /// A message with this source and identifier was applied before: nothing
    /// was changed this time.
    AlreadyApplied,
}

/// A command that cannot be applied; the whole message is then refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// What was wrong.
    pub reason: String,
    /// The kind of problem, for the sender's acknowledgement.
    pub kind: RejectionKind,
}

/// Kinds of rejection (they map onto HL7 table 0357).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// A patient or order the message names is not known (0357: 204).
    UnknownKey,
    /// An order that the message creates already exists (0357: 205).
    DuplicateKey,
}
