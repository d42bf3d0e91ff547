//! Transfer syntaxes the archive accepts, and Storage SOP classes.
//!
//! Both lists come from the DICOM dictionary of dicom-rs, never from UIDs typed by
//! hand. Storage SOP classes are recognised by looking the proposed abstract
//! syntax up in the standard SOP class dictionary, so a class added to the
//! standard (and to the dictionary) is accepted without a change here.

use dicom_core::dictionary::{UidDictionary, UidDictionaryEntry};
use dicom_dictionary_std::{StandardSopClassDictionary, uids};

/// Transfer syntaxes accepted for storage, in order of preference when a peer
/// proposes several in one presentation context. Data sets are stored exactly as
/// received, so every encapsulated syntax is accepted whether or not sansfilm
/// can decode its pixels.
#[allow(deprecated)] // Explicit VR Big Endian is retired, but old devices still send it.
pub const STORAGE_TRANSFER_SYNTAXES: &[&str] = &[
    // Native (uncompressed) encodings.
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_BIG_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::ENCAPSULATED_UNCOMPRESSED_EXPLICIT_VR_LITTLE_ENDIAN,
    // Lossless compression first, so that a peer offering both gets lossless.
    uids::JPEG2000_LOSSLESS,
    uids::JPEGLS_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
    uids::RLE_LOSSLESS,
    uids::HTJ2K_LOSSLESS,
    uids::HTJ2K_LOSSLESS_RPCL,
    uids::JPEGXL_LOSSLESS,
    uids::JPEG2000MC_LOSSLESS,
    // Lossy or near-lossless compression, stored as the modality made it.
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000,
    uids::JPEG2000MC,
    uids::HTJ2K,
    uids::JPEGXLJPEG_RECOMPRESSION,
    uids::JPEGXL,
    // Video, as ultrasound and endoscopy send it.
    uids::MPEG2MPML,
    uids::MPEG2MPMLF,
    uids::MPEG2MPHL,
    uids::MPEG2MPHLF,
    uids::MPEG4HP41,
    uids::MPEG4HP41F,
    uids::MPEG4HP41BD,
    uids::MPEG4HP41BDF,
    uids::MPEG4HP422D,
    uids::MPEG4HP422DF,
    uids::MPEG4HP423D,
    uids::MPEG4HP423DF,
    uids::MPEG4HP42STEREO,
    uids::MPEG4HP42STEREOF,
    uids::HEVCMP51,
    uids::HEVCM10P51,
];

/// Whether `uid` is one of [`STORAGE_TRANSFER_SYNTAXES`].
pub fn is_accepted_transfer_syntax(uid: &str) -> bool {
    let uid = trim_uid(uid);
    STORAGE_TRANSFER_SYNTAXES.contains(&uid)
}

/// Whether `uid` names a Storage SOP class of the DICOM standard, retired ones
/// included (old modalities still send them).
///
/// ```
/// use sansfilm_dicom::syntax::is_storage_sop_class;
/// assert!(is_storage_sop_class("1.2.840.10008.5.1.4.1.1.2")); // CT Image Storage
/// assert!(!is_storage_sop_class("1.2.840.10008.1.1")); // Verification
/// assert!(!is_storage_sop_class("1.2.840.10008.1.20.1")); // Storage Commitment
/// ```
pub fn is_storage_sop_class(uid: &str) -> bool {
    let uid = trim_uid(uid);
    let Some(entry) = StandardSopClassDictionary.by_uid(uid) else {
        return false;
    };
    let name = entry.name();
    // Storage Commitment and the DICOMDIR class carry "Storage" in their names
    // but are not C-STORE targets.
    name.contains("Storage")
        && !name.starts_with("Storage Commitment")
        && uid != uids::MEDIA_STORAGE_DIRECTORY_STORAGE
}

/// Whether `uid` is a UID that the standard dictionary does not know at all,
/// which is how vendors' private SOP classes appear.
pub fn is_unknown_sop_class(uid: &str) -> bool {
    StandardSopClassDictionary.by_uid(trim_uid(uid)).is_none()
}

/// Human-readable name of a SOP class or transfer syntax, for logs.
pub fn sop_class_name(uid: &str) -> Option<&'static str> {
    StandardSopClassDictionary
        .by_uid(trim_uid(uid))
        .map(|e| e.name)
}

/// Removes the trailing NUL or space padding that UIDs carry on the wire.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_from_the_dictionary() {
        for uid in [
            uids::CT_IMAGE_STORAGE,
            uids::MR_IMAGE_STORAGE,
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
            uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
            uids::ENHANCED_SR_STORAGE,
            uids::ENCAPSULATED_PDF_STORAGE,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        ] {
            assert!(is_storage_sop_class(uid), "{uid}");
        }
        assert!(is_storage_sop_class("1.2.840.10008.5.1.4.1.1.2\0"));
        for uid in [
            uids::VERIFICATION,
            uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
            uids::STORAGE_COMMITMENT_PUSH_MODEL,
            uids::MEDIA_STORAGE_DIRECTORY_STORAGE,
            "1.3.46.670589.2.5.1.1",
        ] {
            assert!(!is_storage_sop_class(uid), "{uid}");
        }
        assert!(is_unknown_sop_class("1.3.46.670589.2.5.1.1"));
    }

    #[test]
    fn accepted_syntaxes() {
        assert!(is_accepted_transfer_syntax("1.2.840.10008.1.2\0"));
        assert!(is_accepted_transfer_syntax(uids::RLE_LOSSLESS));
        assert!(!is_accepted_transfer_syntax("1.2.3"));
    }
}
