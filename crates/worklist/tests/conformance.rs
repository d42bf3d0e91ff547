//! The DCMTK worklist corpus: 10 entries, 13 queries; each query's matching
//! entries are what PS3.4 requires.

use std::path::PathBuf;

use sansfilm_worklist::store::SearchScope;
use sansfilm_worklist::{WorklistStore, import, query};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/worklist")
}

fn store() -> WorklistStore {
    let store = WorklistStore::open_file(std::path::Path::new(":memory:")).unwrap();
    for f in import::wl_files(&fixtures().join("orthanc")).unwrap() {
        store.insert(&import::read_wl_file(&f).unwrap()).unwrap();
    }
    store
}

fn accessions(store: &WorklistStore, query_file: &str) -> Vec<String> {
    let q = dicom_object::open_file(fixtures().join("derived").join(query_file)).unwrap();
    let conditions = query::conditions(&q).unwrap();
    let scope = SearchScope {
        limit: 0,
        ..Default::default()
    };
    let mut out: Vec<String> = store
        .search(&conditions, &scope)
        .unwrap()
        .into_iter()
        .map(|i| i.accession_number)
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_query_matches_what_ps3_4_requires() {
    let store = store();
    assert_eq!(store.len().unwrap(), 10);
    let all: Vec<String> = (0..10).map(|i| format!("0000{i}")).collect();
    // Queries with only universal keys match every entry.
    for q in [
        "wlistqry0.dcm",
        "wlistqry1.dcm",
        "wlistqry3.dcm",
        "wlistqry10.dcm",
        "wlistqry11.dcm",
    ] {
        assert_eq!(accessions(&store, q), all, "{q}");
    }
    // Station AE AA2 / AA4 and modality DD are scheduled nowhere.
    for q in [
        "wlistqry2.dcm",
        "wlistqry4.dcm",
        "wlistqry6.dcm",
        "wlistqry7.dcm",
        "wlistqry8.dcm",
        "wlistqry9.dcm",
        "wlistqry12.dcm",
    ] {
        assert!(accessions(&store, q).is_empty(), "{q}");
    }
    // SPS start time 120000- (date universal): the six steps from noon on.
    assert_eq!(
        accessions(&store, "wlistqry5.dcm"),
        vec!["00001", "00002", "00003", "00004", "00006", "00007"]
    );
}
