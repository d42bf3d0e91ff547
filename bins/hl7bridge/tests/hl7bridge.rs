//! hl7bridge as a practice runs it: an order over MLLP, an ACK, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn acknowledges_after_commit_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hl7bridge"))
        .args(["--data-dir", data.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
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
    unsafe { libc_kill(child.id() as i32, 15) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
