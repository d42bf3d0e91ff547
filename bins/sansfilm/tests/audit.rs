//! The audit trail as the practice's data protection officer meets it: every
//! store, query and HL7 change recorded with who took part, verifiable, and
//! tampering found.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use sansfilm_audit::event::EventKind;
use sansfilm_audit::{AuditLog, Filter};

fn mllp(port: u16, msg: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&[&[0x0b][..], msg.as_bytes(), &[0x1c, 0x0d]].concat())
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn stores_queries_and_hl7_produce_exactly_the_expected_events() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(
        &config,
        "[dicom.access]\nallow = [ { ae_title = \"SANSFILM-SCU\" }, { ae_title = \"FINDSCU\" } ]\n",
    )
    .unwrap();
    let mut server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let copies = sansfilm_benches::synth::write_distinct_copies(
        &fixtures().join("pydicom/MR_small.dcm"),
        &dir.path().join("copies"),
        500,
    );
    let dirs = copies[0].parent().unwrap().to_str().unwrap().to_string();
    let (code, out, err) = sansfilm(&[
        "send",
        "--assocs",
        "2",
        "127.0.0.1",
        &server.port.to_string(),
        &dirs,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for _ in 0..2 {
        let status = dcmtk("findscu")
            .args([
                "-W",
                "-aec",
                "SANSFILM",
                "127.0.0.1",
                &server.port.to_string(),
            ])
            .arg(fixtures().join("../worklist/derived/wlistqry5.dcm"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let refused = dcmtk("echoscu")
        .args([
            "-aet",
            "INTRUDER",
            "-aec",
            "SANSFILM",
            "127.0.0.1",
            &server.port.to_string(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let adt = "MSH|^~\\&|RIS|CAB|SF|CAB|20261123||ADT^A08|AUD1|P|2.5\rPID|||4711^^^CAB||Dupont^Jean||19800101|M\r";
    assert!(mllp(server.hl7_port, adt).contains("MSA|AA|AUD1"));
    let orm = "MSH|^~\\&|RIS|CAB|SF|CAB|20261123||ORM^O01|AUD2|P|2.3.1\rPID|||4711^^^CAB||Dupont^Jean||19800101|M\rORC|NW|X1|X1\rOBR|1|X1|X1|RX^Radio||||||||||||||ACC77|RP77|SPS77||||CR|||^^^20261123090000\r";
    assert!(mllp(server.hl7_port, orm).contains("MSA|AA|AUD2"));
    std::thread::sleep(Duration::from_millis(300));
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));

    let log = AuditLog::open(&data, None).unwrap();
    let count = |kind| {
        log.records(&Filter {
            kind: Some(kind),
            ..Default::default()
        })
        .unwrap()
    };
    let transfers = count(EventKind::InstancesTransferred);
    assert_eq!(transfers.len(), 500);
    assert!(
        transfers
            .iter()
            .all(|r| r.event.participants[0].id == "SANSFILM-SCU"
                && r.event.participants[0].host == "127.0.0.1"
                && r.event.participants[0].requestor
                && r.event.instances == 1
                && r.event.study_uids.len() == 1)
    );
    let queries = count(EventKind::Query);
    assert_eq!(queries.len(), 2);
    assert!(queries.iter().all(|r| {
        r.event.participants[0].id == "FINDSCU"
            && r.event
                .query
                .contains("ScheduledProcedureStepStartTime=120000-")
    }));
    let patients = count(EventKind::PatientRecord);
    assert_eq!(patients.len(), 1);
    assert_eq!(patients[0].event.patient_id, "4711");
    assert!(patients[0].event.participants[0].id.starts_with("RIS"));
    let orders = count(EventKind::OrderRecord);
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].event.accession, "ACC77");
    let alerts = count(EventKind::SecurityAlert);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].event.participants[0].id, "INTRUDER");
    assert_eq!(
        count(EventKind::ApplicationActivity).len(),
        2,
        "start and stop"
    );
    assert!(server.log_text().contains("audit checkpoint"));

    let (code, out, _) = sansfilm(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = sansfilm(&[
        "audit",
        "show",
        "--data-dir",
        data.to_str().unwrap(),
        "--patient",
        "4711",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PatientRecord") && out.contains("OrderRecord"),
        "{out}"
    );
    let (code, out, _) = sansfilm(&[
        "audit",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--type",
        "Query",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.contains("<AuditMessage>")).count(),
        2,
        "{out}"
    );
}

#[test]
fn audit_verify_names_the_tampered_record_and_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let (code, _, _) = sansfilm(&[
        "send",
        "127.0.0.1",
        &server.port.to_string(),
        fixtures().join("pydicom/CT_small.dcm").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    let (_, out, _) = sansfilm(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    let head = out
        .split("head ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let conn = rusqlite::Connection::open(data.join("audit.sqlite")).unwrap();
    conn.execute(
        "UPDATE audit_log SET event = replace(event, 'CT_small', 'XX') WHERE seq = 2",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE audit_log SET event = replace(event, '\"received\"', '\"sent\"') WHERE seq = 2",
        [],
    )
    .unwrap();
    let (code, out, _) = sansfilm(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 2 was altered"), "{out}");
    conn.execute("DELETE FROM audit_log WHERE seq >= 2", [])
        .unwrap();
    let (code, out, _) = sansfilm(&[
        "audit",
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--checkpoint",
        &head,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");
}
