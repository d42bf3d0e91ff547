//! Instance summaries of real files from `fixtures/dicom`.

use std::path::PathBuf;

use sansfilm_dicom::InstanceSummary;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

#[test]
fn ct_keys() {
    let s = InstanceSummary::from_file(fixture("nema-wg04/CT1_UNC.dcm")).unwrap();
    assert_eq!(s.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
    assert_eq!(s.transfer_syntax, "1.2.840.10008.1.2.1");
    assert_eq!(s.series.modality, "CT");
    assert!(!s.study.study_uid.is_empty());
    assert!(!s.series.series_uid.is_empty());
}

#[test]
fn french_name_is_decoded_from_latin1() {
    // chrFren.dcm: ISO_IR 100, PatientName "Buc^Jérôme"
    let s = InstanceSummary::from_file(fixture("pydicom/charset/chrFren.dcm")).unwrap();
    assert_eq!(s.specific_character_set, "ISO_IR 100");
    assert_eq!(s.patient.name, "Buc^Jérôme");
}

#[test]
fn german_and_greek_names() {
    let s = InstanceSummary::from_file(fixture("pydicom/charset/chrGerm.dcm")).unwrap();
    assert_eq!(s.patient.name, "Äneas^Rüdiger");
    let s = InstanceSummary::from_file(fixture("pydicom/charset/chrGreek.dcm")).unwrap();
    assert_eq!(s.patient.name, "Διονυσιος");
}

#[test]
fn big_endian_and_deflated_files() {
    let s = InstanceSummary::from_file(fixture("pydicom/MR_small_bigendian.dcm")).unwrap();
    assert_eq!(s.transfer_syntax, "1.2.840.10008.1.2.2");
    assert_eq!(s.series.modality, "MR");
    let s = InstanceSummary::from_file(fixture("pydicom/image_dfl.dcm")).unwrap();
    assert_eq!(s.transfer_syntax, "1.2.840.10008.1.2.1.99");
}

#[test]
fn truncated_file_is_an_error() {
    assert!(InstanceSummary::from_file(fixture("pydicom/rtplan_truncated.dcm")).is_err());
}

#[test]
fn uid_encoded_as_un_is_read_as_text() {
    // explicit_VR-UN.dcm carries its attributes with VR UN.
    let s = InstanceSummary::from_file(fixture("pydicom-data/explicit_VR-UN.dcm")).unwrap();
    assert!(
        s.sop_class_uid.starts_with("1.2.840.10008."),
        "{}",
        s.sop_class_uid
    );
    assert!(!s.sop_class_uid.contains('\\'));
}
