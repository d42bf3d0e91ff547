//! wlmserver as a practice runs it: entries imported, queried by DCMTK's
//! findscu, stopped with SIGTERM.

use std::path::Path;
use std::process::Command;

use sansfilm_benches::harness::ServerProcess;

#[test]
fn answers_findscu_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/worklist");
    let store = sansfilm_worklist::WorklistStore::open(&data).unwrap();
    for f in sansfilm_worklist::import::wl_files(&fixtures.join("orthanc")).unwrap() {
        store
            .insert(&sansfilm_worklist::import::read_wl_file(&f).unwrap())
            .unwrap();
    }
    drop(store);
    let mut server = ServerProcess::launch(
        env!("CARGO_BIN_EXE_wlmserver"),
        &[],
        &data,
        &["--aet", "WORKLIST"],
        false,
    );
    assert!(server.banner.contains("WORKLIST"), "{}", server.banner);
    let port = server.port.to_string();
    let out = Command::new("findscu")
        .args(["-W", "-v", "-aec", "WORKLIST", "127.0.0.1", &port])
        .arg(fixtures.join("derived/wlistqry1.dcm"))
        .output()
        .expect("findscu (DCMTK) must be installed: run the README's test command");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.matches("(Pending)").count(), 10, "{text}");
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());
}
