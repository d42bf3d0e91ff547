//! The off-site copy to an S3-compatible server (moto's, started here): an
//! encrypted backup with credentials that cannot delete, into a bucket with
//! object lock; every upload checksummed; the drill restores from it and
//! names a blob damaged there.

use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sansfilm_archive::Archive;
use sansfilm_backup::s3::S3Location;
use sansfilm_backup::{BackupOptions, Key, Repository, S3Store, Store, backup, drill, restore};

fn python() -> PathBuf {
    let py = std::env::var("SANSFILM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(
        py.exists(),
        "{} not found: run the README's test command, which creates it with moto",
        py.display()
    );
    py
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

/// moto's S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let server = python().with_file_name("moto_server");
        assert!(
            server.exists(),
            "{} not found: run the README's test command, which installs moto[server]",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, endpoint }
    }

    fn peer(&self, args: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3_peer.py");
        let out = Command::new(python())
            .arg(script)
            .arg(args[0])
            .arg(&self.endpoint)
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "s3_peer.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = out.stdout.lines().map(Result::unwrap).last().unwrap();
        serde_json::from_str(&last).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keys(v: &serde_json::Value, user: &str) -> (String, String) {
    (
        v[user][0].as_str().unwrap().to_string(),
        v[user][1].as_str().unwrap().to_string(),
    )
}

#[test]
fn an_encrypted_off_site_copy_goes_to_s3_without_delete_rights_and_restores() {
    let moto = Moto::start();
    let bucket = "sansfilm-cabinet";
    let users = moto.peer(&["setup", bucket]);
    let (practice_id, practice_secret) = keys(&users, "practice");
    let (admin_id, admin_secret) = keys(&users, "admin");

    let data = tempfile::tempdir().unwrap();
    let archive = Archive::open(data.path()).unwrap();
    for rel in [
        "dcm4che-mr-series/MR01.dcm",
        "dcm4che-mr-series/MR02.dcm",
        "nema-wg04/CT1_JLSL.dcm",
        // 6.2 MB: uploaded in two parts at the 5 MiB part size set below.
        "nema-wg04/RG3_UNC.dcm",
    ] {
        archive.import_file(&fixture(rel), "TESTSCU").unwrap();
    }

    let location = S3Location {
        bucket: bucket.into(),
        prefix: "archive".into(),
        endpoint: Some(moto.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: practice_id.clone(),
        secret_access_key: practice_secret.clone(),
    };
    let open = |key: &Key| {
        let store = S3Store::open(&location).unwrap().with_part_bytes(5 << 20);
        Repository::open_or_create_with(Box::new(store), Some(key.clone())).unwrap()
    };
    let key = Key::generate();
    let repo = open(&key);
    let first = backup(data.path(), &repo, &BackupOptions::default(), &|_| {}).unwrap();
    assert_eq!(first.objects, 4);
    assert!(first.snapshot.problems.is_empty());
    let again = backup(data.path(), &open(&key), &BackupOptions::default(), &|_| {}).unwrap();
    assert_eq!(
        again.objects_sent, 0,
        "an incremental run finds what is there"
    );

    // Every upload carried its SHA-256, and it is that of what was stored.
    let sums = moto.peer(&["checksums", bucket, &admin_id, &admin_secret]);
    // 4 objects, the index, the marker, 2 manifests.
    assert!(sums["objects"].as_u64().unwrap() >= 8, "{sums}");
    assert_eq!(sums["multipart"], 1, "{sums}");
    assert_eq!(sums["without_checksum"], serde_json::json!([]), "{sums}");
    assert_eq!(sums["wrong_checksum"], serde_json::json!([]), "{sums}");

    // The practice's keys cannot delete; object lock refuses even the admin.
    // An object's blob (the entries begin with the databases, kept in chunks).
    let an_object = first
        .snapshot
        .of_kind(sansfilm_backup::EntryKind::Object)
        .next()
        .unwrap();
    let blob = format!("archive/{}", repo.blob_name(&an_object.sha256));
    let practice_tries = moto.peer(&["delete", bucket, &practice_id, &practice_secret, &blob]);
    assert!(!practice_tries.as_array().unwrap().is_empty());
    assert!(
        practice_tries
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().starts_with("denied")),
        "{practice_tries}"
    );
    let admin_tries = moto.peer(&["delete", bucket, &admin_id, &admin_secret, &blob]);
    assert!(
        !admin_tries.as_array().unwrap().is_empty(),
        "no version tried"
    );
    assert!(
        admin_tries
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().starts_with("denied")),
        "{admin_tries}"
    );

    // The drill restores from the bucket and proves the copy.
    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &again.snapshot,
        &scratch.path().join("drill"),
        10,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.instances, 4);
    let to = scratch.path().join("restored");
    let restored = restore(&repo, &again.snapshot, &to, 2, &|_| {}).unwrap();
    assert!(restored.is_complete());
    assert!(
        Archive::open(&to)
            .unwrap()
            .verify(|_, _| {})
            .unwrap()
            .is_clean()
    );

    // A blob altered on the server is found and named.
    let object = again
        .snapshot
        .of_kind(sansfilm_backup::EntryKind::Object)
        .next()
        .unwrap()
        .clone();
    let name = format!("archive/{}", repo.blob_name(&object.sha256));
    moto.peer(&["overwrite", bucket, &admin_id, &admin_secret, &name]);
    let report = drill(
        data.path(),
        &repo,
        &again.snapshot,
        &scratch.path().join("drill2"),
        10,
        &|_| {},
    )
    .unwrap();
    assert!(!report.passed());
    assert!(
        report
            .restore
            .damaged
            .iter()
            .any(|d| d.starts_with(&object.path)),
        "{:?}",
        report.restore.damaged
    );

    // Wrong credentials: a clear error naming the bucket.
    let wrong = S3Location {
        secret_access_key: "not-the-secret".into(),
        ..location.clone()
    };
    let err = S3Store::open(&wrong)
        .unwrap()
        .list("snapshots")
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://sansfilm-cabinet/archive"), "{err}");
}
