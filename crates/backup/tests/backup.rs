//! Backups of a real archive (fixtures stored through the ingest path):
//! snapshots restore whole, incremental runs send only what is new, and the
//! drill finds and names damage in the backup and in the archive.

use std::fs;
use std::path::{Path, PathBuf};

use sansfilm_archive::Archive;
use sansfilm_backup::{
    BackupOptions, DirStore, KeepPolicy, Key, PruneOptions, Repository, backup, drill, prune,
    restore,
};

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

/// An archive holding the MR series and a JPEG-LS CT.
fn archive() -> (tempfile::TempDir, Archive) {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    for i in 1..=16 {
        store(
            &archive,
            &fixture(&format!("dcm4che-mr-series/MR{i:02}.dcm")),
        );
    }
    store(&archive, &fixture("nema-wg04/CT1_JLSL.dcm"));
    (dir, archive)
}

fn repo(dir: &Path) -> Repository {
    Repository::open_or_create(Box::new(DirStore::open(dir).unwrap())).unwrap()
}

fn encrypted_repo(dir: &Path, key: &Key) -> Repository {
    Repository::open_or_create_with(Box::new(DirStore::open(dir).unwrap()), Some(key.clone()))
        .unwrap()
}

fn opts() -> BackupOptions {
    BackupOptions::default()
}

#[test]
fn a_snapshot_restores_whole_and_the_drill_passes() {
    let target = tempfile::tempdir().unwrap();
    restores_whole_and_drill_passes(&repo(target.path()));
}

#[test]
fn an_encrypted_snapshot_restores_whole_and_the_drill_passes() {
    let target = tempfile::tempdir().unwrap();
    restores_whole_and_drill_passes(&encrypted_repo(target.path(), &Key::generate()));
}

fn restores_whole_and_drill_passes(repo: &Repository) {
    let (data, archive) = archive();
    let summary = backup(data.path(), repo, &opts(), &|_| {}).unwrap();
    assert_eq!(summary.objects, 17);
    assert_eq!(summary.objects_sent, 17);
    assert!(summary.snapshot.problems.is_empty());
    assert_eq!(
        repo.snapshot_ids().unwrap(),
        vec![summary.snapshot.id.clone()]
    );

    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        repo,
        &summary.snapshot,
        &scratch.path().join("drill"),
        50,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.instances, 17);
    assert_eq!(report.decoded, 17);

    // A restored data directory is an archive: same content, verify clean.
    let to = scratch.path().join("restored");
    let restored = restore(repo, &summary.snapshot, &to, 2, &|_| {}).unwrap();
    assert!(restored.is_complete());
    let back = Archive::open(&to).unwrap();
    assert_eq!(
        back.index().counts().unwrap(),
        archive.index().counts().unwrap()
    );
    assert!(back.verify(|_, _| {}).unwrap().is_clean());
}

#[test]
fn an_incremental_run_sends_only_what_is_new() {
    let (data, archive) = archive();
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    let again = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert_eq!(again.objects, 17);
    assert_eq!(again.objects_sent, 0);

    store(&archive, &fixture("nema-wg04/MR1_JLSL.dcm"));
    let third = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert_eq!(third.objects, 18);
    assert_eq!(third.objects_sent, 1);
    assert_eq!(repo.snapshot_ids().unwrap().len(), 3);
    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &third.snapshot,
        &scratch.path().join("d"),
        5,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
}

#[test]
fn a_flipped_byte_and_a_missing_blob_are_found_by_the_drill_and_named() {
    let target = tempfile::tempdir().unwrap();
    damage_is_found_and_named(target.path(), &repo(target.path()));
}

#[test]
fn a_flipped_byte_in_an_encrypted_backup_is_found_and_named() {
    let target = tempfile::tempdir().unwrap();
    damage_is_found_and_named(
        target.path(),
        &encrypted_repo(target.path(), &Key::generate()),
    );
}

