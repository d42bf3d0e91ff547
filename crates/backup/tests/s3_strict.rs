//! The off-site copy to an S3 server that checks the SHA-256 of every
//! upload (s3s-fs, run inside the test): it refuses a body whose
//! `x-amz-checksum-sha256` is wrong, and takes every upload of a backup,
//! so each checksum sansfilm sends is right.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use sansfilm_archive::Archive;
use sansfilm_backup::s3::S3Location;
use sansfilm_backup::{BackupOptions, Key, Repository, S3Store, backup, drill};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

const KEY_ID: &str = "practice";
const SECRET: &str = "practice-secret";

/// s3s-fs serving `root` on a free loopback port (with the practice's keys,
/// or open to anyone); its address.
fn start_server(root: &Path, with_keys: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let fs = s3s_fs::FileSystem::new(&root).unwrap();
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            if with_keys {
                builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY_ID, SECRET));
            }
            let service = builder.build();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
    });
    format!("http://{address}")
}

#[test]
fn a_server_that_checks_checksums_takes_every_upload_and_refuses_a_wrong_one() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("cabinet")).unwrap();
    let endpoint = start_server(root.path(), true);

    let data = tempfile::tempdir().unwrap();
    let archive = Archive::open(data.path()).unwrap();
    for i in 1..=4 {
        let rel = format!("dcm4che-mr-series/MR{i:02}.dcm");
        archive.import_file(&fixture(&rel), "TESTSCU").unwrap();
    }
    archive
        .import_file(&fixture("nema-wg04/CT1_JLSL.dcm"), "TESTSCU")
        .unwrap();
    let location = S3Location {
        bucket: "cabinet".into(),
        prefix: "archive".into(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
    };
    let key = Key::generate();
    let repo = Repository::open_or_create_with(
        Box::new(S3Store::open(&location).unwrap()),
        Some(key.clone()),
    )
    .unwrap();
    let summary = backup(data.path(), &repo, &BackupOptions::default(), &|_| {}).unwrap();
    assert_eq!(summary.objects, 5);
    let scratch = tempfile::tempdir().unwrap();
    let report = drill(
        data.path(),
        &repo,
        &summary.snapshot,
        &scratch.path().join("d"),
        5,
        &|_| {},
    )
    .unwrap();
    assert!(report.passed(), "{}", report.to_text());

    // The same server refuses a body that is not what its checksum says,
    // and takes it when it is (unsigned requests, to a second server on the
    // same files that needs no keys: what is tried is the server's check).
    let open = start_server(root.path(), false);
    let wrong = raw_put(
        &open,
        "/cabinet/probe",
        b"what was sent",
        &sha256_b64(b"other"),
    );
    assert!(wrong.starts_with("HTTP/1.1 400"), "{wrong}");
    assert!(wrong.contains("BadDigest"), "{wrong}");
    let right = raw_put(
        &open,
        "/cabinet/probe",
        b"what was sent",
        &sha256_b64(b"what was sent"),
    );
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
}

fn sha256_b64(data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
}

/// A PUT with the checksum header given; the response's status line and body.
fn raw_put(endpoint: &str, path: &str, body: &[u8], checksum: &str) -> String {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\
         x-amz-checksum-sha256: {checksum}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
