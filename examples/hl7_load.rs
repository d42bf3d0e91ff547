//! HL7 load: ORM^O01 new orders sent to `hl7bridge` over 1 and 4 MLLP
//! connections, each waiting for its ACK (sent after a durable commit) before
//! the next message. Reports messages/s and ACK latency (p50, p99).
//!
//! ```sh
//! cargo build --release -p hl7bridge
//! cargo run --release -p sansfilm-benches --example hl7_load -- [MESSAGES]
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn orm(n: usize) -> Vec<u8> {
    let acc = format!("ACC{n:08}");
    let msg = format!(
        "MSH|^~\\&|RIS|CAB|SF|CAB|20261123080000||ORM^O01|MSG{n:08}|P|2.3.1|||||FRA|UNICODE UTF-8\r\
         PID|||PAT{n:07}^^^CAB||Müller^Hélène^Éloïse||19800214|F\r\
         PV1||O|||||12345^Lefèvre^Zoé^^^DR\r\
         ORC|NW|{acc}|{acc}||SC||^^^20261123093000\r\
         OBR|1|{acc}|{acc}|MRGEN^IRM du genou^LOCAL||||||||||||||{acc}|RP{acc}|SPS{acc}|MR01|||MR|||^^^20261123093000\r\
         ZDS|1.2.826.0.1.3680043.10.2.{n}^100^Application^DICOM\r"
    );
    let mut out = vec![0x0b];
    out.extend_from_slice(msg.as_bytes());
    out.extend_from_slice(&[0x1c, 0x0d]);
    out
}

fn send_all(port: u16, ids: Vec<usize>) -> Vec<Duration> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 8192];
    let mut latencies = Vec::with_capacity(ids.len());
    for n in ids {
        let start = Instant::now();
        s.write_all(&orm(n)).unwrap();
        let mut got = Vec::new();
        while !got.ends_with(&[0x1c, 0x0d]) {
            let k = s.read(&mut buf).unwrap();
            assert!(k > 0, "connection closed");
            got.extend_from_slice(&buf[..k]);
        }
        assert!(
            String::from_utf8_lossy(&got).contains("MSA|AA|"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        latencies.push(start.elapsed());
    }
    latencies
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/hl7bridge");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p hl7bridge"
    );
    println!(
        "{:>6} {:>9} {:>10} {:>9} {:>9}",
        "conns", "messages", "msg/s", "p50 ms", "p99 ms"
    );
    for conns in [1usize, 4] {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args(["--data-dir", data.path().to_str().unwrap(), "--port", "0"])
            .env("SANSFILM_LOG", "warn")
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
        let start = Instant::now();
        let handles: Vec<_> = (0..conns)
            .map(|c| {
                let ids: Vec<usize> = (0..total).filter(|i| i % conns == c).collect();
                std::thread::spawn(move || send_all(port, ids))
            })
            .collect();
        let mut all: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let secs = start.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "{:>6} {:>9} {:>10.0} {:>9.2} {:>9.2}",
            conns,
            total,
            total as f64 / secs,
            pct(0.50),
            pct(0.99)
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
