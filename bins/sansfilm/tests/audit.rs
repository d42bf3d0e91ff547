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
    let all_alerts = count(EventKind::SecurityAlert);
    assert!(
        all_alerts
            .iter()
            .any(|r| r.event.subtype == "configuration"),
        "first start records the configuration"
    );
    let alerts: Vec<_> = all_alerts
        .into_iter()
        .filter(|r| r.event.subtype == "association refused")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].event.participants[0].id, "INTRUDER");
    assert_eq!(
        count(EventKind::ApplicationActivity).len(),
        2,
        "start and stop"
    );
    assert!(server.log_text().contains("audit checkpoint"));

    let (code, out, _) = sansfilm(&["status", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("500 instances")
            && out.contains("worklist: 1 entries, 2 HL7 messages")
            && out.contains("audit trail: head"),
        "{out}"
    );
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
    let (code, out, _) = sansfilm(&["audit", "export", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_valid_audit_messages(&out);
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
    // Record 1 is the start, 2 the configuration, 3 the store.
    let changed = conn
        .execute(
            "UPDATE audit_log SET event = replace(event, '\"received\"', '\"sent\"') WHERE seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (code, out, _) = sansfilm(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 3 was altered"), "{out}");
    // Finding it is itself recorded, as a Security Alert.
    let log = AuditLog::open(&data, None).unwrap();
    let alerts = log
        .records(&Filter {
            kind: Some(EventKind::SecurityAlert),
            ..Default::default()
        })
        .unwrap();
    assert!(
        alerts
            .iter()
            .any(|r| r.event.subtype == "tampering detected"),
        "{alerts:?}"
    );
    conn.execute("DELETE FROM audit_log WHERE seq >= 3", [])
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

/// rsyslogd on a loopback TCP port, writing every message it receives to a file.
struct Rsyslog {
    child: std::process::Child,
}

impl Rsyslog {
    fn start(dir: &std::path::Path, port: u16) -> Rsyslog {
        let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("rsyslogd (Debian package rsyslog) must be installed: run the README's test command");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{d}\")\nmodule(load=\"imtcp\")\n\
                 input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
                 template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{d}/received.log\" template=\"raw\")\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(bin)
            .args([
                "-n",
                "-f",
                conf.to_str().unwrap(),
                "-i",
                dir.join("rsyslog.pid").to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it listens.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Rsyslog { child }
    }

    fn stop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn received_seqs(dir: &std::path::Path) -> std::collections::BTreeSet<u64> {
    let text = std::fs::read_to_string(dir.join("received.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split("seq=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

#[test]
fn an_rsyslog_repository_receives_every_event_even_across_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let collector = dir.path().join("collector");
    std::fs::create_dir_all(&collector).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut rsyslog = Rsyslog::start(&collector, port);
    let config = dir.path().join("sansfilm.toml");
    std::fs::write(
        &config,
        format!("[audit]\nsyslog = \"tcp://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let copies = sansfilm_benches::synth::write_distinct_copies(
        &fixtures().join("pydicom/MR_small.dcm"),
        &dir.path().join("copies"),
        40,
    );
    let send = |files: &[std::path::PathBuf]| {
        let mut args = vec![
            "send".to_string(),
            "127.0.0.1".into(),
            server.port.to_string(),
        ];
        args.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(sansfilm(&args).0, 0);
    };
    let wait_for = |n: u64| {
        for _ in 0..150 {
            if received_seqs(&collector).range(1..=n).count() as u64 == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    send(&copies[..20]);
    assert!(
        wait_for(21),
        "first events: {:?}",
        received_seqs(&collector)
    );
    // The repository goes down; the archive goes on and keeps the backlog.
    rsyslog.stop();
    send(&copies[20..]);
    std::thread::sleep(Duration::from_secs(3));
    let rsyslog2 = Rsyslog::start(&collector, port);
    assert!(
        wait_for(41),
        "after restart: {:?}",
        received_seqs(&collector)
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    drop(rsyslog2);
    let head = AuditLog::open(&data, None)
        .unwrap()
        .head()
        .unwrap()
        .unwrap();
    let got = received_seqs(&collector);
    // Everything the running server had recorded arrived (the stop event is
    // written as the forwarder stops, and goes with the next start).
    let missing: Vec<u64> = (1..head.seq).filter(|s| !got.contains(s)).collect();
    assert!(missing.is_empty(), "missing {missing:?} of {}", head.seq);
}
