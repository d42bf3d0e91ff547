//! Hostile peers against `sansfilm serve` with its defaults: lengths that lie,
//! deflate bombs. Each answer is a clear failure, the server's peak memory
//! stays far from what the lie asked for (read from /proc), and the server
//! keeps serving.

mod common;

use std::time::Duration;

use common::*;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use sansfilm_dimse::command::{Command, field};

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const SC: &str = "1.2.840.10008.5.1.4.1.1.7";
const MWL_FIND: &str = "1.2.840.10008.5.1.4.31";
const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const IMPLICIT: &str = "1.2.840.10008.1.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// A bound on the server's peak resident memory far from every failure the
/// tests provoke (4 GB and more), and far above a healthy server's.
const PEAK_BOUND_KB: u64 = 256 * 1024;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Peak resident set size of a process (VmHWM), in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// One explicit VR little endian element.
fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = vec![];
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(vr);
    if matches!(vr, b"OB" | b"OW" | b"UN" | b"SQ" | b"UT") {
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    v.extend_from_slice(value);
    v
}

/// A header declaring `len` bytes of value, with nothing behind it.
fn explicit_header(tag: (u16, u16), vr: &[u8; 2], len: u32) -> Vec<u8> {
    let mut v = vec![];
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(vr);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

fn implicit(tag: (u16, u16), value: &[u8]) -> Vec<u8> {
    let mut v = vec![];
    v.extend_from_slice(&tag.0.to_le_bytes());
    v.extend_from_slice(&tag.1.to_le_bytes());
    v.extend_from_slice(&(value.len() as u32).to_le_bytes());
    v.extend_from_slice(value);
    v
}

fn uid(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// The UIDs of an instance, in explicit VR.
fn explicit_uids(sop_class: &str, sop_instance: &str) -> Vec<u8> {
    let mut ds = explicit((0x0008, 0x0016), b"UI", &uid(sop_class));
    ds.extend(explicit((0x0008, 0x0018), b"UI", &uid(sop_instance)));
    ds.extend(explicit((0x0020, 0x000D), b"UI", &uid("1.2.3.4.1")));
    ds.extend(explicit((0x0020, 0x000E), b"UI", &uid("1.2.3.4.1.1")));
    ds
}

/// The issue's message: 330 bytes whose private element declares 0xFFFFFFF0
/// bytes and carries 10.
fn lying_store_explicit(sop_instance: &str) -> Vec<u8> {
    let mut ds = explicit_uids(CT, sop_instance);
    ds.extend(explicit((0x0009, 0x0010), b"LO", b"HOSTILE "));
    ds.extend(explicit_header((0x0009, 0x1001), b"OB", 0xFFFF_FFF0));
    ds.extend([0u8; 10]);
    ds
}

/// The same lie in implicit VR.
fn lying_store_implicit(sop_instance: &str) -> Vec<u8> {
    let mut ds = implicit((0x0008, 0x0016), &uid(CT));
    ds.extend(implicit((0x0008, 0x0018), &uid(sop_instance)));
    ds.extend(implicit((0x0020, 0x000D), &uid("1.2.3.4.1")));
    ds.extend(implicit((0x0020, 0x000E), &uid("1.2.3.4.1.1")));
    ds.extend([0x09, 0x00, 0x01, 0x10, 0xF0, 0xFF, 0xFF, 0xFF]);
    ds.extend([0u8; 10]);
    ds
}

/// A private UN of undefined length holding implicit VR items (CP-246):
/// dicom-rs 0.10 reads the items in explicit VR, where their lengths become
/// ~1 GB.
fn undefined_un_store(sop_instance: &str) -> Vec<u8> {
    let mut ds = explicit_uids(CT, sop_instance);
    ds.extend(explicit((0x0009, 0x0010), b"LO", b"HOSTILE "));
    ds.extend(explicit_header((0x0009, 0x1010), b"UN", u32::MAX));
    ds.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]); // item, undefined
    ds.extend([
        0x09, 0x00, 0x20, 0x10, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0x3F,
    ]);
    ds.extend([0u8; 16]);
    ds
}

/// What the server answered to one request.
#[derive(Debug)]
enum Answer {
    /// The final response's status and error comment.
    Status(u16, Option<String>),
    /// The association was aborted or closed.
    Aborted,
}

