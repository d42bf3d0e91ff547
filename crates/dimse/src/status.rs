//! DIMSE status codes (PS3.7 Annex C) used by the services here.

/// Success.
pub const SUCCESS: u16 = 0x0000;
/// Warning: the instance was stored with coercion of data elements.
pub const WARNING_COERCION: u16 = 0xB000;
/// Refused: out of resources (disk full, index unavailable).
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Error: data set does not match SOP class.
pub const DATASET_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
/// Error: cannot understand.
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// Failure: processing failure.
pub const PROCESSING_FAILURE: u16 = 0x0110;
/// Failure: SOP class not supported.
pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
/// Refused: not authorized (the calling AE may not do this).
pub const NOT_AUTHORIZED: u16 = 0x0124;
/// Failure: unrecognized operation.
pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;

/// Refused: out of resources, unable to perform sub-operations (C-MOVE).
pub const UNABLE_TO_PERFORM_SUBOPERATIONS: u16 = 0xA702;
/// Refused: move destination unknown (C-MOVE).
pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
/// Warning: sub-operations complete, one or more failures (C-MOVE, C-GET).
pub const SUBOPERATIONS_WITH_FAILURES: u16 = 0xB000;

/// Pending: a match follows (C-FIND).
pub const PENDING: u16 = 0xFF00;
/// Cancel: the operation was stopped by C-CANCEL.
pub const CANCEL: u16 = 0xFE00;

/// Whether a status means the operation succeeded (success or warning).
pub fn is_success_or_warning(status: u16) -> bool {
    status == SUCCESS || status == 0x0001 || (status & 0xF000) == 0xB000
}

/// A short name for a status, for logs and command-line output.
pub fn describe(status: u16) -> &'static str {
    match status {
        SUCCESS => "success",
        0x0001 | 0xB000..=0xBFFF => "warning",
        OUT_OF_RESOURCES..=0xA7FF => "refused: out of resources",
        DATASET_DOES_NOT_MATCH_SOP_CLASS..=0xA9FF => "error: data set does not match SOP class",
        CANNOT_UNDERSTAND..=0xCFFF => "error: cannot understand",
        PROCESSING_FAILURE => "failure: processing failure",
        SOP_CLASS_NOT_SUPPORTED => "failure: SOP class not supported",
        UNRECOGNIZED_OPERATION => "failure: unrecognized operation",
        0xFE00 => "cancel",
        0xFF00 | 0xFF01 => "pending",
        _ => "failure",
    }
}
