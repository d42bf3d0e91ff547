//! Failure paths a peer or the machine can cause: each gets a clear answer,
//! a log line, and leaves the stored data untouched.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use sansfilm_dimse::client::{self, ClientOptions, FileToSend};
use sansfilm_dimse::command::Command;
use tokio::io::AsyncWriteExt;

fn tmp_is_empty(data_dir: &Path) -> bool {
    std::fs::read_dir(data_dir.join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

fn instances(data_dir: &Path) -> i64 {
    count(data_dir, "SELECT count(*) FROM instances")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn echo_ok(addr: &str) -> bool {
    let opts = ClientOptions {
        called_ae: "SANSFILM".into(),
        ..Default::default()
    };
    matches!(client::echo(addr, &opts).await, Ok(0))
}

async fn send(addr: &str, files: Vec<PathBuf>, assocs: usize) -> client::SendReport {
    let opts = ClientOptions {
        called_ae: "SANSFILM".into(),
        ..Default::default()
    };
    client::send_files(addr, &opts, files, assocs, std::sync::Arc::new(|_| {}))
        .await
        .unwrap()
}

fn ct() -> PathBuf {
    fixtures().join("nema-wg04/CT1_UNC.dcm")
}

#[test]
fn association_aborted_mid_transfer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let file = FileToSend::inspect(&ct()).unwrap();
    let bytes = std::fs::read(&file.path).unwrap();
    let dataset = &bytes[file.dataset_offset as usize..];
    rt().block_on(async {
        let mut assoc = ClientAssociationOptions::new()
            .called_ae_title("SANSFILM")
            .with_presentation_context(
                file.sop_class_uid.clone(),
                vec![file.transfer_syntax.clone()],
            )
            .establish_async(server.addr())
            .await
            .unwrap();
        let pc = assoc.presentation_contexts()[0].id;
        let cmd = Command::store_rq(1, &file.sop_class_uid, &file.sop_instance_uid)
            .encode()
            .unwrap();
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: cmd,
                }],
            })
            .await
            .unwrap();
        // Half the data set, not the last fragment, then A-ABORT.
        let half = dataset[..dataset.len() / 2].to_vec();
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Data,
                    is_last: false,
                    data: half,
                }],
            })
            .await
            .unwrap();
        assoc.abort().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(echo_ok(&server.addr()).await, "server must keep serving");
    });
    assert!(tmp_is_empty(&server.data_dir));
    assert_eq!(instances(&server.data_dir), 0);
    assert!(
        server.log_text().contains("aborted"),
        "{}",
        server.log_text()
    );
}

#[test]
fn malformed_pdu_aborts_that_association_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    rt().block_on(async {
        // A healthy association stays open across the bad one.
        let opts = ClientAssociationOptions::new()
            .called_ae_title("SANSFILM")
            .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2"]);
        let mut healthy = opts.clone().establish_async(server.addr()).await.unwrap();

        // 1. Garbage instead of an A-ASSOCIATE-RQ.
        let mut raw = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        raw.write_all(b"\x99\x00\x00\x00\x00\x04junk")
            .await
            .unwrap();
        // 2. A broken PDU inside an established association: a P-DATA-TF
        //    whose PDV item length runs past the PDU.
        let mut broken = opts.establish_async(server.addr()).await.unwrap();
        broken
            .inner_stream()
            .write_all(&[0x04, 0, 0, 0, 0, 10, 0, 0, 0x10, 0, 1, 3, 0, 0, 0, 0])
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), broken.receive())
            .await
            .unwrap();
        assert!(
            matches!(answer, Ok(Pdu::AbortRQ { .. }) | Err(_)),
            "{answer:?}"
        );

        // The healthy association still works, and new ones too.
        let cmd = Command::echo_rq(1).encode().unwrap();
        let pc = healthy.presentation_contexts()[0].id;
        healthy
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: cmd,
                }],
            })
            .await
            .unwrap();
        assert!(matches!(
            healthy.receive().await.unwrap(),
            Pdu::PData { .. }
        ));
        healthy.release().await.unwrap();
        assert!(echo_ok(&server.addr()).await);
    });
    let log = server.log_text();
    assert!(
        log.contains("association aborted") || log.contains("not established"),
        "{log}"
    );
}

