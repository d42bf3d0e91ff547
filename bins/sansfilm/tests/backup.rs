//! `sansfilm backup`, `backup list`, `backup drill` and `restore` as a
//! practice runs them: against a running server, killed mid-run, onto a
//! target that fills up.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Serve, Server, SmallDisk, audit_count, fixtures, sansfilm, send_to};
use sansfilm_archive::Archive;

fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// A configuration with one directory target, written to `dir/sansfilm.toml`.
fn config(dir: &Path, target: &Path) -> PathBuf {
    let path = dir.join("sansfilm.toml");
    fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[[backup.targets]]\nname = \"disque2\"\nurl = \"file://{}\"\n",
            dir.join("data"),
            target.display()
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    sansfilm(&all)
}

/// Stores `n` distinct copies of a 512×512 CT straight into the archive.
fn fill(data: &Path, n: usize) {
    let scratch = tempfile::tempdir().unwrap();
    let files = sansfilm_benches::synth::write_distinct_copies(
        &fixture("nema-wg04/CT1_UNC.dcm"),
        scratch.path(),
        n,
    );
    let archive = Archive::open(data).unwrap();
    for f in files {
        archive.import_file(&f, "TESTSCU").unwrap();
    }
}

fn snapshots(target: &Path) -> usize {
    fs::read_dir(target.join("snapshots"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_running_archive_is_backed_up_listed_drilled_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("disque2");
    let cfg = config(dir.path(), &target);
    let server = Server::start(&dir.path().join("data"), &[]);
    let mr: Vec<PathBuf> = (1..=16)
        .map(|i| fixture(&format!("dcm4che-mr-series/MR{i:02}.dcm")))
        .collect();
    let mr: Vec<&Path> = mr.iter().map(PathBuf::as_path).collect();
    send_to(&server, &mr);

    // Online: the server keeps running and receiving.
    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("disque2: snapshot "), "{out}");
    assert!(out.contains("16 objects"), "{out}");
    send_to(&server, &[&fixture("nema-wg04/CT1_JLSL.dcm")]);
    let (code, out, err) = run(&cfg, &["backup", "--target", "disque2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("17 objects"), "{out}");
    assert!(out.contains(", 1 sent"), "{out}");
    assert_eq!(snapshots(&target), 2);

    let (code, out, _) = run(&cfg, &["backup", "list", "--target", "disque2"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");

    let (code, out, err) = run(&cfg, &["backup", "drill", "--target", "disque2", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["instances"], 17, "{out}");
    assert_eq!(report["decoded"], 17, "{out}");

    let restored = dir.path().join("restored");
    let (code, out, err) = run(
        &cfg,
        &[
            "restore",
            "--target",
            "disque2",
            "--to",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 missing, 0 damaged"), "{out}");
    // Databases and the audit key are the owner's alone once restored.
    for secret in ["index.sqlite", "audit.sqlite", "audit.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(restored.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    let (code, out, err) = sansfilm(&["verify", "--data-dir", restored.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // The audit trail went with it.
    let (code, out, err) = sansfilm(&["audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    // Each run is a Data Export event; status says when the target last had one.
    assert_eq!(
        audit_count(&dir.path().join("data"), "backup target disque2"),
        2
    );
    let (code, out, _) = run(&cfg, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("backup disque2: "), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    drop(server);
}

#[test]
fn usage_errors_name_the_targets_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 1);
    let (code, _, err) = run(&cfg, &["backup", "--target", "nowhere"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("disque2"), "{err}");
    // A drill of a target never backed up to.
    let (code, _, err) = run(&cfg, &["backup", "drill", "--target", "disque2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a sansfilm backup repository"), "{err}");
    // Status warns of a target that never had a backup.
    let (_, out, _) = run(&cfg, &["status"]);
    assert!(out.contains("backup disque2: never  WARNING"), "{out}");
    // No target configured at all.
    let (code, _, err) = sansfilm(&[
        "backup",
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[[backup.targets]]"), "{err}");
}

#[test]
fn a_backup_killed_mid_run_leaves_no_snapshot_and_the_next_completes() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("disque2");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 400);

    let mut child = Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["backup", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once it has files on their way to the target.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = fs::read_dir(target.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0);
        if staged >= 20 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(snapshots(&target), 0, "a killed run must leave no snapshot");
    assert!(!dir.path().join("data/last-backup.json").exists());

    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("400 objects"), "{out}");
    assert_eq!(snapshots(&target), 1);
    assert_eq!(
        fs::read_dir(target.join("tmp")).unwrap().count(),
        0,
        "the killed run's staged files were cleared"
    );
    let (code, out, err) = run(
        &cfg,
        &["backup", "drill", "--target", "disque2", "--sample", "10"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASSED"), "{out}");
}

#[test]
fn a_target_that_fills_up_fails_clearly_and_nothing_counts_as_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("small");
    let _disk = SmallDisk::mount(&target, "4m");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 30); // ~16 MB
    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("nothing of this run counts as backed up"),
        "{err}"
    );
    assert_eq!(snapshots(&target), 0);
    assert!(!dir.path().join("data/last-backup.json").exists());
    // Its staged files are gone: the disk is not left full of them.
    assert_eq!(fs::read_dir(target.join("tmp")).unwrap().count(), 0);
    assert_eq!(
        audit_count(&dir.path().join("data"), "No space left on device"),
        1,
        "the failure is in the audit trail"
    );
}

/// An archive of the MR series and a JPEG-LS CT, with its backup.
fn archive_with_backup(dir: &Path) -> PathBuf {
    let target = dir.join("disque2");
    let cfg = config(dir, &target);
    let data = dir.join("data");
    let archive = Archive::open(&data).unwrap();
    drop(archive);
    let server = Server::start(&data, &[]);
    let mut files: Vec<PathBuf> = (1..=16)
        .map(|i| fixture(&format!("dcm4che-mr-series/MR{i:02}.dcm")))
        .collect();
    files.push(fixture("nema-wg04/CT1_JLSL.dcm"));
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    send_to(&server, &files);
    drop(server);
    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    cfg
}

#[test]
fn the_scrub_finds_damage_names_it_and_repairs_it_from_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = archive_with_backup(dir.path());
    let data = dir.path().join("data");
    let paths: Vec<String> = common::index(&data)
        .prepare("SELECT path FROM instances ORDER BY path")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let flipped = &paths[2];
    let mut bytes = fs::read(data.join(flipped)).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x04;
    fs::write(data.join(flipped), bytes).unwrap();
    let gone = &paths[9];
    fs::remove_file(data.join(gone)).unwrap();

    let (code, out, err) = run(&cfg, &["scrub", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["checked"], 17);
    assert_eq!(report["damaged"], serde_json::json!([flipped]));
    assert_eq!(report["missing"], serde_json::json!([gone]));
    assert_eq!(report["decoded"], 1, "the JPEG-LS CT decodes");
    assert_eq!(audit_count(&data, "scrub: 1 damaged, 1 missing"), 1);
    // The dated report for the quality binder, text and JSON.
    let reports: Vec<_> = fs::read_dir(data.join("scrub-reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(reports.iter().any(|r| r.ends_with(".txt")), "{reports:?}");
    assert!(reports.iter().any(|r| r.ends_with(".json")), "{reports:?}");

    let (code, out, err) = run(&cfg, &["scrub", "--repair-from", "disque2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("REPAIRED {flipped} from backup disque2")),
        "{out}"
    );
    assert!(
        out.contains(&format!("REPAIRED {gone} from backup disque2")),
        "{out}"
    );
    let (code, out, err) = run(&cfg, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&cfg, &["scrub"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("archive whole"), "{out}");
}

#[test]
fn the_nightly_slice_reads_the_least_recently_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = archive_with_backup(dir.path());
    // 17 instances over 30 days: one a night.
    let (code, first, _) = run(&cfg, &["scrub", "--slice", "--json"]);
    assert_eq!(code, 0, "{first}");
    let (_, second, _) = run(&cfg, &["scrub", "--slice", "--json"]);
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(first["checked"], 1);
    assert_eq!(first["overdue"], 16);
    assert_eq!(second["overdue"], 15, "the second night read another one");
}

/// Rows of a table of the index in `schema` (`main` or an attached one),
/// references replaced by the UIDs they point at, ids left out.
fn canonical(conn: &rusqlite::Connection, schema: &str) -> Vec<String> {
    let queries = [
        format!("SELECT 'P', patient_id, issuer, name, birth_date, sex, name_key FROM {schema}.patients"),
        format!(
            "SELECT 'S', p.patient_id, s.study_uid, s.study_date, s.study_time, s.accession_number,
                    s.description, s.referring_physician, s.study_id, s.institution_name, s.study_comments
             FROM {schema}.studies s JOIN {schema}.patients p ON p.id = s.patient_ref"
        ),
        format!(
            "SELECT 'E', st.study_uid, se.series_uid, se.modality, se.series_number, se.description,
                    se.series_date, se.series_time, se.body_part, se.performing_physician
             FROM {schema}.series se JOIN {schema}.studies st ON st.id = se.study_ref"
        ),
        format!(
            "SELECT 'I', se.series_uid, i.sop_instance_uid, i.sop_class_uid, i.instance_number,
                    i.transfer_syntax, i.path, i.size, i.sha256, i.content_sha256, i.calling_ae, i.conflict
             FROM {schema}.instances i JOIN {schema}.series se ON se.id = i.series_ref"
        ),
    ];
    let mut rows = Vec::new();
    for q in queries {
        let mut stmt = conn.prepare(&q).unwrap();
        let n = stmt.column_count();
        let found = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|v| v.join("|"))
            })
            .unwrap()
            .map(Result::unwrap);
        rows.extend(found);
    }
    rows.sort();
    rows
}

#[test]
fn reindex_rebuilds_an_index_identical_to_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let mut files: Vec<PathBuf> = (1..=16)
        .map(|i| fixture(&format!("dcm4che-mr-series/MR{i:02}.dcm")))
        .collect();
    files.extend(
        ["CT1_JLSL.dcm", "CT1_UNC.dcm", "MR1_J2KR.dcm", "CT1_RLE.dcm"]
            .iter()
            .map(|f| fixture(&format!("nema-wg04/{f}"))),
    );
    files.push(fixture("derived/OT-PAL-8-face.dcm"));
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    send_to(&server, &files);
    let data_arg = data.to_str().unwrap();
    let (code, _, err) = sansfilm(&["reindex", "--data-dir", data_arg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("server is running"), "{err}");
    drop(server);

    let before = dir.path().join("before.sqlite");
    rusqlite::Connection::open(data.join("index.sqlite"))
        .unwrap()
        .execute("VACUUM INTO ?1", [before.to_str().unwrap()])
        .unwrap();
    let (code, out, err) = sansfilm(&["reindex", "--data-dir", data_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reindexed 21 instances"), "{out}");
    assert!(out.contains("before-reindex"), "{out}");

    let conn = rusqlite::Connection::open(data.join("index.sqlite")).unwrap();
    conn.execute("ATTACH ?1 AS old", [before.to_str().unwrap()])
        .unwrap();
    let (new, old) = (canonical(&conn, "main"), canonical(&conn, "old"));
    assert_eq!(new.len(), old.len());
    let instances = new.iter().filter(|r| r.starts_with("Text(\"I\")")).count();
    assert_eq!(instances, 21, "{new:#?}");
    let differ: Vec<_> = new.iter().zip(&old).filter(|(a, b)| a != b).collect();
    assert!(differ.is_empty(), "{differ:#?}");
    // And the rebuilt archive is whole.
    let (code, out, err) = sansfilm(&["verify", "--data-dir", data_arg]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_disk_pulled_out_mid_run_fails_clearly_and_nothing_counts_as_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("usb");
    let disk = SmallDisk::mount(&target, "512m");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 400);
    let child = Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["backup", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_dir(target.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
        < 20
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(disk); // umount -l: the disk is gone from under the run
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("backup to disque2 failed"), "{err}");
    assert!(
        err.contains("nothing of this run counts as backed up"),
        "{err}"
    );
    assert!(!dir.path().join("data/last-backup.json").exists());
    assert_eq!(snapshots(&target), 0);
}

/// A configuration with one encrypted target (the off-site copy).
fn encrypted_config(dir: &Path, target: &Path, key: Option<&Path>) -> PathBuf {
    let path = dir.join("offsite.toml");
    let key_line = key
        .map(|k| format!("key_file = {:?}\n", k))
        .unwrap_or_default();
    fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[[backup.targets]]\nname = \"offsite\"\nurl = \"file://{}\"\n\
             encrypt = true\n{key_line}",
            dir.join("data"),
            target.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn an_encrypted_target_is_backed_up_drilled_and_restored_with_its_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("offsite");
    let key = dir.path().join("offsite.key");
    fill(&dir.path().join("data"), 3);

    let (code, out, err) = sansfilm(&["backup", "new-key", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("public key: age1"), "{out}");
    assert!(out.contains("Keep a copy"), "{out}");
    let written = fs::read_to_string(&key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A key is never overwritten: every backup made with it would be lost.
    let (code, _, err) = sansfilm(&["backup", "new-key", key.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("offsite.key"), "{err}");
    assert_eq!(fs::read_to_string(&key).unwrap(), written);

    let cfg = encrypted_config(dir.path(), &target, Some(&key));
    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 objects"), "{out}");
    let (code, out, _) = run(&cfg, &["backup", "list", "--target", "offsite"]);
    assert_eq!(code, 0);
    assert!(out.contains("encrypted"), "{out}");
    let (code, out, err) = run(&cfg, &["backup", "drill", "--target", "offsite"]);
    assert_eq!(code, 0, "{out}{err}");
    let restored = dir.path().join("restored");
    let (code, out, err) = run(
        &cfg,
        &[
            "restore",
            "--target",
            "offsite",
            "--to",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sansfilm(&["verify", "--data-dir", restored.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    // encrypt = true without a key file: a configuration error, exit 2.
    let cfg = encrypted_config(dir.path(), &target, None);
    let (code, _, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs key_file"), "{err}");

    // A key file that is not there, the target named: exit 2, by name.
    let cfg = encrypted_config(dir.path(), &target, Some(&dir.path().join("lost.key")));
    let (code, _, err) = run(&cfg, &["backup", "--target", "offsite"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lost.key"), "{err}");

    // Another key: refused by name, nothing written.
    let other = dir.path().join("other.key");
    sansfilm(&["backup", "new-key", other.to_str().unwrap()]);
    let cfg = encrypted_config(dir.path(), &target, Some(&other));
    let (code, _, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another key"), "{err}");
    assert_eq!(snapshots(&target), 1);
}

#[test]
fn prune_keeps_what_its_rules_say_and_the_rest_still_drills() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("disque2");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 2);
    for _ in 0..3 {
        let (code, out, err) = run(&cfg, &["backup"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(snapshots(&target), 3);

    let (code, _, err) = run(&cfg, &["backup", "prune", "--target", "disque2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--keep-last"), "{err}");

    let (code, out, err) = run(
        &cfg,
        &[
            "backup",
            "prune",
            "--target",
            "disque2",
            "--keep-last",
            "1",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("would forget ").count(), 2, "{out}");
    assert_eq!(snapshots(&target), 3);

    let (code, out, err) = run(
        &cfg,
        &[
            "backup",
            "prune",
            "--target",
            "disque2",
            "--keep-last",
            "1",
            "--grace-hours",
            "0",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 snapshots kept, 2 forgotten"), "{out}");
    assert_eq!(snapshots(&target), 1);
    let (code, out, err) = run(&cfg, &["backup", "drill", "--target", "disque2"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// `sansfilm ARGS` under `fiu-run` with the failure point `point` enabled.
fn sansfilm_failing(point: &str, config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::fiu_run();
    cmd.args([
        "-x",
        "-c",
        &format!("enable name={point}"),
        env!("CARGO_BIN_EXE_sansfilm"),
    ])
    .args(args)
    .args(["--config", config.to_str().unwrap()]);
    common::outcome(cmd)
}

#[test]
fn a_failing_rename_or_fsync_leaves_the_backup_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("disque2");
    let cfg = config(dir.path(), &target);
    fill(&dir.path().join("data"), 3);

    // Every rename fails: nothing reaches its final name, so there is no
    // snapshot, and the run says so.
    let (code, out, err) = sansfilm_failing("posix/io/dir/rename", &cfg, &["backup"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("backup to disque2 failed"), "{err}");
    assert!(err.contains("nothing of this run counts"), "{err}");
    assert_eq!(snapshots(&target), 0);

    // Every fsync fails: the consistent copy of the index cannot be made
    // durable, so the run stops there, saying why.
    let (code, out, err) = sansfilm_failing("posix/io/sync/fsync", &cfg, &["backup"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("disk I/O error"), "{err}");
    assert_eq!(snapshots(&target), 0);

    // Then, without faults: the next run completes and the drill proves it.
    let (code, out, err) = run(&cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(snapshots(&target), 1);
    let (code, out, err) = run(&cfg, &["backup", "drill", "--target", "disque2"]);
    assert_eq!(code, 0, "{out}{err}");
}
