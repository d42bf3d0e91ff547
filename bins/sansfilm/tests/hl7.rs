//! The HL7 bridge as the RIS meets it: MLLP over a real socket, by the `hl7`
//! package's `mllp_send` and by hand-made frames, then the worklist as DCMTK's
//! findscu reads it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;

const ADT: &str = "MSH|^~\\&|RIS|CABINET|SANSFILM|CABINET|20261123080000||ADT^A01|ADT0001|P|2.5|||||FRA|8859/1\rEVN|A01|20261123080000\rPID|||FR4711^^^CABINET||Müller^Hélène^Éloïse||19800214|F\r";

fn orm(control_id: &str, accession: &str, station: &str) -> String {
    format!(
        "MSH|^~\\&|RIS|CABINET|SANSFILM|CABINET|20261123080100||ORM^O01|{control_id}|P|2.3.1|||||FRA|8859/1\r\
         PID|||FR4711^^^CABINET||Müller^Hélène^Éloïse||19800214|F\r\
         PV1||O|||||12345^Lefèvre^Zoé^^^DR\r\
         ORC|NW|{accession}|{accession}||SC||^^^20261123093000\r\
         OBR|1|{accession}|{accession}|MRGEN^IRM du genou^LOCAL||||||||||||||{accession}|RP{accession}|SPS{accession}|{station}|||MR|||^^^20261123093000\r\
         ZDS|1.2.826.0.1.3680043.10.1.{accession}^100^Application^DICOM\r"
    )
}

/// `mllp_send` from the `hl7` package (PyPI) in the test virtual environment.
fn mllp_send(port: u16, messages: &[String], dir: &Path) -> String {
    let file = dir.join("messages.hl7");
    let mut text = String::new();
    for m in messages {
        text.push_str(m);
        text.push('\n');
    }
    std::fs::write(&file, text.as_bytes()).unwrap();
    let python = python();
    let bin = Path::new(python.get_program()).with_file_name("mllp_send");
    assert!(
        bin.exists(),
        "{} missing: run the README's test command",
        bin.display()
    );
    let out = std::process::Command::new(bin)
        .args(["--loose", "--port", &port.to_string(), "--file"])
        .arg(&file)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mllp_send: {}",
        &err[err.len().saturating_sub(600)..]
    );
    String::from_utf8_lossy(&out.stdout).replace('\r', "\n")
}

/// Sends raw bytes and reads until `acks` MLLP frames came back (or EOF).
fn raw_exchange(port: u16, bytes: &[u8], acks: usize) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let mut frames = vec![];
    while frames.len() < acks {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        while let Some(end) = got.windows(2).position(|w| w == [0x1c, 0x0d]) {
            let frame: Vec<u8> = got.drain(..end + 2).collect();
            frames.push(String::from_utf8_lossy(&frame[1..frame.len() - 2]).replace('\r', "\n"));
        }
    }
    frames
}

fn framed(m: &str) -> Vec<u8> {
    let mut out = vec![0x0b];
    // The messages declare 8859/1: send them in Latin-1.
    out.extend(m.chars().map(|c| c as u32 as u8));
    out.extend_from_slice(&[0x1c, 0x0d]);
    out
}

