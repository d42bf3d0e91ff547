//! A server that starts after damage says so: the start-up check logs a
//! warning and records a Security Alert, pointing to the command that mends.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn wait_for_log(server: &Server, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.log_text();
        if log.contains(what) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alerts(data: &std::path::Path, what: &str) -> i64 {
    rusqlite::Connection::open(data.join("audit.sqlite"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE event LIKE ?1",
            [format!("%{what}%")],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_lost_index_row_and_a_tampered_audit_record_are_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut server = Server::start(&data, &[]);
        let log = wait_for_log(&server, "audit chain intact");
        assert!(log.contains("archive consistent"), "{log}");
        let (code, out, err) = sansfilm(&[
            "send",
            "--called-aet",
            "SANSFILM",
            "127.0.0.1",
            &server.port.to_string(),
            fixtures().join("nema-wg04/CT1_UNC.dcm").to_str().unwrap(),
            fixtures().join("pydicom/CT_small.dcm").to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
    }
    // The last write lost (a row gone, its file kept), and a record of the
    // audit trail changed.
    let index = rusqlite::Connection::open(data.join("index.sqlite")).unwrap();
    index
        .execute(
            "DELETE FROM instances WHERE id = (SELECT max(id) FROM instances)",
            [],
        )
        .unwrap();
    drop(index);
    let audit = rusqlite::Connection::open(data.join("audit.sqlite")).unwrap();
    audit
        .execute(
            "UPDATE audit_log SET event = replace(event, 'received', 'RECEIVED') WHERE seq = \
             (SELECT min(seq) FROM audit_log WHERE event LIKE '%received%')",
            [],
        )
        .unwrap();
    drop(audit);

    let server = Server::start(&data, &[]);
    let log = wait_for_log(&server, "audit chain broken");
    assert!(
        log.contains("archive inconsistent") && log.contains("1 stored file(s) not indexed"),
        "{log}"
    );
    assert!(log.contains("sansfilm verify --repair"), "{log}");
    assert!(log.contains("sansfilm audit verify"), "{log}");
    assert!(echo_ok(&server), "the server serves all the same");
    drop(server);
    assert_eq!(alerts(&data, "archive inconsistent at start"), 1);
    assert_eq!(alerts(&data, "audit chain broken at start"), 1);
}

fn echo_ok(server: &Server) -> bool {
    dcmtk("echoscu")
        .args(["-aec", "SANSFILM", "127.0.0.1", &server.port.to_string()])
        .status()
        .unwrap()
        .success()
}

/// The README's first command on a fresh machine: `sansfilm serve` with its
/// embedded defaults creates `./sansfilm-data` (a relative path) and
/// listens. Ports are 0 here only because tests run in parallel.
#[test]
fn serve_with_its_defaults_starts_in_an_empty_directory() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["serve", "--port", "0", "--hl7-port", "0", "--web-port", "0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        first.contains("listening on"),
        "{first}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("sansfilm-data/index.sqlite").is_file());
}
