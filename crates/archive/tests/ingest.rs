//! Ingest of real files into a temporary data directory.

use std::fs;
use std::path::{Path, PathBuf};

use sansfilm_archive::{Archive, Error, FailureKind, IncomingMeta, StoreOutcome};
use sansfilm_dicom::part10;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

/// The data set bytes of a Part 10 file and the command-level metadata.
fn dataset_of(path: &Path) -> (IncomingMeta, Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    let (meta, offset) = part10::read_meta(&bytes[..]).unwrap();
    let incoming = IncomingMeta {
        sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
        sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
        transfer_syntax: meta.transfer_syntax().to_string(),
        calling_ae: "TESTSCU".into(),
        called_ae: "SANSFILM".into(),
        max_bytes: None,
    };
    (incoming, bytes[offset as usize..].to_vec())
}

fn store(
    archive: &Archive,
    meta: IncomingMeta,
    data: &[u8],
) -> sansfilm_archive::Result<StoreOutcome> {
    let mut incoming = archive.begin(meta)?;
    for chunk in data.chunks(16 * 1024) {
        incoming.write(chunk)?;
    }
    incoming.commit()
}

fn tmp_is_empty(archive: &Archive) -> bool {
    fs::read_dir(archive.layout().tmp())
        .unwrap()
        .next()
        .is_none()
}

#[test]
fn stores_indexes_and_keeps_dataset_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let src = fixture("nema-wg04/CT1_UNC.dcm");
    let (meta, data) = dataset_of(&src);
    let outcome = store(&archive, meta.clone(), &data).unwrap();
    let StoreOutcome::Stored { path, summary } = outcome else {
        panic!("expected Stored, got {outcome:?}")
    };
    assert_eq!(summary.series.modality, "CT");
    // The stored data set is byte for byte what was received.
    let (_, stored) = dataset_of(&archive.layout().absolute(&path));
    assert_eq!(stored, data);
    // And it opens with dicom-rs.
    dicom_object::open_file(archive.layout().absolute(&path)).unwrap();
    let counts = archive.index().counts().unwrap();
    assert_eq!(
        (
            counts.patients,
            counts.studies,
            counts.series,
            counts.instances
        ),
        (1, 1, 1, 1)
    );
    assert!(tmp_is_empty(&archive));
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
}

#[test]
fn identical_resend_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/MR_small.dcm"));
    store(&archive, meta.clone(), &data).unwrap();
    let mut from_other_ae = meta.clone();
    from_other_ae.calling_ae = "OTHER".into();
    let again = store(&archive, from_other_ae, &data).unwrap();
    assert!(matches!(again, StoreOutcome::Duplicate { .. }), "{again:?}");
    assert_eq!(archive.index().counts().unwrap().instances, 1);
    assert!(tmp_is_empty(&archive));
}

#[test]
fn same_uid_other_content_is_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/MR_small.dcm"));
    store(&archive, meta.clone(), &data).unwrap();
    // Same instance in another transfer syntax: same UID, other bytes.
    let (meta2, data2) = dataset_of(&fixture("pydicom/MR_small_implicit.dcm"));
    assert_eq!(meta.sop_instance_uid, meta2.sop_instance_uid);
    let outcome = store(&archive, meta2, &data2).unwrap();
    assert!(
        matches!(outcome, StoreOutcome::Conflict { .. }),
        "{outcome:?}"
    );
    let versions = archive
        .index()
        .instances_by_uid(&meta.sop_instance_uid)
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert!(!versions[0].conflict && versions[1].conflict);
    assert_ne!(versions[0].path, versions[1].path);
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
}

#[test]
fn mismatching_command_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (mut meta, data) = dataset_of(&fixture("pydicom/CT_small.dcm"));
    meta.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4".into(); // says MR, data set is CT
    let err = store(&archive, meta, &data).unwrap_err();
    assert_eq!(err.kind(), FailureKind::DataSetMismatch, "{err}");
    assert_eq!(archive.index().counts().unwrap().instances, 0);
    assert!(tmp_is_empty(&archive));
}

