//! MWL C-FIND identifiers: the matching rules are those of
//! [`sansfilm_dicom::matching`] (shared with Query/Retrieve); this module
//! adds what the Modality Worklist information model requires: Scheduled
//! Procedure Step attributes only inside their sequence, one item in it,
//! and its Start Date and Time matched as one date-time range
//! (C.2.2.2.5.1).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

pub use sansfilm_dicom::matching::{
    Condition, IDENTIFIER_DOES_NOT_MATCH, Matcher, QueryError, glob, matches,
};
use sansfilm_dicom::matching::{combine_date_time, refuse};

/// Attributes of the Scheduled Procedure Step, which belong inside
/// (0040,0100), not at the top level of an MWL identifier.
const STEP_ATTRIBUTES: &[Tag] = &[
    tags::SCHEDULED_STATION_AE_TITLE,
    tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
    tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
    tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_ID,
    tags::SCHEDULED_STATION_NAME,
    tags::SCHEDULED_PROCEDURE_STEP_LOCATION,
    tags::SCHEDULED_PROCEDURE_STEP_STATUS,
];

/// The matching keys of an identifier, checked.
pub fn conditions(identifier: &InMemDicomObject) -> Result<Vec<Condition>, QueryError> {
    for tag in STEP_ATTRIBUTES {
        if identifier.get(*tag).is_some() {
            return Err(refuse(format!(
                "{tag} belongs inside the Scheduled Procedure Step Sequence (0040,0100)"
            )));
        }
    }
    if let Some(sps) = identifier.get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE) {
        let n = sps.items().map(|i| i.len()).unwrap_or(0);
        if n > 1 {
            return Err(refuse(format!(
                "Scheduled Procedure Step Sequence (0040,0100) holds {n} items; one is allowed"
            )));
        }
    }
    let mut out = sansfilm_dicom::matching::conditions(identifier)?;
    for c in &mut out {
        if c.tag == tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE
            && let Matcher::Sequence(sub) = &mut c.matcher
        {
            combine_date_time(
                sub,
                tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
                tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
            );
        }
    }
    Ok(out)
}
