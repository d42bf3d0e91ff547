//! hl7bridge as a practice runs it: an order over MLLP, an ACK, SIGTERM.

use std::io::{Read, Write};

use sansfilm_benches::harness::ServerProcess;

#[test]
fn acknowledges_after_commit_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::launch(env!("CARGO_BIN_EXE_hl7bridge"), &[], &data, &[], false);
    let port = server.port;
    let msg = "MSH|^~\\&|RIS|CAB|SF|CAB|20261123||ADT^A04|A1|P|2.5|||||FRA|UNICODE UTF-8\rPID|||42^^^CAB||Noël^Zoé||20010203|F\r";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&[&[0x0b][..], msg.as_bytes(), &[0x1c, 0x0d]].concat())
        .unwrap();
    let mut ack = vec![0u8; 4096];
    let n = s.read(&mut ack).unwrap();
    let ack = String::from_utf8_lossy(&ack[..n]);
    assert!(ack.contains("MSA|AA|A1"), "{ack}");
    drop(s);
    let store = sansfilm_worklist::WorklistStore::open(&data).unwrap();
    assert_eq!(
        store.patient("42", "CAB").unwrap().unwrap().name,
        "Noël^Zoé"
    );
    assert_eq!(server.terminate(), Some(0), "{}", server.log_text());
}