fn damage_is_found_and_named(target: &Path, repo: &Repository) {
    let (data, _archive) = archive();
    let summary = backup(data.path(), repo, &opts(), &|_| {}).unwrap();
    let objects: Vec<_> = summary
        .snapshot
        .of_kind(sansfilm_backup::EntryKind::Object)
        .cloned()
        .collect();
    let blob = |sha: &str| target.join(repo.blob_name(sha));

    let flipped = &objects[3];
    let mut bytes = fs::read(blob(&flipped.sha256)).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(blob(&flipped.sha256), bytes).unwrap();
    let missing = &objects[7];
    fs::remove_file(blob(&missing.sha256)).unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        repo,
        &summary.snapshot,
        &scratch.path().join("d"),
        50,
        &|_| {},
    )
    .unwrap();
    assert!(!report.passed());
    assert_eq!(report.restore.missing, vec![missing.path.clone()]);
    assert_eq!(report.restore.damaged.len(), 1);
    assert!(
        report.restore.damaged[0].starts_with(&flipped.path),
        "{:?}",
        report.restore.damaged
    );
    let text = report.to_text();
    assert!(text.contains("FAILED"), "{text}");
    assert!(
        text.contains(&format!("MISSING in backup  {}", missing.path)),
        "{text}"
    );
    // Neither is left behind in the restore half written.
    assert!(!scratch.path().join("d").join(&flipped.path).exists());

    // The next backup finds the missing blob gone and sends it again.
    let next = backup(data.path(), repo, &opts(), &|_| {}).unwrap();
    assert_eq!(next.objects_sent, 1);
}

#[test]
fn a_file_damaged_in_the_archive_is_not_backed_up_as_good() {
    let (data, archive) = archive();
    let victim = archive.index().all_instances().unwrap()[5].path.clone();
    let abs = data.path().join(&victim);
    let mut bytes = fs::read(&abs).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    fs::write(&abs, bytes).unwrap();

    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    let summary = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert_eq!(summary.objects, 16);
    assert_eq!(summary.snapshot.problems.len(), 1);
    assert_eq!(summary.snapshot.problems[0].path, victim.to_string_lossy());
    assert!(
        summary.snapshot.problems[0]
            .reason
            .contains("damaged in the archive")
    );

    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &summary.snapshot,
        &scratch.path().join("d"),
        50,
        &|_| {},
    )
    .unwrap();
    assert!(!report.passed());
    assert_eq!(report.known_problems.len(), 1);
    assert!(report.restore.is_complete());
}

