//! The store API the HL7 bridge and integrators call, and matching semantics
//! on small hand-made worklists.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_worklist::profile::{AeProfile, Charset};
use sansfilm_worklist::query::{self, IDENTIFIER_DOES_NOT_MATCH};
use sansfilm_worklist::store::SearchScope;
use sansfilm_worklist::{WorklistItem, WorklistStore, respond};

fn store() -> WorklistStore {
    WorklistStore::open_file(std::path::Path::new(":memory:")).unwrap()
}

fn item(id: &str, name: &str, acc: &str, station: &str, date: &str, time: &str) -> WorklistItem {
    WorklistItem {
        patient_id: id.into(),
        patient_name: name.into(),
        accession_number: acc.into(),
        study_uid: format!("1.2.3.{}", acc.trim_start_matches('A')),
        modality: "MR".into(),
        station_aes: station.split('\\').map(str::to_string).collect(),
        start_date: date.into(),
        start_time: time.into(),
        sps_id: format!("S{acc}"),
        requested_procedure_id: format!("R{acc}"),
        ..Default::default()
    }
}

fn el(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    if v.is_empty() {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    } else {
        DataElement::new(tag, vr, PrimitiveValue::from(v))
    }
}

/// An identifier with top-level keys and one SPS item.
fn identifier(top: &[(Tag, VR, &str)], sps: &[(Tag, VR, &str)]) -> InMemDicomObject {
    let mut q = InMemDicomObject::new_empty();
    for (t, vr, v) in top {
        q.put(el(*t, *vr, v));
    }
    let mut item = InMemDicomObject::new_empty();
    for (t, vr, v) in sps {
        item.put(el(*t, *vr, v));
    }
    q.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    q
}

fn found(store: &WorklistStore, q: &InMemDicomObject) -> Vec<String> {
    let c = query::conditions(q).unwrap();
    let scope = SearchScope {
        limit: 0,
        hide_statuses: vec!["DISCONTINUED".into(), "COMPLETED".into()],
        station_ae: None,
    };
    store
        .search(&c, &scope)
        .unwrap()
        .into_iter()
        .map(|i| i.accession_number)
        .collect()
}

fn sample() -> WorklistStore {
    let s = store();
    s.insert(&item(
        "P1",
        "Dupont^Jean",
        "A1",
        "CT01",
        "20261123",
        "080000",
    ))
    .unwrap();
    s.insert(&item(
        "P2",
        "Dupond^Marie",
        "A2",
        "CT01\\CT02",
        "20261123",
        "143000",
    ))
    .unwrap();
    s.insert(&item(
        "P3",
        "Müller^Hélène",
        "A3",
        "MR01",
        "20261124",
        "090000",
    ))
    .unwrap();
    s.insert(&item(
        "P4",
        "Martin^Léa",
        "A4",
        "MR01",
        "20261125",
        "235900",
    ))
    .unwrap();
    s
}

#[test]
fn single_values_wildcards_and_pn_case_rules() {
    let s = sample();
    let name = |v| identifier(&[(tags::PATIENT_NAME, VR::PN, v)], &[]);
    assert_eq!(found(&s, &name("Dupont^Jean")), vec!["A1"]);
    assert_eq!(
        found(&s, &name("DUPONT^JEAN")),
        vec!["A1"],
        "PN matches without case"
    );
    assert_eq!(found(&s, &name("Dupon?^*")), vec!["A1", "A2"]);
    assert_eq!(found(&s, &name("*^L*")), vec!["A4"]);
    assert_eq!(
        found(&s, &name("muller*")),
        vec!["A3"],
        "and without accents"
    );
    let pid = identifier(&[(tags::PATIENT_ID, VR::LO, "p1")], &[]);
    assert!(
        found(&s, &pid).is_empty(),
        "LO single values are case-sensitive"
    );
    // Universal matching: every key empty, or a lone `*`.
    assert_eq!(found(&s, &name("")).len(), 4);
    assert_eq!(found(&s, &name("*")).len(), 4);
}

#[test]
fn station_titles_are_multi_valued() {
    let s = sample();
    let station = |v| identifier(&[], &[(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, v)]);
    assert_eq!(found(&s, &station("CT02")), vec!["A2"]);
    assert_eq!(found(&s, &station("CT01")), vec!["A1", "A2"]);
    assert_eq!(found(&s, &station("CT*")), vec!["A1", "A2"]);
}

