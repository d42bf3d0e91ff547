//! Records as DICOM audit messages in syslog, sent at least once.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};

use sansfilm_audit::event::{Action, Outcome};
use sansfilm_audit::syslog::{Destination, send_pending, syslog_line};
use sansfilm_audit::{AuditEvent, AuditLog, Filter};

fn sample_log() -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    for kind in sansfilm_audit::event::EventKind::ALL {
        log.append(
            AuditEvent::new(kind, "test", Action::Execute, Outcome::Success)
                .participant("CT01", "10.1.2.3", true)
                .patient("P<1>&\"x\"")
                .study("1.2.3")
                .accession("A1")
                .query("PatientName=Dupont*")
                .instances(2),
        )
        .unwrap();
    }
    (dir, log)
}

#[test]
fn every_kind_gives_a_well_formed_audit_message() {
    let (_d, log) = sample_log();
    for r in log.records(&Filter::default()).unwrap() {
        let line = syslog_line(&r, "host", "sansfilm");
        assert!(line.starts_with("<85>1 "), "{line}");
        assert!(
            line.contains(&format!("[sansfilm@32473 seq=\"{}\"]", r.seq)),
            "{line}"
        );
        let xml = &line[line.find("<?xml").unwrap()..];
        assert!(
            xml.contains(&format!("csd-code=\"{}\"", r.event.kind.code())),
            "{xml}"
        );
        assert!(xml.contains("P&lt;1&gt;&amp;&quot;x&quot;"), "{xml}");
        // Elements open and close in balance.
        let opens =
            xml.matches('<').count() - xml.matches("</").count() - xml.matches("/>").count() - 1;
        assert_eq!(opens, xml.matches("</").count(), "{xml}");
    }
}

#[test]
fn udp_export_sends_every_record_once_per_call() {
    let (_d, log) = sample_log();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = Destination::Udp(sock.local_addr().unwrap().to_string());
    assert_eq!(send_pending(&log, &dest, "sansfilm").unwrap(), 9);
    let mut buf = vec![0u8; 65536];
    for _ in 0..9 {
        let n = sock.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("<AuditMessage>"));
    }
    assert_eq!(
        send_pending(&log, &dest, "sansfilm").unwrap(),
        0,
        "cursor moved"
    );
}

#[test]
fn tcp_export_keeps_the_backlog_while_the_collector_is_down() {
    let (_d, log) = sample_log();
    // Reserve a port, then close it: the collector is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dest = Destination::Tcp(format!("127.0.0.1:{port}"));
    assert!(send_pending(&log, &dest, "sansfilm").is_err());
    assert_eq!(log.export_cursor(&dest.to_string()).unwrap(), 0);
    // It comes back: the whole backlog goes out, octet-counted.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    assert_eq!(send_pending(&log, &dest, "sansfilm").unwrap(), 9);
    let received = reader.join().unwrap();
    assert_eq!(received.matches("<AuditMessage>").count(), 9);
    assert!(
        received.split_once(' ').unwrap().0.parse::<usize>().is_ok(),
        "octet counting"
    );
}