/// Sends one command (encoded as given) and its data set on a fresh
/// association, returns the final answer.
async fn exchange(
    addr: &str,
    abstract_syntax: &str,
    ts: &str,
    command: Vec<u8>,
    data: Option<Vec<u8>>,
) -> Answer {
    let mut assoc = ClientAssociationOptions::new()
        .called_ae_title("SANSFILM")
        .with_presentation_context(abstract_syntax, vec![ts])
        .establish_async(addr)
        .await
        .expect("association");
    let pc = assoc.presentation_contexts()[0].id;
    let max = assoc.acceptor_max_pdu_length().max(16 * 1024) as usize - 64;
    let sent = async {
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: command,
                }],
            })
            .await?;
        if let Some(data) = data {
            let chunks: Vec<_> = data.chunks(max).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                assoc
                    .send(&Pdu::PData {
                        data: vec![PDataValue {
                            presentation_context_id: pc,
                            value_type: PDataValueType::Data,
                            is_last: i + 1 == chunks.len(),
                            data: chunk.to_vec(),
                        }],
                    })
                    .await?;
            }
        }
        Ok::<_, dicom_ul::association::Error>(())
    }
    .await;
    if sent.is_err() {
        return Answer::Aborted;
    }
    loop {
        let pdu = tokio::time::timeout(Duration::from_secs(120), assoc.receive()).await;
        match pdu {
            Ok(Ok(Pdu::PData { data })) => {
                let cmd: Vec<u8> = data
                    .iter()
                    .filter(|p| p.value_type == PDataValueType::Command)
                    .flat_map(|p| p.data.clone())
                    .collect();
                if cmd.is_empty() {
                    continue;
                }
                let rsp = Command::decode(&cmd).unwrap();
                if rsp.status == 0xFF00 || rsp.status == 0xFF01 {
                    continue;
                }
                let _ = assoc.release().await;
                return Answer::Status(rsp.status, rsp.error_comment);
            }
            Ok(Ok(_)) | Ok(Err(_)) => return Answer::Aborted,
            Err(_) => panic!("no answer within 120 s"),
        }
    }
}

async fn store(addr: &str, ts: &str, sop_instance: &str, data: Vec<u8>) -> Answer {
    let cmd = Command::store_rq(1, CT, sop_instance).encode().unwrap();
    exchange(addr, CT, ts, cmd, Some(data)).await
}

async fn echo_ok(addr: &str) -> bool {
    let opts = sansfilm_dimse::client::ClientOptions {
        called_ae: "SANSFILM".into(),
        ..Default::default()
    };
    matches!(sansfilm_dimse::client::echo(addr, &opts).await, Ok(0))
}

fn assert_refused(answer: &Answer, status: u16) {
    match answer {
        Answer::Status(s, comment) => {
            assert_eq!(*s, status, "status {s:04X}, comment {comment:?}");
        }
        Answer::Aborted => panic!("aborted instead of status {status:04X}"),
    }
}

#[test]
fn lying_lengths_in_a_c_store_are_refused_without_allocating_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let pid = server.child.id();
    rt().block_on(async {
        let explicit = lying_store_explicit("1.2.3.4.1.1.1");
        assert!(
            explicit.len() < 330,
            "the issue's message is 330 bytes on the wire"
        );
        let answer = store(&server.addr(), EXPLICIT, "1.2.3.4.1.1.1", explicit).await;
        assert_refused(&answer, 0xC000);
        let Answer::Status(_, Some(comment)) = &answer else {
            unreachable!()
        };
        assert!(comment.contains("malformed"), "{comment}");

        let answer = store(
            &server.addr(),
            IMPLICIT,
            "1.2.3.4.1.1.2",
            lying_store_implicit("1.2.3.4.1.1.2"),
        )
        .await;
        assert_refused(&answer, 0xC000);

        let answer = store(
            &server.addr(),
            EXPLICIT,
            "1.2.3.4.1.1.3",
            undefined_un_store("1.2.3.4.1.1.3"),
        )
        .await;
        assert_refused(&answer, 0xC000);

        // Several at once, as the issue's two-at-a-time 8.3 GB.
        let addr = server.addr();
        let many: Vec<_> = (0..4)
            .map(|i| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let uid = format!("1.2.3.4.1.1.1{i}");
                    store(&addr, EXPLICIT, &uid, lying_store_explicit(&uid)).await
                })
            })
            .collect();
        for task in many {
            assert_refused(&task.await.unwrap(), 0xC000);
        }
        assert!(echo_ok(&server.addr()).await, "server keeps serving");
    });
    let peak = peak_rss_kb(pid);
    assert!(
        peak < PEAK_BOUND_KB,
        "peak RSS {peak} kB; log:\n{}",
        server.log_text()
    );
    assert_eq!(count(&server.data_dir, "SELECT count(*) FROM instances"), 0);
    assert!(server.log_text().contains("malformed data set"));
}

