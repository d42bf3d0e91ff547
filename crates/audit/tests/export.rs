//! Records as DICOM audit messages in syslog, sent at least once.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};

use sansfilm_audit::event::{Action, EventKind, Outcome};
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
    assert_eq!(
        send_pending(&log, &dest, "sansfilm").unwrap(),
        EventKind::ALL.len()
    );
    let mut buf = vec![0u8; 65536];
    for _ in 0..EventKind::ALL.len() {
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
    assert_eq!(
        send_pending(&log, &dest, "sansfilm").unwrap(),
        EventKind::ALL.len()
    );
    let received = reader.join().unwrap();
    assert_eq!(
        received.matches("<AuditMessage>").count(),
        EventKind::ALL.len()
    );
    assert!(
        received.split_once(' ').unwrap().0.parse::<usize>().is_ok(),
        "octet counting"
    );
}

/// A CA, a repository certificate for `localhost`, and a node certificate,
/// written as PEM files.
fn pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, san) in [("server", "localhost"), ("node", "sansfilm.local")] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![san.to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

#[test]
fn tls_export_with_mutual_authentication() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (_d, log) = sample_log();
    let pki_dir = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let p = |n: &str| pki_dir.path().join(n);
    // The repository: requires a client certificate signed by the CA.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(p("ca.pem")).unwrap())
        .unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let server_config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_file(p("server.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(p("server.key")).unwrap(),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut all = Vec::new();
        let _ = tls.read_to_end(&mut all);
        tls.conn.send_close_notify();
        let _ = std::io::Write::flush(&mut tls);
        String::from_utf8(all).unwrap()
    });
    let client = sansfilm_audit::syslog::TlsClient::new(
        &p("ca.pem"),
        Some((&p("node.pem"), &p("node.key"))),
    )
    .unwrap();
    let dest = Destination::parse(&format!("tls://localhost:{port}"), Some(client)).unwrap();
    assert_eq!(
        send_pending(&log, &dest, "sansfilm").unwrap(),
        EventKind::ALL.len()
    );
    let received = reader.join().unwrap();
    assert_eq!(
        received.matches("<AuditMessage>").count(),
        EventKind::ALL.len()
    );
    // Without a CA, tls:// is refused with a clear message.
    assert!(
        Destination::parse("tls://localhost:1", None)
            .unwrap_err()
            .contains("CA")
    );
}

/// Runs the schema validator (lxml + rnc2rng from the README's test command's
/// virtual environment) on syslog lines; panics with its complaints.
fn assert_valid_against_dicom_schema(lines: &str) {
    let (ok, report) = validate_against_dicom_schema(lines);
    assert!(ok, "{report}");
}

/// Whether every message validates, and the validator's report.
fn validate_against_dicom_schema(lines: &str) -> (bool, String) {
    use std::process::{Command, Stdio};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("SANSFILM_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run the README's test command, which creates it",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("crates/audit/tests/validate_audit_xml.py"))
        .arg(root.join("fixtures/audit/dicom-audit-message.rnc"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[test]
fn the_schema_check_refuses_what_the_schema_forbids() {
    // A participant object without name or query, and a date that is no xsd:dateTime.
    let bad = [
        r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage><EventIdentification EventDateTime="2026-11-23T10:00:00Z" EventOutcomeIndicator="0"><EventID csd-code="110100" codeSystemName="DCM" originalText="Application Activity"/></EventIdentification><ActiveParticipant UserID="x" UserIsRequestor="true"/><AuditSourceIdentification AuditSourceID="s"/><ParticipantObjectIdentification ParticipantObjectID="1"><ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" originalText="Patient Number"/></ParticipantObjectIdentification></AuditMessage>"#,
        r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage><EventIdentification EventDateTime="23/11/2026" EventOutcomeIndicator="0"><EventID csd-code="110100" codeSystemName="DCM" originalText="Application Activity"/></EventIdentification><ActiveParticipant UserID="x" UserIsRequestor="true"/><AuditSourceIdentification AuditSourceID="s"/></AuditMessage>"#,
    ];
    for message in bad {
        let (ok, report) = validate_against_dicom_schema(message);
        assert!(!ok, "{report}");
        assert!(report.contains("1 messages, 1 invalid"), "{report}");
    }
}

#[test]
fn every_kind_validates_against_the_dicom_audit_message_schema() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    for kind in sansfilm_audit::event::EventKind::ALL {
        // Full event, bare event (the archive itself is the only participant),
        // and a failure with an explanation and a non-ASCII value.
        log.append(
            AuditEvent::new(kind, "test", Action::Create, Outcome::Success)
                .participant("CT01", "10.1.2.3", true)
                .participant("SANSFILM", "archive.local", false)
                .patient("P<1>&\"x\"")
                .study("1.2.3")
                .study("1.2.4")
                .accession("A1")
                .query("PatientName=Dupont*")
                .instances(2),
        )
        .unwrap();
        log.append(AuditEvent::new(
            kind,
            "start",
            Action::Execute,
            Outcome::Success,
        ))
        .unwrap();
        log.append(
            AuditEvent::new(
                kind,
                "association refused",
                Action::Read,
                Outcome::MajorFailure,
            )
            .participant("INTRUDER", "", true)
            .accession("ÉCHO-1")
            .detail("calling AE title not recognised: <INTRUDER> & co"),
        )
        .unwrap();
    }
    let lines: String = log
        .records(&Filter::default())
        .unwrap()
        .iter()
        .map(|r| syslog_line(r, "host", "sansfilm") + "\n")
        .collect();
    assert_eq!(lines.lines().count(), 3 * EventKind::ALL.len());
    assert_valid_against_dicom_schema(&lines);
}
