//! wlmserver as a practice runs it: entries imported, queried by DCMTK's
//! findscu, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_wlmserver"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            "0",
            "--aet",
            "WORKLIST",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(
        line.contains("listening on") && line.contains("WORKLIST"),
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
    let out = Command::new("findscu")
        .args(["-W", "-v", "-aec", "WORKLIST", "127.0.0.1", port])
        .arg(fixtures.join("derived/wlistqry1.dcm"))
        .output()
        .expect("findscu (DCMTK) must be installed: run the README's test command");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.matches("(Pending)").count(), 10, "{text}");
    unsafe { libc_kill(child.id() as i32, 15) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