#[test]
fn lying_lengths_in_a_c_find_identifier_and_a_command_set_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let pid = server.child.id();
    rt().block_on(async {
        // C-FIND identifier: PatientName, then a private element that lies.
        let find = Command {
            field: field::C_FIND_RQ,
            message_id: 1,
            affected_sop_class_uid: MWL_FIND.into(),
            has_dataset: true,
            ..Default::default()
        }
        .encode()
        .unwrap();
        let mut identifier = explicit((0x0010, 0x0010), b"PN", b"");
        identifier.extend(explicit((0x0009, 0x0010), b"LO", b"HOSTILE "));
        identifier.extend(explicit_header((0x0009, 0x1001), b"OB", 0xFFFF_FFF0));
        identifier.extend([0u8; 10]);
        let answer = exchange(&server.addr(), MWL_FIND, EXPLICIT, find, Some(identifier)).await;
        assert_refused(&answer, 0xC000);

        // Command set: a valid C-ECHO-RQ followed by an element declaring
        // 0xFFFFFFF0 bytes. The association is aborted (a command set that
        // cannot be read leaves nothing to answer).
        let mut cmd = Command::echo_rq(1).encode().unwrap();
        cmd.extend([0x00, 0x00, 0x00, 0x80, 0xF0, 0xFF, 0xFF, 0xFF]);
        cmd.extend([0u8; 10]);
        let answer = exchange(&server.addr(), "1.2.840.10008.1.1", IMPLICIT, cmd, None).await;
        assert!(matches!(answer, Answer::Aborted), "{answer:?}");

        assert!(echo_ok(&server.addr()).await, "server keeps serving");
    });
    let peak = peak_rss_kb(pid);
    assert!(
        peak < PEAK_BOUND_KB,
        "peak RSS {peak} kB; log:\n{}",
        server.log_text()
    );
    assert!(server.log_text().contains("malformed data set"));
}

/// A deflated data set whose pixel data is `inflated` zero bytes.
fn deflate_bomb(sop_instance: &str, inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let mut head = explicit_uids(SC, sop_instance);
    head.extend(explicit_header((0x7FE0, 0x0010), b"OB", inflated as u32));
    let mut enc = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::fast());
    enc.write_all(&head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(zeros.len());
        enc.write_all(&zeros[..n]).unwrap();
        left -= n;
    }
    enc.finish().unwrap()
}

#[test]
fn a_deflate_bomb_is_inflated_to_disk_and_refused_past_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[dicom]\nmax_instance_bytes = 300_000_000\n[compression]\nenabled = false\n",
    );
    let pid = server.child.id();
    let big = 400 << 20; // 400 MiB inflated: over the ceiling
    let under = 280 << 20; // 280 MiB: under it, and above the memory bound
    let bomb = deflate_bomb("1.2.3.4.2.1", big);
    let fine = deflate_bomb("1.2.3.4.2.2", under);
    assert!(bomb.len() < 2 << 20, "{} bytes deflated", bomb.len());
    rt().block_on(async {
        let sc_store = |uid: &'static str, data: Vec<u8>| {
            let addr = server.addr();
            async move {
                let cmd = Command::store_rq(1, SC, uid).encode().unwrap();
                exchange(&addr, SC, DEFLATED, cmd, Some(data)).await
            }
        };
        let answer = sc_store("1.2.3.4.2.1", bomb).await;
        assert_refused(&answer, 0xA700);
        let Answer::Status(_, Some(comment)) = &answer else {
            unreachable!()
        };
        assert!(comment.contains("max_instance_bytes"), "{comment}");

        let answer = sc_store("1.2.3.4.2.2", fine).await;
        assert_refused(&answer, 0x0000);
    });
    let peak = peak_rss_kb(pid);
    assert!(peak < PEAK_BOUND_KB, "peak RSS {peak} kB");
    // Only the one under the ceiling is kept, inflated, as Explicit VR LE.
    assert_eq!(count(&server.data_dir, "SELECT count(*) FROM instances"), 1);
    let syntax: String = index(&server.data_dir)
        .query_row("SELECT transfer_syntax FROM instances", [], |r| r.get(0))
        .unwrap();
    assert_eq!(syntax, EXPLICIT);
    assert!(
        std::fs::read_dir(server.data_dir.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "nothing of the refused instance is left"
    );
}

