//! DICOMweb as viewers and scripts meet it: `sansfilm serve` with its web
//! server, a practice user made with `sansfilm user add`, images sent over
//! DICOM and compressed by the archive, then dicomweb-client (PyPI) as the
//! outside client: search, retrieve, metadata, frames, rendered, STOW-RS.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use common::*;

/// `sansfilm user add NAME --role ROLE` with the password on standard input.
pub fn add_user(data_dir: &std::path::Path, name: &str, role: &str, password: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["user", "add", name, "--role", role, "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn originals() -> Vec<PathBuf> {
    [
        "nema-wg04/CT1_UNC.dcm",
        "nema-wg04/MR1_JLSL.dcm",
        "nema-wg04/US1_UNC.dcm",
        "pydicom-data/emri_small.dcm",
    ]
    .iter()
    .map(|f| fixtures().join(f))
    .collect()
}

#[test]
fn dicomweb_client_searches_retrieves_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "dr.martin", "radiologist", "un mot de passe long");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(&config, "[compression]\nenabled = false\n").unwrap();
    let server = Server::start_web(&data, &["--config", config.to_str().unwrap()]);
    let port = server.port.to_string();
    let files = originals();
    let mut args = vec!["send", "--called-aet", "SANSFILM", "127.0.0.1", &port];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 0, "{out}{err}");
    // The archive compresses what came uncompressed (JPEG-LS): the client
    // must get the original pixels back all the same.
    let (code, out, err) = sansfilm(&[
        "compress",
        "--data-dir",
        data.to_str().unwrap(),
        "--min-age-minutes",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        count(
            &data,
            "SELECT count(*) FROM instances WHERE transfer_syntax = '1.2.840.10008.1.2.4.80'"
        ),
        4,
        "every instance is kept in JPEG-LS"
    );
    let url = format!("http://127.0.0.1:{}", server.web_port);
    let out = python()
        .arg(script("dicomweb_check.py"))
        .args([&url, "dr.martin", "un mot de passe long"])
        .arg(fixtures().join("pydicom/CT_small.dcm"))
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success() && text.contains("ALL OK"),
        "{text}\n--- server log ---\n{}",
        server.log_text()
    );
    // What the client did is in the audit trail, queries and reads alike.
    assert!(audit_count(&data, "QIDO-RS") > 0);
    assert!(audit_count(&data, "WADO-RS") > 0);
    assert_eq!(audit_count(&data, "STOW-RS"), 1);
}

#[test]
fn dicomweb_refuses_callers_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "secretariat", "secretary", "encore un long mot");
    let server = Server::start_web(&data, &[]);
    let port = server.web_port;
    let status = |path: &str, user: Option<&str>| -> u16 {
        let auth = user.map(basic);
        let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
        http(port, "GET", path, &headers, b"").status
    };
    assert_eq!(status("/dicom-web/studies", None), 401);
    assert_eq!(
        status("/dicom-web/studies", Some("secretariat:wrong password")),
        401
    );
    assert_eq!(
        status("/dicom-web/studies", Some("secretariat:encore un long mot")),
        200
    );
    assert_eq!(
        status(
            "/dicom-web/studies/1.2.3/metadata",
            Some("secretariat:encore un long mot")
        ),
        404
    );
    // The practice page sends strangers to the login page.
    assert_eq!(status("/", None), 303);
    assert_eq!(status("/login", None), 200);
}
