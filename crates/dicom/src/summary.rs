//! Instance summaries: the keys an archive indexes, read without pixel data.

use std::path::Path;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, syntax::trim_uid};

/// Patient-level keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientKeys {
    /// Patient ID (0010,0020); may be empty.
    pub patient_id: String,
    /// Issuer of Patient ID (0010,0021); may be empty.
    pub issuer: String,
    /// Patient's Name (0010,0010), decoded to UTF-8, components joined by `^`.
    pub name: String,
    /// Patient's Birth Date (0010,0030), `YYYYMMDD` as stored.
    pub birth_date: String,
    /// Patient's Sex (0010,0040).
    pub sex: String,
}

/// Study-level keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyKeys {
    /// Study Instance UID (0020,000D).
    pub study_uid: String,
    /// Study Date (0008,0020).
    pub study_date: String,
    /// Study Time (0008,0030).
    pub study_time: String,
    /// Accession Number (0008,0050).
    pub accession_number: String,
    /// Study Description (0008,1030).
    pub description: String,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician: String,
    /// Study ID (0020,0010).
    pub study_id: String,
    /// Institution Name (0008,0080).
    pub institution_name: String,
    /// Study Comments (0032,4000), retired but still asked by viewers.
    pub study_comments: String,
}

/// Series-level keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesKeys {
    /// Series Instance UID (0020,000E).
    pub series_uid: String,
    /// Modality (0008,0060).
    pub modality: String,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    /// Series Description (0008,103E).
    pub description: String,
    /// Series Date (0008,0021).
    pub series_date: String,
    /// Series Time (0008,0031).
    pub series_time: String,
    /// Body Part Examined (0018,0015).
    pub body_part: String,
    /// Performing Physician's Name (0008,1050).
    pub performing_physician: String,
}

/// Everything the archive indexes about one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: String,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: String,
    /// Instance Number (0020,0013).
    pub instance_number: Option<i64>,
    /// Transfer syntax the instance is stored in (from the file meta group).
    pub transfer_syntax: String,
    /// Specific Character Set (0008,0005) as found in the instance.
    pub specific_character_set: String,
    /// Patient keys.
    pub patient: PatientKeys,
    /// Study keys.
    pub study: StudyKeys,
    /// Series keys.
    pub series: SeriesKeys,
}

impl InstanceSummary {
    /// Reads a Part 10 file up to (not including) its pixel data and extracts the
    /// keys. Fails when the file is not DICOM, is truncated before the pixel
    /// data, or lacks one of the four UIDs that place it in the hierarchy.
    /// The data set's structure is checked first ([`crate::bounds`]), so a
    /// hostile file cannot make the parser reserve more than its own size.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        crate::bounds::check_file(path.as_ref())?;
        let obj = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path.as_ref())?;
        Self::from_file_object(&obj)
    }

    /// Extracts the keys from an opened file object.
    pub fn from_file_object(obj: &DefaultDicomObject) -> Result<Self> {
        let mut summary = Self::from_dataset(obj)?;
        summary.transfer_syntax = obj.meta().transfer_syntax().to_string();
        Ok(summary)
    }

    /// Extracts the keys from a data set (the transfer syntax is left empty).
    pub fn from_dataset(obj: &InMemDicomObject) -> Result<Self> {
        let summary = InstanceSummary {
            sop_class_uid: uid(obj, tags::SOP_CLASS_UID),
            sop_instance_uid: uid(obj, tags::SOP_INSTANCE_UID),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            transfer_syntax: String::new(),
            specific_character_set: text(obj, tags::SPECIFIC_CHARACTER_SET),
            patient: PatientKeys {
                patient_id: text(obj, tags::PATIENT_ID),
                issuer: text(obj, tags::ISSUER_OF_PATIENT_ID),
                name: text(obj, tags::PATIENT_NAME),
                birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
                sex: text(obj, tags::PATIENT_SEX),
            },
            study: StudyKeys {
                study_uid: uid(obj, tags::STUDY_INSTANCE_UID),
                study_date: text(obj, tags::STUDY_DATE),
                study_time: text(obj, tags::STUDY_TIME),
                accession_number: text(obj, tags::ACCESSION_NUMBER),
                description: text(obj, tags::STUDY_DESCRIPTION),
                referring_physician: text(obj, tags::REFERRING_PHYSICIAN_NAME),
                study_id: text(obj, tags::STUDY_ID),
                institution_name: text(obj, tags::INSTITUTION_NAME),
                study_comments: text(obj, STUDY_COMMENTS),
            },
            series: SeriesKeys {
                series_uid: uid(obj, tags::SERIES_INSTANCE_UID),
                modality: text(obj, tags::MODALITY),
                series_number: int(obj, tags::SERIES_NUMBER),
                description: text(obj, tags::SERIES_DESCRIPTION),
                series_date: text(obj, tags::SERIES_DATE),
                series_time: text(obj, tags::SERIES_TIME),
                body_part: text(obj, tags::BODY_PART_EXAMINED),
                performing_physician: text(obj, tags::PERFORMING_PHYSICIAN_NAME),
            },
        };
        for (value, keyword) in [
            (&summary.sop_class_uid, "SOPClassUID"),
            (&summary.sop_instance_uid, "SOPInstanceUID"),
            (&summary.study.study_uid, "StudyInstanceUID"),
            (&summary.series.series_uid, "SeriesInstanceUID"),
        ] {
            if value.is_empty() {
                return Err(Error::MissingAttribute(keyword));
            }
        }
        Ok(summary)
    }
}

/// SOP Class UID and SOP Instance UID of a Part 10 file's data set (read up to
/// the pixel data); empty strings for absent attributes.
pub fn sop_uids(path: impl AsRef<Path>) -> Result<(String, String)> {
    crate::bounds::check_file(path.as_ref())?;
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path.as_ref())?;
    Ok((
        uid(&obj, tags::SOP_CLASS_UID),
        uid(&obj, tags::SOP_INSTANCE_UID),
    ))
}

/// Study Comments (0032,4000): retired, yet OsiriX and Horos ask for it.
#[allow(deprecated)]
const STUDY_COMMENTS: Tag = tags::STUDY_COMMENTS;

/// Text value with padding trimmed; empty when absent or not text.
fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    let Some(e) = obj.get(tag) else {
        return String::new();
    };
    if e.vr() == VR::UN {
        // Explicit VR files sometimes carry standard attributes as UN: their
        // bytes are the text (in the default repertoire for UIDs and codes).
        return e
            .to_bytes()
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .trim_matches(['\0', ' '])
                    .to_string()
            })
            .unwrap_or_default();
    }
    e.to_str().map(|s| s.trim().to_string()).unwrap_or_default()
}

fn uid(obj: &InMemDicomObject, tag: Tag) -> String {
    trim_uid(text(obj, tag).as_str()).to_string()
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let s = text(obj, tag);
    s.split('\\').next()?.trim().parse().ok()
}