#[test]
fn restore_never_writes_into_a_directory_that_holds_something() {
    let (data, _archive) = archive();
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    let summary = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    let err = restore(&repo, &summary.snapshot, data.path(), 2, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn a_directory_without_a_repository_is_named_as_such() {
    let empty = tempfile::tempdir().unwrap();
    let err = Repository::open(Box::new(DirStore::open(empty.path()).unwrap())).unwrap_err();
    assert!(
        err.to_string().contains("not a sansfilm backup repository"),
        "{err}"
    );
}

#[test]
fn a_large_database_is_sent_in_chunks_and_only_its_changed_chunks_again() {
    let (data, _archive) = archive();
    // A stand-in for a long audit trail: 8 MB of rows, appended to.
    let audit = rusqlite::Connection::open(data.path().join("audit.sqlite")).unwrap();
    audit
        .execute_batch("CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)")
        .unwrap();
    let row = "x".repeat(800);
    audit.execute_batch("BEGIN").unwrap();
    for _ in 0..10_000 {
        audit
            .execute("INSERT INTO audit_log (event) VALUES (?1)", [&row])
            .unwrap();
    }
    audit.execute_batch("COMMIT").unwrap();
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    let first = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    let db = first
        .snapshot
        .entries
        .iter()
        .find(|e| e.path == "audit.sqlite")
        .unwrap();
    assert!(db.chunks.len() >= 8, "{} chunks", db.chunks.len());
    assert!(first.bytes_sent > 8_000_000);

    audit
        .execute("INSERT INTO audit_log (event) VALUES ('one more')", [])
        .unwrap();
    let second = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert_eq!(second.objects_sent, 0);
    assert!(
        second.bytes_sent <= 3 * sansfilm_backup::backup::CHUNK_BYTES as u64,
        "{} bytes sent again",
        second.bytes_sent
    );

    // Restored whole, with the last row.
    let scratch = tempfile::tempdir().unwrap();
    let to = scratch.path().join("r");
    let restored = restore(&repo, &second.snapshot, &to, 2, &|_| {}).unwrap();
    assert!(restored.is_complete(), "{restored:?}");
    let back = rusqlite::Connection::open(to.join("audit.sqlite")).unwrap();
    let (n, last): (i64, String) = back
        .query_row(
            "SELECT count(*), (SELECT event FROM audit_log ORDER BY seq DESC LIMIT 1) FROM audit_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, last.as_str()), (10_001, "one more"));

    // A lost chunk makes the file missing, named by the drill.
    let chunk = &second
        .snapshot
        .entries
        .iter()
        .find(|e| e.path == "audit.sqlite")
        .unwrap()
        .chunks[2];
    fs::remove_file(target.path().join(repo.blob_name(chunk))).unwrap();
    let report = drill(
        data.path(),
        &repo,
        &second.snapshot,
        &scratch.path().join("d"),
        5,
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.restore.missing, vec!["audit.sqlite".to_string()]);
}

#[test]
fn an_encrypted_target_holds_no_readable_content_and_opens_only_with_its_key() {
    let (data, _archive) = archive();
    let target = tempfile::tempdir().unwrap();
    let key = Key::generate();
    let sealed = encrypted_repo(target.path(), &key);
    let summary = backup(data.path(), &sealed, &opts(), &|_| {}).unwrap();

    // No file on the target reads as DICOM or as the index, and no blob is
    // named by its content's SHA-256 (which anyone with the file could
    // compute and look for).
    let names = sealed.blob_names().unwrap();
    for entry in &summary.snapshot.entries {
        assert!(!names.contains(&entry.sha256), "{}", entry.path);
    }
    let mut seen = 0;
    for file in walk(target.path()) {
        let bytes = fs::read(&file).unwrap();
        let clear = bytes.windows(4).any(|w| w == b"DICM")
            || bytes.windows(15).any(|w| w == b"SQLite format 3");
        if file.ends_with("sansfilm-repository.json") {
            assert!(String::from_utf8_lossy(&bytes).contains(&key.recipient()));
        } else {
            assert!(!clear, "{} is in the clear", file.display());
            assert!(
                bytes.starts_with(b"age-encryption.org/v1"),
                "{}",
                file.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 17, "{seen} files");

    // Without the key, with another key, or a key on a clear repository:
    // refused, by name.
    let store = || Box::new(DirStore::open(target.path()).unwrap());
    let err = Repository::open(store()).unwrap_err().to_string();
    assert!(
        err.contains("encrypted") && err.contains(&key.recipient()),
        "{err}"
    );
    let err = Repository::open_with(store(), Some(Key::generate()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("another key"), "{err}");
    let clear = tempfile::tempdir().unwrap();
    backup(data.path(), &repo(clear.path()), &opts(), &|_| {}).unwrap();
    let err = Repository::open_with(
        Box::new(DirStore::open(clear.path()).unwrap()),
        Some(key.clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unencrypted"), "{err}");

    // With the key: the manifests read, an incremental run sends nothing.
    let again = Repository::open_with(store(), Some(key)).unwrap();
    assert_eq!(again.latest().unwrap().unwrap(), summary.snapshot);
    let next = backup(data.path(), &again, &opts(), &|_| {}).unwrap();
    assert_eq!(next.objects_sent, 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn prune_forgets_old_snapshots_and_removes_only_the_blobs_they_alone_named() {
    let data = tempfile::tempdir().unwrap();
    let archive = Archive::open(data.path()).unwrap();
    store(&archive, &fixture("nema-wg04/CT1_UNC.dcm"));
    store(&archive, &fixture("nema-wg04/MR1_JLSL.dcm"));
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    let first = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    // CT1_UNC is stored uncompressed (Explicit VR Little Endian).
    let native = archive
        .index()
        .all_instances()
        .unwrap()
        .into_iter()
        .find(|i| i.transfer_syntax == "1.2.840.10008.1.2.1")
        .unwrap();
    assert!(
        first
            .snapshot
            .entries
            .iter()
            .any(|e| e.sha256 == native.sha256)
    );

    // The native CT is replaced by its compressed version: the first
    // snapshot alone names the original.
    let policy = sansfilm_archive::CompressionPolicy {
        min_age_minutes: 0,
        ..Default::default()
    };
    let report = archive
        .compress(
            &policy,
            &std::sync::atomic::AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap();
    assert_eq!(report.compressed, 1, "{report:?}");
    let second = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert!(
        second
            .snapshot
            .entries
            .iter()
            .all(|e| e.sha256 != native.sha256)
    );

    let deleter = DirStore::open(target.path()).unwrap();
    let keep_last = |grace_s: u64, dry_run: bool| PruneOptions {
        keep: KeepPolicy {
            last: 1,
            ..Default::default()
        },
        dry_run,
        grace: std::time::Duration::from_secs(grace_s),
    };
    // No rule: refused.
    let empty = PruneOptions {
        keep: KeepPolicy::default(),
        ..keep_last(0, false)
    };
    assert!(prune(&repo, &deleter, &empty).is_err());

    // A dry run removes nothing.
    let dry = prune(&repo, &deleter, &keep_last(0, true)).unwrap();
    assert_eq!(dry.forgotten, vec![first.snapshot.id.clone()]);
    assert!(dry.blobs_removed >= 1);
    assert_eq!(repo.snapshot_ids().unwrap().len(), 2);
    assert!(repo.has_blob(&native.sha256).unwrap());

    // Blobs written within the grace period stay, even unnamed.
    let graced = prune(&repo, &deleter, &keep_last(3600, false)).unwrap();
    assert_eq!(graced.forgotten, vec![first.snapshot.id.clone()]);
    assert_eq!(graced.blobs_removed, 0);
    assert!(graced.recent_kept >= 1);
    assert_eq!(
        repo.snapshot_ids().unwrap(),
        vec![second.snapshot.id.clone()]
    );
    assert!(repo.has_blob(&native.sha256).unwrap());

    // Past it, the original goes; everything the kept snapshot names stays.
    let pruned = prune(&repo, &deleter, &keep_last(0, false)).unwrap();
    assert!(pruned.forgotten.is_empty());
    assert_eq!(pruned.blobs_removed, dry.blobs_removed);
    assert!(!repo.has_blob(&native.sha256).unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &second.snapshot,
        &scratch.path().join("d"),
        5,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
}

#[test]
fn an_off_site_copy_waits_for_compression_and_is_sent_each_instance_once() {
    let data = tempfile::tempdir().unwrap();
    let archive = Archive::open(data.path()).unwrap();
    store(&archive, &fixture("nema-wg04/CT1_UNC.dcm"));
    store(&archive, &fixture("nema-wg04/MR1_JLSL.dcm"));
    let native = archive
        .index()
        .all_instances()
        .unwrap()
        .into_iter()
        .find(|i| i.transfer_syntax == "1.2.840.10008.1.2.1")
        .unwrap();
    let policy = sansfilm_archive::CompressionPolicy {
        min_age_minutes: 0,
        ..Default::default()
    };
    let waiting = BackupOptions {
        wait_for_compression: Some(policy.clone()),
        ..opts()
    };
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());

    // The native CT waits: left out, named as deferred, not a problem.
    let first = backup(data.path(), &repo, &waiting, &|_| {}).unwrap();
    assert_eq!(first.objects, 1);
    assert_eq!(
        first.snapshot.deferred,
        vec![native.path.to_string_lossy().into_owned()]
    );
    assert!(first.snapshot.problems.is_empty());
    assert!(!repo.has_blob(&native.sha256).unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &first.snapshot,
        &scratch.path().join("d1"),
        5,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.restore.deferred.len(), 1);
    assert!(report.to_text().contains("waiting for compression"));
    // What is restored is a whole archive: the deferred instance is not in
    // its index.
    let restored = Archive::open(scratch.path().join("d1")).unwrap();
    assert_eq!(restored.index().all_instances().unwrap().len(), 1);
    assert!(restored.verify(|_, _| {}).unwrap().is_clean());

    // Once compressed, the next run sends it, compressed; the native form
    // never went.
    archive
        .compress(
            &policy,
            &std::sync::atomic::AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap();
    let second = backup(data.path(), &repo, &waiting, &|_| {}).unwrap();
    assert!(second.snapshot.deferred.is_empty());
    assert_eq!(second.objects, 2);
    assert_eq!(second.objects_sent, 1);
    assert!(!repo.has_blob(&native.sha256).unwrap());
    let report = drill(
        data.path(),
        &repo,
        &second.snapshot,
        &scratch.path().join("d2"),
        5,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.instances, 2);
}

#[test]
fn waiting_for_compression_keeps_what_the_repository_holds_and_ends_after_two_days() {
    let data = tempfile::tempdir().unwrap();
    let archive = Archive::open(data.path()).unwrap();
    store(&archive, &fixture("nema-wg04/CT1_UNC.dcm"));
    store(&archive, &fixture("nema-wg04/MR1_JLSL.dcm"));
    let waiting = BackupOptions {
        wait_for_compression: Some(sansfilm_archive::CompressionPolicy {
            min_age_minutes: 0,
            ..Default::default()
        }),
        ..opts()
    };

    // Sent before the target waited: it stays in every later snapshot.
    let target = tempfile::tempdir().unwrap();
    let sent_before = repo(target.path());
    backup(data.path(), &sent_before, &opts(), &|_| {}).unwrap();
    let next = backup(data.path(), &sent_before, &waiting, &|_| {}).unwrap();
    assert!(
        next.snapshot.deferred.is_empty(),
        "{:?}",
        next.snapshot.deferred
    );
    assert_eq!(next.objects, 2);

    // Received three days ago and still not compressed: sent as it is.
    let other = tempfile::tempdir().unwrap();
    let fresh = repo(other.path());
    assert_eq!(
        backup(data.path(), &fresh, &waiting, &|_| {})
            .unwrap()
            .snapshot
            .deferred
            .len(),
        1
    );
    let index = rusqlite::Connection::open(data.path().join("index.sqlite")).unwrap();
    index
        .execute(
            "UPDATE instances SET received_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3 days')",
            [],
        )
        .unwrap();
    drop(index);
    let late = backup(data.path(), &fresh, &waiting, &|_| {}).unwrap();
    assert!(late.snapshot.deferred.is_empty());
    assert_eq!(late.objects, 2);
}

/// A store whose first blob listing also names blobs that are not there, as
/// a backup sees a target that a prune empties while it runs.
struct PrunedMeanwhile {
    inner: DirStore,
    phantom: std::sync::Mutex<Option<Vec<String>>>,
}

impl sansfilm_backup::Store for PrunedMeanwhile {
    fn size_of(&self, name: &str) -> std::io::Result<Option<u64>> {
        self.inner.size_of(name)
    }
    fn put_from(
        &self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        self.inner.put_from(name, fill)
    }
    fn commit(&self) -> std::io::Result<()> {
        self.inner.commit()
    }
    fn abandon(&self) {
        self.inner.abandon()
    }
    fn open(&self, name: &str) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        self.inner.open(name)
    }
    fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn list_dirs(&self, dir: &str) -> std::io::Result<Vec<String>> {
        self.inner.list_dirs(dir)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list_below(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let mut names = self.inner.list_below(dir)?;
        if let Some(phantom) = self.phantom.lock().unwrap().take() {
            names.extend(phantom);
        }
        Ok(names)
    }
}

#[test]
fn blobs_removed_while_a_backup_runs_make_it_fail_without_a_snapshot() {
    let (data, archive) = archive();
    let target = tempfile::tempdir().unwrap();
    let gone = archive.index().all_instances().unwrap()[3].sha256.clone();
    let store = PrunedMeanwhile {
        inner: DirStore::open(target.path()).unwrap(),
        phantom: std::sync::Mutex::new(Some(vec![gone])),
    };
    let repo = Repository::open_or_create(Box::new(store)).unwrap();
    let err = backup(data.path(), &repo, &opts(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("removed from") && err.contains("run the backup again"),
        "{err}"
    );
    assert!(repo.snapshot_ids().unwrap().is_empty());
    // The next run sends what is missing and completes.
    let next = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    assert_eq!(next.objects, 17);
    assert_eq!(next.objects_sent, 1);
}

#[test]
fn a_manifest_of_a_newer_format_is_refused_not_misread() {
    let (data, _archive) = archive();
    let target = tempfile::tempdir().unwrap();
    let repo = repo(target.path());
    let summary = backup(data.path(), &repo, &opts(), &|_| {}).unwrap();
    let path = target
        .path()
        .join(format!("snapshots/{}.json", summary.snapshot.id));
    let text = fs::read_to_string(&path).unwrap();
    let newer = text.replacen("\"format\": 2", "\"format\": 99", 1);
    assert_ne!(text, newer);
    fs::write(&path, newer).unwrap();
    let err = repo.load(&summary.snapshot.id).unwrap_err().to_string();
    assert!(err.contains("newer") && err.contains("99"), "{err}");
}