#[test]
fn ris_order_reaches_the_modality_with_its_french_name_intact() {
    let dir = tempfile::tempdir().unwrap();
    // This RIS puts the scheduled station AE title in OBR-21: its own mapping.
    let server = Server::with_config(dir.path(), "[hl7.senders.RIS]\nstation_ae = [\"OBR-21\"]\n");
    let out = mllp_send(
        server.hl7_port,
        &[ADT.to_string(), orm("ORM0001", "ACC1001", "MR_SALLE1")],
        dir.path(),
    );
    assert_eq!(out.matches("MSA|AA|").count(), 2, "{out}");

    // The modality asks its worklist with findscu; answers saved as files.
    let query = dir.path().join("query.dump");
    std::fs::write(
        &query,
        "(0010,0010) PN [M*]\n(0010,0020) LO []\n(0008,0050) SH []\n(0020,000d) UI []\n\
         (0040,0100) SQ\n(fffe,e000) -\n(0008,0060) CS []\n(0040,0001) AE [MR_SALLE1]\n\
         (0040,0002) DA [20261123]\n(0040,0003) TM []\n(fffe,e00d) -\n(fffe,e0dd) -\n",
    )
    .unwrap();
    let query_dcm = dir.path().join("query.dcm");
    assert!(
        dcmtk("dump2dcm")
            .arg(&query)
            .arg(&query_dcm)
            .status()
            .unwrap()
            .success()
    );
    let answers = dir.path().join("answers");
    std::fs::create_dir_all(&answers).unwrap();
    let out = dcmtk("findscu")
        .args([
            "-W",
            "-X",
            "-od",
            answers.to_str().unwrap(),
            "-aec",
            "SANSFILM",
        ])
        .args(["127.0.0.1", &server.port.to_string()])
        .arg(&query_dcm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(&answers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let answer = dicom_object::open_file(&files[0]).unwrap();
    let text = |t| answer.element(t).unwrap().to_str().unwrap().to_string();
    use dicom_dictionary_std::tags;
    assert_eq!(text(tags::PATIENT_NAME), "Müller^Hélène^Éloïse");
    assert_eq!(text(tags::PATIENT_ID), "FR4711");
    assert_eq!(text(tags::ACCESSION_NUMBER), "ACC1001");
    assert_eq!(text(tags::SPECIFIC_CHARACTER_SET), "ISO_IR 100");
}

#[test]
fn bad_input_over_mllp_gets_clear_acks_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let store = || sansfilm_worklist::WorklistStore::open(&data).unwrap();

    // Garbage between frames is skipped; both messages are acknowledged.
    let mut bytes = b"garbage".to_vec();
    bytes.extend(framed(ADT));
    bytes.extend_from_slice(b"\r\nmore garbage");
    bytes.extend(framed(&orm("ORM0002", "ACC2002", "CT01")));
    let acks = raw_exchange(server.hl7_port, &bytes, 2);
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert!(acks.iter().all(|a| a.contains("MSA|AA|")), "{acks:?}");

    // A message without MSH, an unknown type: AR.
    let acks = raw_exchange(server.hl7_port, &framed("PID|||1||X^Y\r"), 1);
    assert!(
        acks[0].contains("MSA|AR|") && acks[0].contains("ERR|"),
        "{acks:?}"
    );
    let oru = "MSH|^~\\&|LAB|X|SF|Y|20261123||ORU^R01|ORU1|P|2.5\rPID|||1\r";
    let acks = raw_exchange(server.hl7_port, &framed(oru), 1);
    assert!(
        acks[0].contains("MSA|AR|ORU1|")
            && acks[0].contains("|200^Unsupported message type^HL70357|"),
        "{acks:?}"
    );

    // A wrong date and a missing field: AE with the location.
    let bad_date = orm("ORM0003", "ACC3003", "CT01").replace("|19800214|", "|19801341|");
    let acks = raw_exchange(server.hl7_port, &framed(&bad_date), 1);
    assert!(
        acks[0].contains("MSA|AE|ORM0003|") && acks[0].contains("ERR||PID^1^7|102^"),
        "{acks:?}"
    );
    let no_acc = orm("ORM0004", "", "CT01");
    let acks = raw_exchange(server.hl7_port, &framed(&no_acc), 1);
    assert!(
        acks[0].contains("MSA|AE|ORM0004|") && acks[0].contains("|101^"),
        "{acks:?}"
    );

    // An A40 naming an unknown patient.
    let a40 = "MSH|^~\\&|RIS|CABINET|SF|CABINET|20261123||ADT^A40|ADT0040|P|2.5\rPID|||NEW1^^^CABINET||Nouveau^Nom\rMRG|NOBODY^^^CABINET\r";
    let acks = raw_exchange(server.hl7_port, &framed(a40), 1);
    assert!(
        acks[0].contains("MSA|AE|ADT0040|") && acks[0].contains("204^Unknown key identifier"),
        "{acks:?}"
    );

    // The same MSH-10 again: acknowledged, not applied twice.
    let acks = raw_exchange(
        server.hl7_port,
        &framed(&orm("ORM0002", "ACC2002", "CT01")),
        1,
    );
    assert!(acks[0].contains("MSA|AA|ORM0002|"), "{acks:?}");
    assert_eq!(store().by_accession("ACC2002").unwrap().len(), 1);

    // A connection dropped in the middle of a message: nothing applied.
    {
        let mut s = TcpStream::connect(("127.0.0.1", server.hl7_port)).unwrap();
        let whole = framed(&orm("ORM0005", "ACC5005", "CT01"));
        s.write_all(&whole[..whole.len() / 2]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(store().by_accession("ACC5005").unwrap().is_empty());

    // Invalid UTF-8 under UNICODE UTF-8: AR.
    let mut bad = b"\x0bMSH|^~\\&|RIS|CABINET|SF|CABINET|20261123||ADT^A08|U1|P|2.5|||||FRA|UNICODE UTF-8\rPID|||U1||Dupr\xe9\xff^Jean\r".to_vec();
    bad.extend_from_slice(&[0x1c, 0x0d]);
    let acks = raw_exchange(server.hl7_port, &bad, 1);
    assert!(acks[0].contains("MSA|AR|U1|"), "{acks:?}");
    assert!(store().patient("U1", "").unwrap().is_none());

    // A 5 MB message (a long comment) is applied like any other.
    let big =
        orm("ORM0006", "ACC6006", "CT01") + &format!("NTE|1||{}\r", "x".repeat(5 * 1024 * 1024));
    let acks = raw_exchange(server.hl7_port, &framed(&big), 1);
    assert!(
        acks[0].contains("MSA|AA|ORM0006|"),
        "{}",
        &acks[0][..acks[0].len().min(300)]
    );
    assert_eq!(store().by_accession("ACC6006").unwrap().len(), 1);
    assert!(
        server
            .log_text()
            .contains("bytes outside MLLP frames skipped")
    );
}

#[test]
fn replay_applies_files_and_prints_each_ack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("batch.hl7");
    let batch: Vec<u8> = (ADT.to_string() + &orm("ORM0009", "ACC9009", "US01"))
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    std::fs::write(&file, batch).unwrap();
    let (code, out, err) = sansfilm(&[
        "hl7",
        "replay",
        "--data-dir",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("MSA|AA|").count(), 2, "{out}");
    let store = sansfilm_worklist::WorklistStore::open(&data).unwrap();
    assert_eq!(
        store.by_accession("ACC9009").unwrap()[0].1.patient_name,
        "Müller^Hélène^Éloïse"
    );
    // Replaying again acknowledges without applying twice.
    let (code, out, _) = sansfilm(&[
        "hl7",
        "replay",
        "--data-dir",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("already applied"), "{out}");
    assert_eq!(store.journal_len().unwrap(), 2);
}

#[test]
fn idle_and_oversized_connections_are_closed_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[hl7]\nidle_timeout_secs = 1\nfirst_message_timeout_secs = 1\nmax_message_bytes = 4096\n",
    );
    // A connection that sends nothing is closed after the first message's
    // budget.
    let mut idle = TcpStream::connect(("127.0.0.1", server.hl7_port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0, "closed by the bridge");
    // A message over the limit closes the connection without an ACK.
    let big = orm("ORM0007", "ACC7007", "CT01") + &format!("NTE|1||{}\r", "x".repeat(8192));
    let acks = raw_exchange(server.hl7_port, &framed(&big), 1);
    assert!(acks.is_empty(), "{acks:?}");
    let store = sansfilm_worklist::WorklistStore::open(&dir.path().join("data")).unwrap();
    assert!(store.by_accession("ACC7007").unwrap().is_empty());
    // The server logs after closing: give it a moment.
    let logged = |log: &str| {
        log.contains("no complete HL7 message in time") && log.contains("larger than 4096")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !logged(&server.log_text()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log_text();
    assert!(logged(&log), "{log}");
}
