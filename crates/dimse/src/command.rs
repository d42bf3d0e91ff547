//! DIMSE command sets (PS3.7 9.3 and E.1): encoding and decoding.
//!
//! Command sets are always Implicit VR Little Endian, whatever the presentation
//! context negotiated for the data set.

use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxRegistry, entries};

use crate::{Error, Result};

/// Command Field values (0000,0100).
pub mod field {
    /// C-STORE-RQ.
    pub const C_STORE_RQ: u16 = 0x0001;
    /// C-STORE-RSP.
    pub const C_STORE_RSP: u16 = 0x8001;
    /// C-FIND-RQ.
    pub const C_FIND_RQ: u16 = 0x0020;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// C-ECHO-RSP.
    pub const C_ECHO_RSP: u16 = 0x8030;
    /// C-FIND-RSP.
    pub const C_FIND_RSP: u16 = 0x8020;
    /// C-MOVE-RQ.
    pub const C_MOVE_RQ: u16 = 0x0021;
    /// C-GET-RQ.
    pub const C_GET_RQ: u16 = 0x0010;
    /// C-MOVE-RSP.
    pub const C_MOVE_RSP: u16 = 0x8021;
    /// C-CANCEL-RQ.
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// The sub-operation counts of a C-MOVE (or C-GET) response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubOperations {
    /// Number of Remaining Sub-operations (0000,1020).
    pub remaining: u16,
    /// Number of Completed Sub-operations (0000,1021).
    pub completed: u16,
    /// Number of Failed Sub-operations (0000,1022).
    pub failed: u16,
    /// Number of Warning Sub-operations (0000,1023).
    pub warning: u16,
}

/// Command Data Set Type (0000,0800) value meaning "no data set".
pub const NO_DATASET: u16 = 0x0101;
/// Command Data Set Type value used when a data set follows.
pub const HAS_DATASET: u16 = 0x0000;

/// A decoded DIMSE command set, with the fields the services here use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// Command Field (0000,0100).
    pub field: u16,
    /// Message ID (0000,0110), in requests.
    pub message_id: u16,
    /// Message ID Being Responded To (0000,0120), in responses.
    pub message_id_responded: u16,
    /// Affected SOP Class UID (0000,0002).
    pub affected_sop_class_uid: String,
    /// Affected SOP Instance UID (0000,1000).
    pub affected_sop_instance_uid: String,
    /// Priority (0000,0700).
    pub priority: u16,
    /// Whether a data set follows (Command Data Set Type != 0101).
    pub has_dataset: bool,
    /// Status (0000,0900), in responses.
    pub status: u16,
    /// Error Comment (0000,0902), in failure responses.
    pub error_comment: Option<String>,
    /// Move Originator AE Title (0000,1030), when a C-MOVE caused this store.
    pub move_originator_ae: Option<String>,
    /// Move Destination (0000,0600), in a C-MOVE-RQ.
    pub move_destination: Option<String>,
    /// Sub-operation counts, in C-MOVE and C-GET responses.
    pub sub_operations: Option<SubOperations>,
}

impl Command {
    /// A C-ECHO-RQ.
    pub fn echo_rq(message_id: u16) -> Self {
        Command {
            field: field::C_ECHO_RQ,
            message_id,
            affected_sop_class_uid: dicom_dictionary_std::uids::VERIFICATION.into(),
            ..Default::default()
        }
    }

    /// A C-STORE-RQ for one instance.
    pub fn store_rq(message_id: u16, sop_class_uid: &str, sop_instance_uid: &str) -> Self {
        Command {
            field: field::C_STORE_RQ,
            message_id,
            affected_sop_class_uid: sop_class_uid.into(),
            affected_sop_instance_uid: sop_instance_uid.into(),
            has_dataset: true,
            ..Default::default()
        }
    }

    /// The response to this request, with a status and an optional comment.
    pub fn response(&self, status: u16, error_comment: Option<String>) -> Self {
        Command {
            field: self.field | 0x8000,
            message_id_responded: self.message_id,
            affected_sop_class_uid: self.affected_sop_class_uid.clone(),
            affected_sop_instance_uid: self.affected_sop_instance_uid.clone(),
            status,
            // Error Comment is limited to 64 characters (LO).
            error_comment: error_comment.map(|c| truncate_chars(&c, 64)),
            ..Default::default()
        }
    }

    /// This response, saying that a data set follows (C-FIND pending).
    pub fn with_dataset(mut self) -> Self {
        self.has_dataset = true;
        self
    }

    /// Whether this is a response (high bit of the command field).
    pub fn is_response(&self) -> bool {
        self.field & 0x8000 != 0
    }

