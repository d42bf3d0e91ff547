//! Criterion benches of the worklist server's own work (no network): matching
//! and answering a query against 1,000, 10,000 and 100,000 entries.

use criterion::{Criterion, criterion_group, criterion_main};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_benches::worklist_data;
use sansfilm_worklist::store::SearchScope;
use sansfilm_worklist::{AeProfile, WorklistStore, query, respond};

fn identifier(station: &str, date: &str) -> InMemDicomObject {
    let mut sps = InMemDicomObject::new_empty();
    sps.put(DataElement::new(
        tags::SCHEDULED_STATION_AE_TITLE,
        VR::AE,
        PrimitiveValue::from(station),
    ));
    sps.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        PrimitiveValue::from(date),
    ));
    sps.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::Empty,
    ));
    let mut q = InMemDicomObject::new_empty();
    q.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::Empty,
    ));
    q.put(DataElement::new(
        tags::PATIENT_ID,
        VR::LO,
        PrimitiveValue::Empty,
    ));
    q.put(DataElement::new(
        tags::ACCESSION_NUMBER,
        VR::SH,
        PrimitiveValue::Empty,
    ));
    q.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![sps]),
    ));
    q
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let profile = AeProfile::default();
    let mut group = c.benchmark_group("worklist");
    group.sample_size(20);
    for n in [1_000usize, 10_000, 100_000] {
        let store = WorklistStore::open(&dir.path().join(format!("wl{n}"))).unwrap();
        store.insert_many(&worklist_data::entries(n)).unwrap();
        let cases = [
            ("ten", identifier("STATION3", "20260105")),
            ("range", identifier("", "20260105-20260107")),
            ("universal", identifier("", "")),
        ];
        for (name, q) in cases {
            let conditions = query::conditions(&q).unwrap();
            let scope = SearchScope {
                limit: 1000,
                hide_statuses: profile.hide_statuses.clone(),
                station_ae: None,
            };
            group.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    let found = store.search(&conditions, &scope).unwrap();
                    let answers: Vec<_> = found
                        .iter()
                        .map(|i| respond::answer(&i.to_dataset(), &q, &profile))
                        .collect();
                    std::hint::black_box(answers)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(worklist, benches);
criterion_main!(worklist);