#[test]
fn date_time_ranges_and_uid_lists() {
    let s = sample();
    let date = |v| {
        identifier(
            &[],
            &[(tags::SCHEDULED_PROCEDURE_STEP_START_DATE, VR::DA, v)],
        )
    };
    assert_eq!(found(&s, &date("20261124-")), vec!["A3", "A4"]);
    assert_eq!(found(&s, &date("-20261123")), vec!["A1", "A2"]);
    assert_eq!(
        found(&s, &date("20261123-20261124")),
        vec!["A1", "A2", "A3"]
    );
    // Date and time together are one date-time range (C.2.2.2.5.1): from the
    // 23rd at noon to the 24th at 10:00.
    let dt = identifier(
        &[],
        &[
            (
                tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
                VR::DA,
                "20261123-20261124",
            ),
            (
                tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
                VR::TM,
                "1200-1000",
            ),
        ],
    );
    assert_eq!(found(&s, &dt), vec!["A2", "A3"]);
    let uids = identifier(
        &[(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.1\\1.2.3.4")],
        &[],
    );
    assert_eq!(found(&s, &uids), vec!["A1", "A4"]);
}

#[test]
fn bad_identifiers_are_refused_with_a_reason() {
    let bad_range = identifier(
        &[],
        &[(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20261125-20261123",
        )],
    );
    let malformed = identifier(
        &[],
        &[(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "2026-11-23",
        )],
    );
    let top = identifier(&[(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, "CT01")], &[]);
    let wrong_vr = identifier(&[(tags::PATIENT_BIRTH_DATE, VR::PN, "X")], &[]);
    let mut two = identifier(&[], &[]);
    two.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![
            InMemDicomObject::new_empty(),
            InMemDicomObject::new_empty(),
        ]),
    ));
    for q in [bad_range, malformed, top, wrong_vr, two] {
        let e = query::conditions(&q).unwrap_err();
        assert_eq!(e.status, IDENTIFIER_DOES_NOT_MATCH);
        assert!(!e.comment.is_empty());
    }
}

#[test]
fn create_update_cancel_complete_and_merge() {
    let s = sample();
    // Update: the RIS corrects a name.
    let n = s
        .update_patient("P1", "", |i| i.patient_name = "Dupont^Jean-Pierre".into())
        .unwrap();
    assert_eq!(n, 1);
    let q = identifier(&[(tags::PATIENT_NAME, VR::PN, "Dupont^Jean-Pierre")], &[]);
    assert_eq!(found(&s, &q), vec!["A1"]);
    // Cancel and complete hide the steps (default profile).
    assert_eq!(s.set_status_by_accession("A2", "DISCONTINUED").unwrap(), 1);
    assert_eq!(s.set_status_by_accession("A4", "COMPLETED").unwrap(), 1);
    let all = identifier(&[], &[]);
    assert_eq!(found(&s, &all), vec!["A1", "A3"]);
    // Merge: P3's entries move to P1, with P1's demographics.
    let survivor = s.by_accession("A1").unwrap().remove(0).1;
    let into = sansfilm_worklist::Patient {
        patient_id: survivor.patient_id.clone(),
        issuer: survivor.issuer.clone(),
        name: survivor.patient_name.clone(),
        birth_date: survivor.birth_date.clone(),
        sex: survivor.sex.clone(),
    };
    s.apply(
        None,
        &[sansfilm_worklist::Command::MergePatient {
            from: ("P3".into(), "".into()),
            into,
        }],
    )
    .unwrap();
    let moved = s.by_accession("A3").unwrap().remove(0).1;
    assert_eq!(moved.patient_id, "P1");
    assert_eq!(moved.patient_name, "Dupont^Jean-Pierre");
    // Update of a whole entry by id.
    let (id, mut e) = s.by_accession("A3").unwrap().remove(0);
    e.modality = "CT".into();
    s.update(id, &e).unwrap();
    assert_eq!(s.get(id).unwrap().unwrap().modality, "CT");
    assert!(s.update(9999, &e).is_err());
}

#[test]
fn answers_have_every_requested_key_and_the_profile_shape() {
    let s = sample();
    let q = identifier(
        &[
            (tags::PATIENT_NAME, VR::PN, "Müller*"),
            (tags::PATIENT_WEIGHT, VR::DS, ""),
            (tags::ACCESSION_NUMBER, VR::SH, ""),
        ],
        &[
            (tags::SCHEDULED_STATION_AE_TITLE, VR::AE, ""),
            (tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, ""),
        ],
    );
    let c = query::conditions(&q).unwrap();
    let hit = s.search(&c, &SearchScope::default()).unwrap().remove(0);
    let profile = AeProfile {
        charset: Charset::Ascii,
        uppercase: true,
        max_length: [("PN".to_string(), 8)].into_iter().collect(),
        always_return: vec!["StudyInstanceUID".into()],
        ..Default::default()
    };
    let a = respond::answer(&hit.to_dataset(), &q, &profile);
    let text = |t| a.get(t).unwrap().to_str().unwrap().to_string();
    assert_eq!(text(tags::PATIENT_NAME), "MULLER^H");
    assert_eq!(text(tags::ACCESSION_NUMBER), "A3");
    assert_eq!(
        text(tags::PATIENT_WEIGHT),
        "",
        "unknown keys come back empty"
    );
    assert_eq!(text(tags::STUDY_INSTANCE_UID), "1.2.3.3", "always returned");
    assert!(
        a.get(tags::SPECIFIC_CHARACTER_SET).is_none(),
        "default repertoire"
    );
    let sps = &a
        .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        sps.get(tags::SCHEDULED_STATION_AE_TITLE)
            .unwrap()
            .to_str()
            .unwrap(),
        "MR01"
    );
    assert_eq!(
        sps.get(tags::SCHEDULED_PROCEDURE_STEP_ID)
            .unwrap()
            .to_str()
            .unwrap(),
        "SA3"
    );
    assert!(sps.get(tags::MODALITY).is_none(), "only the requested keys");
}