    /// Encodes the command set in Implicit VR Little Endian.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut elements = vec![];
        if !self.affected_sop_class_uid.is_empty() {
            elements.push(DataElement::new(
                tags::AFFECTED_SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(self.affected_sop_class_uid.as_str()),
            ));
        }
        elements.push(DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [self.field]),
        ));
        if self.is_response() {
            elements.push(DataElement::new(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                VR::US,
                dicom_value!(U16, [self.message_id_responded]),
            ));
        } else {
            elements.push(DataElement::new(
                tags::MESSAGE_ID,
                VR::US,
                dicom_value!(U16, [self.message_id]),
            ));
        }
        if self.field == field::C_STORE_RQ {
            elements.push(DataElement::new(
                tags::PRIORITY,
                VR::US,
                dicom_value!(U16, [self.priority]),
            ));
        }
        elements.push(DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(
                U16,
                [if self.has_dataset {
                    HAS_DATASET
                } else {
                    NO_DATASET
                }]
            ),
        ));
        if self.is_response() {
            elements.push(DataElement::new(
                tags::STATUS,
                VR::US,
                dicom_value!(U16, [self.status]),
            ));
            if let Some(comment) = &self.error_comment {
                elements.push(DataElement::new(
                    tags::ERROR_COMMENT,
                    VR::LO,
                    PrimitiveValue::from(comment.as_str()),
                ));
            }
        }
        if let Some(dest) = &self.move_destination {
            elements.push(DataElement::new(
                tags::MOVE_DESTINATION,
                VR::AE,
                PrimitiveValue::from(dest.as_str()),
            ));
        }
        if let Some(n) = self.sub_operations {
            for (tag, v) in [
                (tags::NUMBER_OF_REMAINING_SUBOPERATIONS, n.remaining),
                (tags::NUMBER_OF_COMPLETED_SUBOPERATIONS, n.completed),
                (tags::NUMBER_OF_FAILED_SUBOPERATIONS, n.failed),
                (tags::NUMBER_OF_WARNING_SUBOPERATIONS, n.warning),
            ] {
                elements.push(DataElement::new(tag, VR::US, dicom_value!(U16, [v])));
            }
        }
        if !self.affected_sop_instance_uid.is_empty() {
            elements.push(DataElement::new(
                tags::AFFECTED_SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(self.affected_sop_instance_uid.as_str()),
            ));
        }
        let obj = InMemDicomObject::command_from_element_iter(elements);
        let mut out = Vec::with_capacity(256);
        obj.write_dataset_with_ts(&mut out, &entries::IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| Error::Command(e.to_string()))?;
        Ok(out)
    }

    /// Decodes a command set.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let ts = TransferSyntaxRegistry
            .get(dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN)
            .ok_or_else(|| Error::Command("implicit VR LE not registered".into()))?;
        // Lengths are checked against the bytes received before dicom-rs
        // reserves them (it would zero-fill a declared 4 GB).
        sansfilm_dicom::bounds::check_dataset_bytes(bytes, ts.uid())
            .map_err(|e| Error::Command(e.to_string()))?;
        let obj = InMemDicomObject::read_dataset_with_ts(bytes, ts)
            .map_err(|e| Error::Command(e.to_string()))?;
        let u16_of = |tag| -> Option<u16> { obj.get(tag).and_then(|e| e.to_int::<u16>().ok()) };
        let str_of = |tag| -> Option<String> {
            obj.get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        };
        let field = u16_of(tags::COMMAND_FIELD)
            .ok_or_else(|| Error::Command("no Command Field (0000,0100)".into()))?;
        Ok(Command {
            field,
            message_id: u16_of(tags::MESSAGE_ID).unwrap_or(0),
            message_id_responded: u16_of(tags::MESSAGE_ID_BEING_RESPONDED_TO).unwrap_or(0),
            affected_sop_class_uid: str_of(tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            affected_sop_instance_uid: str_of(tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default(),
            priority: u16_of(tags::PRIORITY).unwrap_or(0),
            has_dataset: u16_of(tags::COMMAND_DATA_SET_TYPE).unwrap_or(NO_DATASET) != NO_DATASET,
            status: u16_of(tags::STATUS).unwrap_or(0),
            error_comment: str_of(tags::ERROR_COMMENT),
            move_originator_ae: str_of(tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE),
            move_destination: str_of(tags::MOVE_DESTINATION).map(|s| s.trim().to_string()),
            sub_operations: u16_of(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).map(|completed| {
                SubOperations {
                    remaining: u16_of(tags::NUMBER_OF_REMAINING_SUBOPERATIONS).unwrap_or(0),
                    completed,
                    failed: u16_of(tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(0),
                    warning: u16_of(tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(0),
                }
            }),
        })
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trip() {
        let rq = Command::store_rq(7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5");
        let back = Command::decode(&rq.encode().unwrap()).unwrap();
        assert_eq!(back, rq);
        let rsp = rq.response(0xA700, Some("disk full".into()));
        let back = Command::decode(&rsp.encode().unwrap()).unwrap();
        assert_eq!(back.field, field::C_STORE_RSP);
        assert_eq!(back.message_id_responded, 7);
        assert_eq!(back.status, 0xA700);
        assert_eq!(back.error_comment.as_deref(), Some("disk full"));
        assert!(!back.has_dataset);
    }

    #[test]
    fn long_comments_are_cut_to_64_chars() {
        let rsp = Command::echo_rq(1).response(0x0110, Some("é".repeat(100)));
        assert_eq!(rsp.error_comment.unwrap().chars().count(), 64);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Command::decode(&[1, 2, 3]).is_err());
    }
}
