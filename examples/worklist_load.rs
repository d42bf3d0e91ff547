//! Worklist query latency as a modality sees it: DCMTK's findscu (process start
//! and association included) against `wlmserver` holding 1,000, 10,000 and
//! 100,000 entries, with the server's own time from its log and its memory.
//!
//! ```sh
//! cargo build --release -p wlmserver
//! cargo run --release -p sansfilm-benches --example worklist_load
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use sansfilm_benches::{proc_stats, worklist_data};
use sansfilm_worklist::WorklistStore;

fn query_file(dir: &Path, name: &str, station: &str, date: &str) -> std::path::PathBuf {
    let dump = dir.join(format!("{name}.dump"));
    let mut f = std::fs::File::create(&dump).unwrap();
    writeln!(
        f,
        "(0010,0010) PN []\n(0010,0020) LO []\n(0008,0050) SH []\n(0020,000d) UI []\n\
         (0040,0100) SQ\n(fffe,e000) -\n(0008,0060) CS []\n(0040,0001) AE [{station}]\n\
         (0040,0002) DA [{date}]\n(0040,0003) TM []\n(fffe,e00d) -\n(fffe,e0dd) -"
    )
    .unwrap();
    let out = dir.join(format!("{name}.dcm"));
    let ok = Command::new("dump2dcm")
        .arg(&dump)
        .arg(&out)
        .status()
        .expect("dump2dcm (DCMTK)");
    assert!(ok.success());
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = root.join("target/release/wlmserver");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p wlmserver"
    );
    let work = tempfile::tempdir().unwrap();
    let queries = [
        (
            "ten",
            query_file(work.path(), "ten", "STATION3", "20260105"),
        ),
        (
            "date-range",
            query_file(work.path(), "range", "", "20260105-20260107"),
        ),
        ("universal", query_file(work.path(), "universal", "", "")),
    ];
    println!(
        "{:>8} {:>11} {:>8} {:>12} {:>12} {:>10}",
        "entries", "query", "answers", "findscu ms", "server ms", "RSS MB"
    );
    for n in [1_000usize, 10_000, 100_000] {
        let data = work.path().join(format!("data{n}"));
        WorklistStore::open(&data)
            .unwrap()
            .insert_many(&worklist_data::entries(n))
            .unwrap();
        let mut child = Command::new(&bin)
            .args(["--data-dir", data.to_str().unwrap(), "--port", "0"])
            .env("SANSFILM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let line = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .next()
            .unwrap()
            .unwrap();
        let port = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let port = port.rsplit(':').next().unwrap().to_string();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("C-FIND")
                    && let Some(ms) = line
                        .split("ms=")
                        .nth(1)
                        .and_then(|s| s.split_whitespace().next())
                {
                    let _ = tx.send(ms.parse().unwrap_or(0));
                }
            }
        });
        for (name, file) in &queries {
            let mut times = vec![];
            let mut server = vec![];
            let mut answers = 0;
            for _ in 0..7 {
                let start = Instant::now();
                let out = Command::new("findscu")
                    .args(["-W", "-v", "-aec", "SANSFILM", "127.0.0.1", &port])
                    .arg(file)
                    .output()
                    .expect("findscu (DCMTK)");
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                answers = String::from_utf8_lossy(&out.stderr)
                    .matches("(Pending)")
                    .count();
                if let Ok(ms) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
                    server.push(ms as f64);
                }
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            server.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let rss = proc_stats::rss(child.id())
                .map(|(_, hwm)| hwm as f64 / 1e6)
                .unwrap_or(f64::NAN);
            println!(
                "{:>8} {:>11} {:>8} {:>12.1} {:>12.1} {:>10.1}",
                n,
                name,
                answers,
                times[times.len() / 2],
                server.get(server.len() / 2).copied().unwrap_or(f64::NAN),
                rss
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