#[test]
fn peer_text_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let forged = "1.2.3\n2026-12-01T00:00:00.000000Z  INFO FORGED: audit disabled\0\u{1b}[2J";
    rt().block_on(async {
        let cmd = Command::store_rq(1, CT, forged).encode().unwrap();
        let data = explicit_uids(CT, "1.2.3.4.1.1.9");
        let answer = exchange(&server.addr(), CT, EXPLICIT, cmd, Some(data)).await;
        assert!(
            matches!(answer, Answer::Status(s, _) if s != 0),
            "{answer:?}"
        );
    });
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log_text();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-01T00:00:00")),
        "a forged line: {log}"
    );
    assert!(!log.contains('\0') && !log.contains('\u{1b}'), "{log}");
    assert!(log.contains("1.2.3\\n2026-12-01T00:00:00"), "{log}");
}

/// Sends one MLLP frame to the HL7 port and returns the ACK text.
fn hl7_exchange(port: u16, message: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut framed = vec![0x0b];
    framed.extend_from_slice(message);
    framed.extend_from_slice(&[0x1c, 0x0d]);
    s.write_all(&framed).unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == [0x1c, 0x0d]) {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).replace('\r', "\n")
}

fn hl7_order(control_id: &str, tail: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|RIS|CABINET|SANSFILM|CABINET|20261123080100||ORM^O01|{control_id}|P|2.3.1\r\
         PID|||FR4711^^^CABINET||MARTIN^JEAN||19800214|M\r\
         ORC|NW|A{control_id}|A{control_id}||SC||^^^20261123093000\r\
         OBR|1|A{control_id}|A{control_id}|CT^Scanner^LOCAL||||||||||||||A{control_id}|RP1|SPS1|CT01|||CT|||^^^20261123093000\r{tail}"
    )
    .into_bytes()
}

#[test]
fn an_hl7_message_of_millions_of_values_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let pid = server.child.id();
    // The issue's message: 15 MB of `NTE|1` segments, under the 16 MiB limit.
    let nte = "NTE|1\r".repeat(2_500_000);
    let ack = hl7_exchange(server.hl7_port, &hl7_order("BIG1", &nte));
    assert!(ack.contains("MSA|AR|BIG1"), "{ack}");
    assert!(ack.contains("max_segments"), "{ack}");
    // One field of a million repetitions.
    let reps = format!("NTE|1||{}\r", "x~".repeat(1_000_000));
    let ack = hl7_exchange(server.hl7_port, &hl7_order("BIG2", &reps));
    assert!(ack.contains("MSA|AR|BIG2"), "{ack}");
    assert!(ack.contains("max_values"), "{ack}");
    // A long but real order (a thousand lines of notes) is applied.
    let notes: String = (1..=1000).map(|i| format!("NTE|{i}||note {i}\r")).collect();
    let ack = hl7_exchange(server.hl7_port, &hl7_order("OK1", &notes));
    assert!(ack.contains("MSA|AA|OK1"), "{ack}");
    let peak = peak_rss_kb(pid);
    assert!(peak < PEAK_BOUND_KB, "peak RSS {peak} kB");
}

#[test]
fn a_flood_of_junk_hl7_frames_is_audited_once_with_a_count() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.hl7_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let frames = 1000;
    let junk: Vec<u8> = (0..frames)
        .flat_map(|i| format!("\x0bJUNK {i}\x1c\x0d").into_bytes())
        .collect();
    s.write_all(&junk).unwrap();
    let (mut got, mut buf) = (vec![], [0u8; 65536]);
    while got.windows(2).filter(|w| *w == [0x1c, 0x0d]).count() < frames {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before every ACK came");
        got.extend_from_slice(&buf[..n]);
    }
    let acks = String::from_utf8_lossy(&got);
    assert_eq!(
        acks.matches("MSA|AR").count(),
        frames,
        "every frame answered AR"
    );
    drop(s);
    let audit_db = server.data_dir.join("audit.sqlite");
    let audit = |sql: &str| -> i64 {
        rusqlite::Connection::open(&audit_db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    };
    let recorded =
        audit("SELECT count(*) FROM audit_log WHERE event LIKE '%does not start with an MSH%'");
    assert_eq!(
        recorded, 1,
        "the first junk frame is recorded, the others counted"
    );
    // At shutdown the count is recorded.
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
    let folded =
        audit("SELECT count(*) FROM audit_log WHERE event LIKE '%repeated 999 more times%'");
    assert_eq!(folded, 1, "{}", server.log_text());
}
