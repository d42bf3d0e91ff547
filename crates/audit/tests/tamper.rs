//! Tampering with the log is found, and the record named.

use rusqlite::{Connection, params};
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog, Checkpoint};

fn event(n: u32) -> AuditEvent {
    AuditEvent::new(
        EventKind::InstancesTransferred,
        "received",
        Action::Create,
        Outcome::Success,
    )
    .participant("CT01", "192.168.10.21", true)
    .participant("SANSFILM", "192.168.10.2", false)
    .patient(format!("P{n}"))
    .study(format!("1.2.3.{n}"))
    .instances(1)
}

fn log_with(n: u32) -> (tempfile::TempDir, AuditLog, Checkpoint) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    let mut head = None;
    for i in 1..=n {
        head = Some(log.append(event(i)).unwrap());
    }
    (dir, log, head.unwrap())
}

fn db(dir: &tempfile::TempDir) -> Connection {
    Connection::open(dir.path().join("audit.sqlite")).unwrap()
}

fn problems(log: &AuditLog, cp: Option<&Checkpoint>) -> Vec<String> {
    log.verify(cp)
        .unwrap()
        .problems
        .into_iter()
        .map(|p| p.what)
        .collect()
}

#[test]
fn an_intact_log_verifies() {
    let (_d, log, head) = log_with(20);
    let r = log.verify(Some(&head)).unwrap();
    assert!(r.is_intact(), "{:?}", r.problems);
    assert_eq!(r.records, 20);
    assert_eq!(r.head.unwrap(), head);
    assert_eq!(head.to_string().parse::<Checkpoint>().unwrap(), head);
}

#[test]
fn one_changed_byte_is_found() {
    let (d, log, _) = log_with(10);
    db(&d)
        .execute(
            "UPDATE audit_log SET event = replace(event, 'P5', 'P6') WHERE seq = 5",
            [],
        )
        .unwrap();
    let p = problems(&log, None);
    assert!(
        p.iter().any(|w| w.contains("record 5 was altered")),
        "{p:?}"
    );
}

#[test]
fn a_deleted_record_is_found() {
    let (d, log, _) = log_with(10);
    db(&d)
        .execute("DELETE FROM audit_log WHERE seq = 4", [])
        .unwrap();
    let p = problems(&log, None);
    assert!(p.iter().any(|w| w.contains("record 4 is missing")), "{p:?}");
}

#[test]
fn swapped_records_are_found() {
    let (d, log, _) = log_with(10);
    let c = db(&d);
    let get = |seq: i64| -> (String, String) {
        c.query_row(
            "SELECT event, time FROM audit_log WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (e3, t3) = get(3);
    let (e7, t7) = get(7);
    c.execute(
        "UPDATE audit_log SET event = ?1, time = ?2 WHERE seq = 3",
        params![e7, t7],
    )
    .unwrap();
    c.execute(
        "UPDATE audit_log SET event = ?1, time = ?2 WHERE seq = 7",
        params![e3, t3],
    )
    .unwrap();
    let p = problems(&log, None);
    assert!(p.iter().any(|w| w.contains("record 3")), "{p:?}");
    assert!(p.iter().any(|w| w.contains("record 7")), "{p:?}");
}

#[test]
fn a_truncated_tail_is_found_with_a_checkpoint() {
    let (d, log, head) = log_with(10);
    db(&d)
        .execute("DELETE FROM audit_log WHERE seq > 7", [])
        .unwrap();
    assert!(
        problems(&log, None).is_empty(),
        "a cut chain is still a chain"
    );
    let p = problems(&log, Some(&head));
    assert!(
        p.iter()
            .any(|w| w.contains("record 10") && w.contains("truncated")),
        "{p:?}"
    );
}

#[test]
fn a_forged_record_is_found() {
    let (d, log, head) = log_with(5);
    // The forger knows the algorithm but not the key: the chain hash is right,
    // the seal cannot be.
    let time = "2026-11-23T10:00:00.000Z";
    let forged = serde_json::to_string(&event(99)).unwrap();
    let hash = sansfilm_audit::log::chain_hash(&head.hash, 6, time, &forged);
    db(&d)
        .execute(
            "INSERT INTO audit_log (seq, time, kind, patient_id, event, prev_hash, hash, mac) VALUES (6, ?1, 'InstancesTransferred', 'P99', ?2, ?3, ?4, ?5)",
            params![time, forged, head.hash, hash, "00".repeat(32)],
        )
        .unwrap();
    let p = problems(&log, None);
    assert!(
        p.iter().any(|w| w.contains("record 6 has an invalid seal")),
        "{p:?}"
    );
}

#[test]
fn appends_are_durable_and_ordered_across_threads() {
    let (_d, log, _) = log_with(1);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    log.append(event(t * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = log.verify(None).unwrap();
    assert!(r.is_intact());
    assert_eq!(r.records, 1001);
}

#[test]
fn detached_appends_are_on_disk_when_the_last_handle_is_dropped() {
    // The writer thread is joined on drop: what was appended without waiting
    // is written, and the database closed, before the drop returns.
    let dir = tempfile::tempdir().unwrap();
    for round in 1..=20u64 {
        let log = AuditLog::open(dir.path(), None).unwrap();
        let clone = log.clone();
        for i in 0..5 {
            clone.append_detached(event(i));
        }
        drop(clone);
        drop(log);
        let reopened = AuditLog::open(dir.path(), None).unwrap();
        assert_eq!(
            reopened.head().unwrap().unwrap().seq,
            round * 5,
            "round {round}"
        );
    }
}
