//! storescp as a practice runs it: started with the contract's options,
//! spoken to by DCMTK, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn receives_from_dcmtk_into_the_data_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_storescp"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            "0",
            "--aet",
            "ARCHIVE1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(
        line.contains("listening on") && line.contains("ARCHIVE1"),
        "{line}"
    );
    let port = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let port = port.rsplit(':').next().unwrap();
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dicom/nema-wg04/MR2_UNC.dcm");
    let out = Command::new("storescu")
        .args(["-v", "-aec", "ARCHIVE1", "127.0.0.1", port])
        .arg(&file)
        .output()
        .expect("storescu (DCMTK) must be installed: run the README's test command");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Received Store Response (Success)"), "{text}");
    let conn = rusqlite::Connection::open(data.join("index.sqlite")).unwrap();
    let (n, modality): (i64, String) = conn
        .query_row(
            "SELECT count(*), s.modality FROM instances i JOIN series s ON s.id = i.series_ref",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, modality.as_str()), (1, "MR"));
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn help_explains_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_storescp"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--config", "--data-dir", "--port", "--aet", "C-STORE"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}