#[test]
fn non_storage_and_unknown_sop_classes_are_refused_at_negotiation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[dicom]\naccept_private_sop_classes = false\n");
    rt().block_on(async {
        let assoc = ClientAssociationOptions::new()
            .called_ae_title("SANSFILM")
            .with_presentation_context("1.2.840.10008.1.20.1", vec!["1.2.840.10008.1.2"]) // Storage Commitment (not yet)
            .with_presentation_context("1.3.46.670589.99.1", vec!["1.2.840.10008.1.2"]) // private
            .with_presentation_context("1.2.840.10008.5.1.4.1.1.2", vec!["1.2.840.10008.1.2"]) // CT
            .establish_async(server.addr())
            .await
            .unwrap();
        // dicom-ul lists only the accepted contexts: CT alone.
        let accepted: Vec<_> = assoc
            .presentation_contexts()
            .iter()
            .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
            .map(|pc| pc.abstract_syntax.trim_end_matches('\0').to_string())
            .collect();
        assert_eq!(accepted, vec!["1.2.840.10008.5.1.4.1.1.2".to_string()]);
        let _ = assoc.release().await;
    });
    assert!(
        server
            .log_text()
            .contains("abstract syntaxes not offered here")
    );
}

#[test]
fn calling_ae_not_allowed_is_rejected_with_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[dicom.access]\nallow = [ { ae_title = \"CT01\" }, { ae_title = \"US01\", host = \"10.9.9.9\" } ]\n",
    );
    let echo = |aet: &str| {
        let out = dcmtk("echoscu")
            .args([
                "-aet",
                aet,
                "-aec",
                "SANSFILM",
                "127.0.0.1",
                &server.port.to_string(),
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(echo("CT01").0);
    let (ok, text) = echo("INTRUDER");
    assert!(!ok);
    assert!(text.contains("Calling AE Title Not Recognized"), "{text}");
    // US01 is allowed, but only from another host.
    assert!(!echo("US01").0);
    let log = server.log_text();
    assert!(
        log.contains("calling AE title is not in the allow-list"),
        "{log}"
    );
    assert!(
        log.contains("connects from a host it is not allowed from"),
        "{log}"
    );
}

#[test]
fn association_limit_rejects_transiently() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[dicom]\nmax_associations = 1\n");
    rt().block_on(async {
        let opts = ClientAssociationOptions::new()
            .called_ae_title("SANSFILM")
            .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2"]);
        let first = opts.clone().establish_async(server.addr()).await.unwrap();
        let second = opts.clone().establish_async(server.addr()).await;
        match second {
            Err(dicom_ul::association::Error::Rejected { association_rj, .. }) => {
                assert_eq!(
                    association_rj.result,
                    dicom_ul::pdu::AssociationRJResult::Transient
                );
            }
            other => panic!(
                "expected a transient rejection, got {:?}",
                other.map(|_| ())
            ),
        }
        first.release().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(echo_ok(&server.addr()).await);
    });
    assert!(server.log_text().contains("association limit reached"));
}

#[test]
fn identical_resend_is_stored_once_and_conflicting_content_is_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let small = fixtures().join("pydicom/MR_small.dcm");
    let other = fixtures().join("pydicom/MR_small_implicit.dcm"); // same UID, other bytes
    rt().block_on(async {
        let r = send(&server.addr(), vec![small.clone()], 1).await;
        assert_eq!(r.succeeded(), 1);
        let r = send(&server.addr(), vec![small.clone()], 1).await;
        assert_eq!(r.succeeded(), 1, "an identical resend succeeds");
    });
    assert_eq!(instances(&server.data_dir), 1);
    rt().block_on(async {
        let r = send(&server.addr(), vec![other.clone()], 1).await;
        assert_eq!(r.succeeded(), 1, "conflicting content is accepted and kept");
    });
    assert_eq!(instances(&server.data_dir), 2);
    assert_eq!(
        count(
            &server.data_dir,
            "SELECT count(*) FROM instances WHERE conflict"
        ),
        1
    );
    assert!(
        server
            .log_text()
            .contains("same SOP Instance UID with different content")
    );
    let (code, out, _) = sansfilm(&["verify", "--data-dir", server.data_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn full_disk_answers_out_of_resources_and_keeps_what_was_stored() {
    // A 3 MB tmpfs: the index and a few CT images fit, then the disk is full.
    let dir = tempfile::tempdir().unwrap();
    let small = SmallDisk::mount(&dir.path().join("small"), "3m");
    let mnt = small.0.clone();
    let data = mnt.join("data");
    let copies =
        sansfilm_benches::synth::write_distinct_copies(&ct(), &dir.path().join("copies"), 8);
    let mut server = Server::start(&data, &[]);
    let report = rt().block_on(send(&server.addr(), copies, 1));
    let refused: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.status == Some(0xA700))
        .collect();
    assert!(report.succeeded() >= 1, "{report:?}");
    assert!(
        !refused.is_empty(),
        "expected A700 on a full disk: {report:?}"
    );
    assert!(refused.iter().all(|o| {
        o.comment
            .as_deref()
            .is_some_and(|c| c.contains("no space left"))
    }));
    assert!(server.log_text().contains("no space left"));
    // What was acknowledged is intact; nothing half-written remains.
    assert!(tmp_is_empty(&data));
    assert_eq!(instances(&data) as usize, report.succeeded());
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(20)), Some(0));
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn kill_9_during_a_send_loses_no_acknowledged_instance() {
    let dir = tempfile::tempdir().unwrap();
    let copies =
        sansfilm_benches::synth::write_distinct_copies(&ct(), &dir.path().join("copies"), 200);
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let pid = server.child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done2 = done.clone();
    let opts = ClientOptions {
        called_ae: "SANSFILM".into(),
        ..Default::default()
    };
    let addr = server.addr();
    let report = rt().block_on(async move {
        client::send_files(
            &addr,
            &opts,
            copies,
            4,
            std::sync::Arc::new(move |_| {
                // Kill the server, without warning, in the middle of the send.
                if done2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 60 {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }),
        )
        .await
        .unwrap()
    });
    let _ = server.wait(Duration::from_secs(10));
    let acknowledged: Vec<_> = report.outcomes.iter().filter(|o| o.is_ok()).collect();
    assert!(
        acknowledged.len() >= 60 && acknowledged.len() < 200,
        "{}",
        acknowledged.len()
    );
    // Restart: temporary files are cleaned up, then verify is clean.
    let server = Server::start(&data, &[]);
    assert!(tmp_is_empty(&data));
    drop(server);
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let conn = index(&data);
    for o in acknowledged {
        let uid = FileToSend::inspect(&o.path).unwrap().sop_instance_uid;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM instances WHERE sop_instance_uid = ?1",
                [&uid],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            n,
            1,
            "acknowledged {} is missing after kill -9",
            o.path.display()
        );
    }
}

#[test]
fn sigterm_lets_stores_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let copies =
        sansfilm_benches::synth::write_distinct_copies(&ct(), &dir.path().join("copies"), 40);
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let pid = server.child.id() as i32;
    let opts = ClientOptions {
        called_ae: "SANSFILM".into(),
        ..Default::default()
    };
    let addr = server.addr();
    let count_done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = count_done.clone();
    let report = rt().block_on(async move {
        client::send_files(
            &addr,
            &opts,
            copies,
            2,
            std::sync::Arc::new(move |_| {
                if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 10 {
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }),
        )
        .await
        .unwrap()
    });
    assert_eq!(
        server.wait(Duration::from_secs(40)),
        Some(0),
        "{}",
        server.log_text()
    );
    assert!(server.log_text().contains("SIGTERM received"));
    // Every acknowledged instance is stored; nothing else is, and no
    // temporary file remains.
    assert_eq!(instances(&data) as usize, report.succeeded());
    assert!(tmp_is_empty(&data));
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn verify_exits_1_and_names_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let r = rt().block_on(send(&server.addr(), vec![ct()], 1));
    assert_eq!(r.succeeded(), 1);
    drop(server);
    let data = dir.path().join("data");
    let rel: String = index(&data)
        .query_row("SELECT path FROM instances", [], |r| r.get(0))
        .unwrap();
    let path = data.join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (code, out, _) = sansfilm(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("CORRUPT") && out.contains(&rel), "{out}");
    // The run is remembered for `sansfilm status` and the practice page.
    let (code, out, _) = sansfilm(&["status", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("last verify:") && out.contains("1 problems"),
        "{out}"
    );
}

#[test]
fn bad_configuration_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[dicom]\nae_tittle = \"X\"\n").unwrap();
    let (code, _, err) = sansfilm(&["serve", "--config", config.to_str().unwrap(), "--port", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("ae_tittle"), "{err}");
}

#[test]
fn a_silent_association_is_aborted_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[dicom]\nidle_timeout_secs = 1\n");
    rt().block_on(async {
        let mut assoc = ClientAssociationOptions::new()
            .called_ae_title("SANSFILM")
            .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2"])
            .establish_async(server.addr())
            .await
            .unwrap();
        // Say nothing: the server gives up and aborts.
        let answer = tokio::time::timeout(Duration::from_secs(10), assoc.receive())
            .await
            .unwrap();
        assert!(
            matches!(answer, Ok(Pdu::AbortRQ { .. }) | Err(_)),
            "{answer:?}"
        );
        assert!(echo_ok(&server.addr()).await, "the server goes on");
    });
    assert!(
        server.log_text().contains("idle timeout"),
        "{}",
        server.log_text()
    );
}
