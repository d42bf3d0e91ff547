//! The query API over a real archive: real files stored, then asked at every
//! level, by the keys viewers send.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_archive::{Archive, Level, Query};
use sansfilm_dicom::matching::conditions;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

fn store(archive: &Archive, path: &Path) {
    archive.import_file(path, "TESTSCU").unwrap();
}

/// An archive holding: patient 1CT1 with two studies (CT1_UNC 2004-08-26,
/// CT_small 2004-01-19), patient 4MR1 with one study of two instances
/// (MR1_UNC, MR_small share a study), and patient SCSFREN "Buc^Jérôme".
fn archive() -> (tempfile::TempDir, Archive) {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    for f in [
        "nema-wg04/CT1_UNC.dcm",
        "pydicom/CT_small.dcm",
        "nema-wg04/MR1_UNC.dcm",
        "pydicom/MR_small.dcm",
        "pydicom/charset/chrFren.dcm",
    ] {
        store(&archive, &fixture(f));
    }
    (dir, archive)
}

fn identifier(keys: &[(Tag, VR, &str)]) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(
        keys.iter()
            .map(|(t, vr, v)| DataElement::new(*t, *vr, PrimitiveValue::from(*v))),
    )
}

fn find(archive: &Archive, level: Level, keys: &[(Tag, VR, &str)]) -> Vec<InMemDicomObject> {
    let query = Query {
        level,
        conditions: conditions(&identifier(keys)).unwrap(),
        offset: 0,
        limit: 0,
    };
    archive.index().query(&query).unwrap()
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .map(|e| e.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn studies_by_patient_id_with_computed_attributes() {
    let (_dir, archive) = archive();
    let studies = find(
        &archive,
        Level::Study,
        &[(tags::PATIENT_ID, VR::LO, "1CT1")],
    );
    assert_eq!(studies.len(), 2);
    for s in &studies {
        assert_eq!(text(s, tags::MODALITIES_IN_STUDY), "CT");
        assert_eq!(text(s, tags::NUMBER_OF_STUDY_RELATED_SERIES), "1");
        assert_eq!(text(s, tags::NUMBER_OF_STUDY_RELATED_INSTANCES), "1");
        assert_eq!(
            text(s, tags::SOP_CLASSES_IN_STUDY),
            "1.2.840.10008.5.1.4.1.1.2"
        );
    }
    // Ordered by date: the January study first.
    assert_eq!(text(&studies[0], tags::STUDY_DATE), "20040119");
    let mr = find(
        &archive,
        Level::Study,
        &[(tags::PATIENT_ID, VR::LO, "4MR1")],
    );
    assert_eq!(mr.len(), 1);
    assert_eq!(text(&mr[0], tags::NUMBER_OF_STUDY_RELATED_INSTANCES), "2");
}

#[test]
fn names_match_without_case_or_accents_and_dates_by_range() {
    let (_dir, archive) = archive();
    let found = find(
        &archive,
        Level::Study,
        &[(tags::PATIENT_NAME, VR::PN, "BUC^JER*")],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::PATIENT_NAME), "Buc^Jérôme");
    let found = find(
        &archive,
        Level::Study,
        &[(tags::PATIENT_NAME, VR::PN, "buc^jérôme")],
    );
    assert_eq!(found.len(), 1);
    let august = find(
        &archive,
        Level::Study,
        &[(tags::STUDY_DATE, VR::DA, "20040801-20040831")],
    );
    assert_eq!(august.len(), 2, "CT1 and MR1 are of 2004-08-26");
    let since = find(
        &archive,
        Level::Study,
        &[(tags::STUDY_DATE, VR::DA, "20040201-")],
    );
    assert_eq!(since.len(), 2);
    let ct_studies = find(
        &archive,
        Level::Study,
        &[(tags::MODALITIES_IN_STUDY, VR::CS, "CT")],
    );
    assert_eq!(ct_studies.len(), 2);
}

#[test]
fn series_and_images_of_a_study_and_uid_lists() {
    let (_dir, archive) = archive();
    let mr = find(
        &archive,
        Level::Study,
        &[(tags::PATIENT_ID, VR::LO, "4MR1")],
    );
    let study_uid = text(&mr[0], tags::STUDY_INSTANCE_UID);
    let series = find(
        &archive,
        Level::Series,
        &[(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid)],
    );
    assert_eq!(series.len(), 1);
    assert_eq!(text(&series[0], tags::MODALITY), "MR");
    assert_eq!(
        text(&series[0], tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        "2"
    );
    let series_uid = text(&series[0], tags::SERIES_INSTANCE_UID);
    let images = find(
        &archive,
        Level::Image,
        &[(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid)],
    );
    assert_eq!(images.len(), 2);
    let uids: Vec<String> = images
        .iter()
        .map(|i| text(i, tags::SOP_INSTANCE_UID))
        .collect();
    let list = uids.join("\\");
    let again = find(
        &archive,
        Level::Image,
        &[(tags::SOP_INSTANCE_UID, VR::UI, &list)],
    );
    assert_eq!(again.len(), 2);
    assert_eq!(
        text(&images[0], tags::AVAILABLE_TRANSFER_SYNTAX_UID),
        "1.2.840.10008.1.2.1"
    );
}

#[test]
fn patients_with_their_counts_and_paging() {
    let (_dir, archive) = archive();
    let patients = find(&archive, Level::Patient, &[]);
    assert_eq!(patients.len(), 3);
    let ct = patients
        .iter()
        .find(|p| text(p, tags::PATIENT_ID) == "1CT1")
        .unwrap();
    assert_eq!(text(ct, tags::NUMBER_OF_PATIENT_RELATED_STUDIES), "2");
    assert_eq!(text(ct, tags::NUMBER_OF_PATIENT_RELATED_INSTANCES), "2");
    let mut page = Query::all(Level::Study);
    page.limit = 2;
    let first = archive.index().query(&page).unwrap();
    page.offset = 2;
    let second = archive.index().query(&page).unwrap();
    assert_eq!((first.len(), second.len()), (2, 2));
    let uid = |o: &InMemDicomObject| text(o, tags::STUDY_INSTANCE_UID);
    assert!(
        first
            .iter()
            .all(|a| second.iter().all(|b| uid(a) != uid(b)))
    );
}

#[test]
fn nothing_matches_an_unknown_key_value() {
    let (_dir, archive) = archive();
    assert!(
        find(
            &archive,
            Level::Study,
            &[(tags::ACCESSION_NUMBER, VR::SH, "NOPE")]
        )
        .is_empty()
    );
    assert!(find(&archive, Level::Series, &[(tags::MODALITY, VR::CS, "US")]).is_empty());
}