mod apply {
    use super::*;
    use sansfilm_worklist::command::RejectionKind;
    use sansfilm_worklist::{Applied, Command, Error, JournalEntry, Patient};

    fn journal(id: &str) -> JournalEntry {
        JournalEntry {
            source: "RIS|HOSP".into(),
            message_id: id.into(),
            raw: b"MSH|...".to_vec(),
            summary: "test".into(),
        }
    }

    #[test]
    fn a_message_is_applied_once_and_journaled() {
        let s = store();
        let order = vec![item("P9", "Petit^Anne", "A9", "US01", "20261123", "100000")];
        let first = s
            .apply(Some(&journal("M1")), &[Command::CreateOrder(order.clone())])
            .unwrap();
        assert_eq!(first, Applied::Done);
        let again = s
            .apply(Some(&journal("M1")), &[Command::CreateOrder(order)])
            .unwrap();
        assert_eq!(again, Applied::AlreadyApplied);
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.journal_len().unwrap(), 1);
        assert_eq!(s.patient("P9", "").unwrap().unwrap().name, "Petit^Anne");
    }

    #[test]
    fn nothing_is_half_applied() {
        let s = sample();
        let p = Patient {
            patient_id: "P1".into(),
            name: "Renamed^First".into(),
            ..Default::default()
        };
        // The rename is fine, the order already exists: neither happens.
        let dup = vec![item("P1", "X^Y", "A1", "CT01", "20261123", "080000")];
        let err = s
            .apply(
                Some(&journal("M2")),
                &[Command::UpsertPatient(p), Command::CreateOrder(dup)],
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::Rejected(ref r) if r.kind == RejectionKind::DuplicateKey),
            "{err}"
        );
        assert_eq!(
            s.by_accession("A1").unwrap()[0].1.patient_name,
            "Dupont^Jean"
        );
        assert_eq!(s.journal_len().unwrap(), 0);
    }

    #[test]
    fn merge_and_change_id_need_a_known_patient() {
        let s = sample();
        let into = Patient {
            patient_id: "P1".into(),
            name: "Dupont^Jean".into(),
            ..Default::default()
        };
        let err = s
            .apply(
                None,
                &[Command::MergePatient {
                    from: ("NOPE".into(), "".into()),
                    into: into.clone(),
                }],
            )
            .unwrap_err();
        assert!(matches!(err, Error::Rejected(ref r) if r.kind == RejectionKind::UnknownKey));
        s.apply(
            None,
            &[Command::MergePatient {
                from: ("P3".into(), "".into()),
                into,
            }],
        )
        .unwrap();
        assert_eq!(s.by_accession("A3").unwrap()[0].1.patient_id, "P1");
        let to = Patient {
            patient_id: "P1-NEW".into(),
            ..Default::default()
        };
        s.apply(
            None,
            &[Command::ChangePatientId {
                from: ("P1".into(), "".into()),
                to,
            }],
        )
        .unwrap();
        let a1 = &s.by_accession("A1").unwrap()[0].1;
        assert_eq!(a1.patient_id, "P1-NEW");
        assert_eq!(a1.patient_name, "Dupont^Jean", "kept from before");
        assert!(s.by_accession("A1").unwrap().len() == 1);
    }

    #[test]
    fn order_status_changes_and_cancellations() {
        let s = sample();
        s.apply(
            None,
            &[Command::SetOrderStatus {
                accession: "A2".into(),
                status: "DISCONTINUED".into(),
            }],
        )
        .unwrap();
        assert_eq!(s.by_accession("A2").unwrap()[0].1.status, "DISCONTINUED");
        let err = s.apply(
            None,
            &[Command::SetOrderStatus {
                accession: "ZZ".into(),
                status: "COMPLETED".into(),
            }],
        );
        assert!(err.is_err());
        s.apply(
            None,
            &[Command::CancelPatientSteps(("P4".into(), "".into()))],
        )
        .unwrap();
        assert_eq!(s.by_accession("A4").unwrap()[0].1.status, "DISCONTINUED");
        let replacement = vec![WorklistItem {
            modality: "CT".into(),
            ..item("P1", "Dupont^Jean", "A1", "CT09", "20261130", "080000")
        }];
        s.apply(
            None,
            &[Command::ReplaceOrder {
                accession: "A1".into(),
                items: replacement,
            }],
        )
        .unwrap();
        assert_eq!(
            s.by_accession("A1").unwrap()[0].1.station_aes,
            vec!["CT09".to_string()]
        );
    }
}
