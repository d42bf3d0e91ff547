//! The compression pass: verified swap, index and files in agreement, and
//! recovery from a crash at either side of the index update.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use dicom_pixeldata::PixelDecoder;
use sansfilm_archive::{Archive, CompressionPolicy};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

fn store(archive: &Archive, path: &Path) -> PathBuf {
    match archive.import_file(path, "TESTSCU").unwrap() {
        sansfilm_archive::StoreOutcome::Stored { path, .. } => path,
        other => panic!("{other:?}"),
    }
}

fn now() -> CompressionPolicy {
    CompressionPolicy {
        min_age_minutes: 0,
        threads: 2,
        ..Default::default()
    }
}

fn pixels(path: &Path) -> Vec<u8> {
    dicom_object::open_file(path)
        .unwrap()
        .decode_pixel_data()
        .unwrap()
        .data()
        .to_vec()
}

fn indexed_paths(archive: &Archive) -> Vec<PathBuf> {
    archive
        .index()
        .all_instances()
        .unwrap()
        .into_iter()
        .map(|i| i.path)
        .collect()
}

#[test]
fn a_pass_swaps_in_verified_versions_and_verify_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let originals: Vec<Vec<u8>> = ["pydicom/CT_small.dcm", "pydicom/MR_small.dcm"]
        .iter()
        .map(|f| {
            store(&archive, &fixture(f));
            pixels(&fixture(f))
        })
        .collect();
    let stop = AtomicBool::new(true);
    let report = archive.compress(&now(), &stop, |_, _| {}).unwrap();
    assert_eq!(report.compressed, 0, "a stopped pass does nothing");

    let stop = AtomicBool::new(false);
    let report = archive.compress(&now(), &stop, |_, _| {}).unwrap();
    assert_eq!((report.candidates, report.compressed), (2, 2));
    assert!(report.ratio() > 1.2, "{report:?}");
    let stored = archive.index().all_instances().unwrap();
    for (instance, original) in stored.iter().zip(&originals) {
        assert_eq!(instance.transfer_syntax, "1.2.840.10008.1.2.4.80");
        assert_eq!(
            &pixels(&archive.layout().absolute(&instance.path)),
            original
        );
    }
    let report = archive.verify(|_, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(fs::read_dir(archive.layout().tmp()).unwrap().count(), 0);
}

/// A `.compressing` marker as a process that died (no such pid) left it.
fn dead_marker(archive: &Archive, old: &Path, new: &Path) {
    fs::write(
        archive.layout().tmp().join("4194305-1.compressing"),
        format!("{}\n{}", old.display(), new.display()),
    )
    .unwrap();
}

#[test]
fn a_crash_before_the_index_update_keeps_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let old = store(&archive, &fixture("pydicom/CT_small.dcm"));
    // The new file was placed, the index not yet updated.
    let new = old.with_file_name("placed.jls.dcm");
    fs::copy(
        fixture("nema-wg04/CT1_JLSL.dcm"),
        archive.layout().absolute(&new),
    )
    .unwrap();
    dead_marker(&archive, &old, &new);
    drop(archive);
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!archive.layout().absolute(&new).exists());
    assert!(archive.layout().absolute(&old).exists());
    assert_eq!(indexed_paths(&archive), [old]);
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
}

#[test]
fn a_crash_after_the_index_update_removes_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let old = store(&archive, &fixture("pydicom/CT_small.dcm"));
    let stop = AtomicBool::new(false);
    archive.compress(&now(), &stop, |_, _| {}).unwrap();
    let new = indexed_paths(&archive).remove(0);
    // The original was still there when the process died.
    fs::copy(
        fixture("pydicom/CT_small.dcm"),
        archive.layout().absolute(&old),
    )
    .unwrap();
    dead_marker(&archive, &old, &new);
    drop(archive);
    let archive = Archive::open(dir.path()).unwrap();
    assert!(!archive.layout().absolute(&old).exists());
    assert_eq!(indexed_paths(&archive), [new]);
    assert!(archive.verify(|_, _| {}).unwrap().is_clean());
}

#[test]
fn an_index_row_changed_during_the_pass_is_left_as_the_other_writer_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let first = store(&archive, &fixture("pydicom/CT_small.dcm"));
    let second = store(&archive, &fixture("pydicom/MR_small.dcm"));
    // Another writer (a repair, say) moves the second row while the first
    // instance is being compressed.
    let other =
        std::sync::Mutex::new(rusqlite::Connection::open(archive.layout().index_file()).unwrap());
    let moved = "objects/elsewhere.dcm";
    let policy = CompressionPolicy {
        threads: 1,
        ..now()
    };
    let report = archive
        .compress(&policy, &AtomicBool::new(false), |done, _| {
            if done == 1 {
                let n = other
                    .lock()
                    .unwrap()
                    .execute(
                        "UPDATE instances SET path = ?1 WHERE path = ?2",
                        [moved, &second.to_string_lossy()],
                    )
                    .unwrap();
                assert_eq!(n, 1);
            }
        })
        .unwrap();
    assert_eq!((report.compressed, report.failed), (1, 1), "{report:?}");
    let paths = indexed_paths(&archive);
    assert!(paths.contains(&PathBuf::from(moved)), "{paths:?}");
    assert!(!paths.contains(&first), "the first one was compressed");
    // The second original is untouched, its compressed copy gone, tmp/ empty.
    assert!(archive.layout().absolute(&second).exists());
    let second_jls = second.with_file_name(format!(
        "{}.jls.dcm",
        second.file_stem().unwrap().to_string_lossy()
    ));
    assert!(!archive.layout().absolute(&second_jls).exists());
    assert_eq!(fs::read_dir(archive.layout().tmp()).unwrap().count(), 0);
}

#[test]
fn one_pass_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    store(&archive, &fixture("pydicom/CT_small.dcm"));
    // Another process's pass holds the lock.
    let held = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("compress.lock"))
        .unwrap();
    held.try_lock().unwrap();
    let err = archive
        .compress(&now(), &AtomicBool::new(false), |_, _| {})
        .unwrap_err();
    assert!(matches!(err, sansfilm_archive::Error::Busy(_)), "{err}");
    assert_eq!(
        archive.index().all_instances().unwrap()[0].transfer_syntax,
        "1.2.840.10008.1.2.1"
    );
    drop(held);
    let report = archive
        .compress(&now(), &AtomicBool::new(false), |_, _| {})
        .unwrap();
    assert_eq!(report.compressed, 1);
}