#[test]
fn garbage_is_cannot_understand_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/CT_small.dcm"));
    let err = store(&archive, meta.clone(), &data[..200]).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(err.kind(), FailureKind::CannotUnderstand);
    assert!(tmp_is_empty(&archive));
    // An abandoned transfer (dropped before commit) leaves nothing either.
    let mut incoming = archive.begin(meta).unwrap();
    incoming.write(&data[..1000]).unwrap();
    drop(incoming);
    assert!(tmp_is_empty(&archive));
    assert_eq!(archive.index().counts().unwrap().instances, 0);
}

#[test]
fn verify_finds_corruption_missing_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let mut paths = vec![];
    for f in [
        "pydicom/CT_small.dcm",
        "pydicom/MR_small.dcm",
        "nema-wg04/US1_RLE.dcm",
    ] {
        let (meta, data) = dataset_of(&fixture(f));
        match store(&archive, meta, &data).unwrap() {
            StoreOutcome::Stored { path, .. } => paths.push(path),
            other => panic!("{other:?}"),
        }
    }
    // Flip one byte of the first, remove the second, drop a stray file.
    let first = archive.layout().absolute(&paths[0]);
    let mut bytes = fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&first, bytes).unwrap();
    let second = archive.layout().absolute(&paths[1]);
    let moved = archive.layout().objects().join("1.2.3").join("stray.dcm");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&second, &moved).unwrap();
    let report = archive.verify(|_, _| {}).unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.corrupt, vec![paths[0].clone()]);
    assert_eq!(report.missing, vec![paths[1].clone()]);
    assert_eq!(report.orphans.len(), 1);
    assert!(!report.is_clean());
}

#[test]
fn stale_temporary_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(Archive::open(dir.path()).unwrap());
    // A process id that cannot be alive.
    let stale = dir.path().join("tmp").join("4194304999-0.part");
    fs::write(&stale, b"half an instance").unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert!(tmp_is_empty(&archive));
}

#[test]
fn orphans_can_be_indexed_back() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/CT_small.dcm"));
    let StoreOutcome::Stored { path, .. } = store(&archive, meta, &data).unwrap() else {
        panic!()
    };
    drop(archive);
    // Lose the index, keep the files: the index is rebuilt from them.
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = fs::remove_file(dir.path().join(f));
    }
    let archive = Archive::open(dir.path()).unwrap();
    let report = archive.verify(|_, _| {}).unwrap();
    assert_eq!(report.orphans, vec![path.clone()]);
    archive.index_existing(&path).unwrap();
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
    assert_eq!(archive.index().counts().unwrap().instances, 1);
}

#[test]
fn file_placed_before_a_crash_is_indexed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/CT_small.dcm"));
    let StoreOutcome::Stored { path, .. } = store(&archive, meta, &data).unwrap() else {
        panic!()
    };
    drop(archive);
    // Simulate a death between rename and index commit: the row is gone, the
    // marker of a dead process names the file.
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = fs::remove_file(dir.path().join(f));
    }
    let marker = dir.path().join("tmp").join("4194304999-7.placing");
    fs::write(&marker, path.to_string_lossy().as_bytes()).unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!marker.exists());
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
    assert_eq!(archive.index().counts().unwrap().instances, 1);
}

#[test]
fn an_archive_reopened_in_the_same_process_finds_its_index_closed() {
    // Dropping the last handle joins the index writer, so its connection is
    // closed when the drop returns: removing and recreating the database at
    // once is safe (before, the writer thread could still hold it open:
    // "disk I/O error" on the reopened file, now and then).
    let dir = tempfile::tempdir().unwrap();
    let (meta, data) = dataset_of(&fixture("pydicom/CT_small.dcm"));
    for round in 0..30 {
        let archive = Archive::open(dir.path()).unwrap();
        let clone = archive.clone();
        store(&clone, meta.clone(), &data).unwrap();
        drop(archive);
        drop(clone);
        for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            let _ = fs::remove_file(dir.path().join(f));
        }
        let archive = Archive::open(dir.path()).unwrap();
        assert_eq!(
            archive.index().counts().unwrap().instances,
            0,
            "round {round}"
        );
        drop(archive);
        fs::remove_dir_all(dir.path().join("objects")).unwrap();
    }
}
