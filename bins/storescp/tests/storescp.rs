//! storescp as a practice runs it: started with the contract's options,
//! spoken to by DCMTK, stopped with SIGTERM.

use std::path::Path;
use std::process::Command;

use sansfilm_benches::harness::ServerProcess;

#[test]
fn receives_from_dcmtk_into_the_data_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::launch(
        env!("CARGO_BIN_EXE_storescp"),
        &[],
        &data,
        &["--aet", "ARCHIVE1"],
        false,
    );
    assert!(server.banner.contains("ARCHIVE1"), "{}", server.banner);
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dicom/nema-wg04/MR2_UNC.dcm");
    let out = Command::new("storescu")
        .args([
            "-v",
            "-aec",
            "ARCHIVE1",
            "127.0.0.1",
            &server.port.to_string(),
        ])
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
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());
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
