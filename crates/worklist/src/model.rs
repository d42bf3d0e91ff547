//! The worklist model: one entry per scheduled procedure step, with its
//! requested procedure and patient (PS3.4 K.6, the MWL information model).
//!
//! Text is UTF-8. Dates are `YYYYMMDD`, times `HHMMSS` (fractions allowed), as
//! DICOM writes them.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

/// A coded entry (Code Value, Coding Scheme Designator, Code Meaning).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// Code Value (0008,0100).
    pub value: String,
    /// Coding Scheme Designator (0008,0102).
    pub scheme: String,
    /// Code Meaning (0008,0104).
    pub meaning: String,
}

/// Status of a scheduled procedure step (0040,0020).
pub mod status {
    /// Scheduled, not started.
    pub const SCHEDULED: &str = "SCHEDULED";
    /// Started at the modality.
    pub const ARRIVED: &str = "ARRIVED";
    /// Ready to start.
    pub const READY: &str = "READY";
    /// Started.
    pub const STARTED: &str = "STARTED";
    /// Completed.
    pub const COMPLETED: &str = "COMPLETED";
    /// Discontinued (cancelled).
    pub const DISCONTINUED: &str = "DISCONTINUED";
}

/// One worklist entry: a scheduled procedure step with its order and patient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistItem {
    /// Patient ID (0010,0020).
    pub patient_id: String,
    /// Issuer of Patient ID (0010,0021).
    pub issuer: String,
    /// Patient's Name (0010,0010), components joined by `^`.
    pub patient_name: String,
    /// Patient's Birth Date (0010,0030).
    pub birth_date: String,
    /// Patient's Sex (0010,0040).
    pub sex: String,
    /// Medical Alerts (0010,2000).
    pub medical_alerts: String,
    /// Contrast Allergies (0010,2110).
    pub allergies: String,
    /// Accession Number (0008,0050).
    pub accession_number: String,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician: String,
    /// Requesting Physician (0032,1032).
    pub requesting_physician: String,
    /// Study Instance UID (0020,000D).
    pub study_uid: String,
    /// Requested Procedure ID (0040,1001).
    pub requested_procedure_id: String,
    /// Requested Procedure Description (0032,1060).
    pub requested_procedure_description: String,
    /// Requested Procedure Priority (0040,1003).
    pub requested_procedure_priority: String,
    /// Requested Procedure Code Sequence (0032,1064), first item.
    pub requested_procedure_code: Option<Code>,
    /// Scheduled Procedure Step ID (0040,0009).
    pub sps_id: String,
    /// Scheduled Station AE Titles (0040,0001); several are allowed.
    pub station_aes: Vec<String>,
    /// Scheduled Station Name (0040,0010).
    pub station_name: String,
    /// Modality (0008,0060).
    pub modality: String,
    /// Scheduled Procedure Step Start Date (0040,0002).
    pub start_date: String,
    /// Scheduled Procedure Step Start Time (0040,0003).
    pub start_time: String,
    /// Scheduled Performing Physician's Name (0040,0006).
    pub performing_physician: String,
    /// Scheduled Procedure Step Description (0040,0007).
    pub sps_description: String,
    /// Scheduled Procedure Step Location (0040,0011).
    pub location: String,
    /// Pre-Medication (0040,0012).
    pub premedication: String,
    /// Requested Contrast Agent (0032,1070).
    pub contrast_agent: String,
    /// Comments on the Scheduled Procedure Step (0040,0400).
    pub comments: String,
    /// Scheduled Procedure Step Status (0040,0020).
    pub status: String,
    /// Scheduled Protocol Code Sequence (0040,0008).
    pub protocol_codes: Vec<Code>,
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn codes(obj: &InMemDicomObject, tag: Tag) -> Vec<Code> {
    obj.get(tag)
        .and_then(|e| e.items())
        .map(|items| {
            items
                .iter()
                .map(|i| Code {
                    value: text(i, tags::CODE_VALUE),
                    scheme: text(i, tags::CODING_SCHEME_DESIGNATOR),
                    meaning: text(i, tags::CODE_MEANING),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn code_items(codes: &[Code]) -> DataSetSequence<InMemDicomObject> {
    let items: Vec<InMemDicomObject> = codes
        .iter()
        .map(|c| {
            let mut i = InMemDicomObject::new_empty();
            put(&mut i, tags::CODE_VALUE, VR::SH, &c.value);
            put(&mut i, tags::CODING_SCHEME_DESIGNATOR, VR::SH, &c.scheme);
            put(&mut i, tags::CODE_MEANING, VR::LO, &c.meaning);
            i
        })
        .collect();
    DataSetSequence::from(items)
}

impl WorklistItem {
    /// Reads an entry from a worklist data set (a DCMTK `.wl` file's content, or
    /// an HL7-built data set). Only the first Scheduled Procedure Step item is
    /// read: a `.wl` file holds one step.
    pub fn from_dataset(obj: &InMemDicomObject) -> WorklistItem {
        let empty = InMemDicomObject::new_empty();
        let sps = obj
            .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .unwrap_or(&empty);
        let station_aes = text(sps, tags::SCHEDULED_STATION_AE_TITLE)
            .split('\\')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        WorklistItem {
            patient_id: text(obj, tags::PATIENT_ID),
            issuer: text(obj, tags::ISSUER_OF_PATIENT_ID),
            patient_name: text(obj, tags::PATIENT_NAME),
            birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
            sex: text(obj, tags::PATIENT_SEX),
            medical_alerts: text(obj, tags::MEDICAL_ALERTS),
            allergies: text(obj, tags::ALLERGIES),
            accession_number: text(obj, tags::ACCESSION_NUMBER),
            referring_physician: text(obj, tags::REFERRING_PHYSICIAN_NAME),
            requesting_physician: text(obj, tags::REQUESTING_PHYSICIAN),
            study_uid: text(obj, tags::STUDY_INSTANCE_UID),
            requested_procedure_id: text(obj, tags::REQUESTED_PROCEDURE_ID),
            requested_procedure_description: text(obj, tags::REQUESTED_PROCEDURE_DESCRIPTION),
            requested_procedure_priority: text(obj, tags::REQUESTED_PROCEDURE_PRIORITY),
            requested_procedure_code: codes(obj, tags::REQUESTED_PROCEDURE_CODE_SEQUENCE)
                .into_iter()
                .next(),
            sps_id: text(sps, tags::SCHEDULED_PROCEDURE_STEP_ID),
            station_aes,
            station_name: text(sps, tags::SCHEDULED_STATION_NAME),
            modality: text(sps, tags::MODALITY),
            start_date: text(sps, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
            start_time: text(sps, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
            performing_physician: text(sps, tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME),
            sps_description: text(sps, tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION),
            location: text(sps, tags::SCHEDULED_PROCEDURE_STEP_LOCATION),
            premedication: text(sps, tags::PRE_MEDICATION),
            contrast_agent: text(sps, tags::REQUESTED_CONTRAST_AGENT),
            comments: text(sps, tags::COMMENTS_ON_THE_SCHEDULED_PROCEDURE_STEP),
            status: text(sps, tags::SCHEDULED_PROCEDURE_STEP_STATUS),
            protocol_codes: codes(sps, tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE),
        }
    }

    /// The entry as a complete worklist data set (UTF-8 text), from which
    /// answers are cut to the keys each query asks for.
    pub fn to_dataset(&self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put(
            &mut o,
            tags::ACCESSION_NUMBER,
            VR::SH,
            &self.accession_number,
        );
        put(
            &mut o,
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            &self.referring_physician,
        );
        put(&mut o, tags::PATIENT_NAME, VR::PN, &self.patient_name);
        put(&mut o, tags::PATIENT_ID, VR::LO, &self.patient_id);
        put(&mut o, tags::ISSUER_OF_PATIENT_ID, VR::LO, &self.issuer);
        put(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, &self.birth_date);
        put(&mut o, tags::PATIENT_SEX, VR::CS, &self.sex);
        put(&mut o, tags::MEDICAL_ALERTS, VR::LO, &self.medical_alerts);
        put(&mut o, tags::ALLERGIES, VR::LO, &self.allergies);
        put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &self.study_uid);
        put(
            &mut o,
            tags::REQUESTING_PHYSICIAN,
            VR::PN,
            &self.requesting_physician,
        );
        put(
            &mut o,
            tags::REQUESTED_PROCEDURE_DESCRIPTION,
            VR::LO,
            &self.requested_procedure_description,
        );
        if let Some(code) = &self.requested_procedure_code {
            o.put(DataElement::new(
                tags::REQUESTED_PROCEDURE_CODE_SEQUENCE,
                VR::SQ,
                code_items(std::slice::from_ref(code)),
            ));
        }
        put(
            &mut o,
            tags::REQUESTED_PROCEDURE_ID,
            VR::SH,
            &self.requested_procedure_id,
        );
        put(
            &mut o,
            tags::REQUESTED_PROCEDURE_PRIORITY,
            VR::SH,
            &self.requested_procedure_priority,
        );
        let mut sps = InMemDicomObject::new_empty();
        put(&mut sps, tags::MODALITY, VR::CS, &self.modality);
        put(
            &mut sps,
            tags::REQUESTED_CONTRAST_AGENT,
            VR::LO,
            &self.contrast_agent,
        );
        put(
            &mut sps,
            tags::SCHEDULED_STATION_AE_TITLE,
            VR::AE,
            &self.station_aes.join("\\"),
        );
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            &self.start_date,
        );
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
            VR::TM,
            &self.start_time,
        );
        put(
            &mut sps,
            tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
            VR::PN,
            &self.performing_physician,
        );
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
            VR::LO,
            &self.sps_description,
        );
        if !self.protocol_codes.is_empty() {
            sps.put(DataElement::new(
                tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE,
                VR::SQ,
                code_items(&self.protocol_codes),
            ));
        }
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_ID,
            VR::SH,
            &self.sps_id,
        );
        put(
            &mut sps,
            tags::SCHEDULED_STATION_NAME,
            VR::SH,
            &self.station_name,
        );
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_LOCATION,
            VR::SH,
            &self.location,
        );
        put(&mut sps, tags::PRE_MEDICATION, VR::LO, &self.premedication);
        put(
            &mut sps,
            tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            VR::CS,
            &self.status,
        );
        put(
            &mut sps,
            tags::COMMENTS_ON_THE_SCHEDULED_PROCEDURE_STEP,
            VR::LT,
            &self.comments,
        );
        o.put(DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![sps]),
        ));
        o
    }
}
