//! C-STORE load test: sansfilm beside DCMTK's storescp and Orthanc, in one run.
//!
//! Sends the same distinct CT instances (made from NEMA CT1, 512x512, about
//! 530 KB each) to each server over 1 and 4 associations with sansfilm's own
//! client, and reports instances/s, MB/s and the server's peak memory. Each run
//! starts a fresh server on an empty data directory. Then a 200 MB multi-frame
//! instance is sent to sansfilm and the growth of its memory is reported.
//!
//! ```sh
//! cargo build --release -p sansfilm
//! cargo run --release -p sansfilm-benches --example store_load -- [INSTANCES] [SERVERS]
//! ```
//! SERVERS is a comma-separated subset of `sansfilm,sansfilm-noaudit,dcmtk,orthanc` (default:
//! all three; DCMTK and Orthanc come from the Debian packages `dcmtk` and
//! `orthanc`). Both are started with `TCP_NODELAY=1` in their environment.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansfilm_benches::{fixtures_dir, proc_stats, synth};
use sansfilm_dimse::client::{self, ClientOptions};

struct Running {
    child: Child,
    port: u16,
    ae: &'static str,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sansfilm_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = root.join("target/release/sansfilm");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p sansfilm"
    );
    bin
}

fn start(kind: &str, dir: &Path) -> Running {
    std::fs::create_dir_all(dir).unwrap();
    match kind {
        "sansfilm" | "sansfilm-noaudit" => {
            // The same server with its audit trail off, to measure what it costs.
            let config = dir.join("sansfilm.toml");
            let audit = if kind == "sansfilm" { "true" } else { "false" };
            std::fs::write(&config, format!("[audit]\nenabled = {audit}\n")).unwrap();
            let mut child = Command::new(sansfilm_bin())
                .args([
                    "serve",
                    "--config",
                    config.to_str().unwrap(),
                    "--data-dir",
                    dir.to_str().unwrap(),
                    "--port",
                    "0",
                    "--hl7-port",
                    "0",
                ])
                .env("SANSFILM_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let line = lines.next().unwrap().unwrap();
            assert!(line.contains("listening on"), "{line}");
            let port = line
                .split("listening on ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            let port = port.rsplit(':').next().unwrap().parse().unwrap();
            std::thread::spawn(move || for _ in lines {});
            Running {
                child,
                port,
                ae: "SANSFILM",
            }
        }
        "dcmtk" => {
            let port = free_port();
            let child = Command::new("storescp")
                .args([
                    "--fork",
                    "-aet",
                    "DCMTK",
                    "-od",
                    dir.to_str().unwrap(),
                    &port.to_string(),
                ])
                .env("TCP_NODELAY", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("storescp (Debian package dcmtk)");
            Running {
                child,
                port,
                ae: "DCMTK",
            }
        }
        "orthanc" => {
            let port = free_port();
            let config = dir.join("orthanc.json");
            std::fs::write(
                &config,
                format!(
                    r#"{{ "Name": "bench", "StorageDirectory": "{d}/storage", "IndexDirectory": "{d}/index",
                    "DicomAet": "ORTHANC", "DicomPort": {port}, "HttpPort": {http}, "DicomCheckCalledAet": false,
                    "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StorageCompression": false,
                    "DicomThreadsCount": 4, "Plugins": [] }}"#,
                    d = dir.display(),
                    http = free_port()
                ),
            )
            .unwrap();
            let child = Command::new("Orthanc")
                .arg(&config)
                .env("TCP_NODELAY", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Orthanc (Debian package orthanc)");
            Running {
                child,
                port,
                ae: "ORTHANC",
            }
        }
        other => panic!("unknown server {other}"),
    }
}

async fn wait_ready(server: &Running) {
    let opts = ClientOptions {
        called_ae: server.ae.into(),
        ..Default::default()
    };
    let addr = format!("127.0.0.1:{}", server.port);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if matches!(client::echo(&addr, &opts).await, Ok(0)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on port {} did not answer C-ECHO", server.port);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let servers: Vec<String> = args
        .get(2)
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| {
            vec![
                "sansfilm".into(),
                "sansfilm-noaudit".into(),
                "dcmtk".into(),
                "orthanc".into(),
            ]
        });
    let work = tempfile::tempdir().unwrap();
    let template = fixtures_dir().join("nema-wg04/CT1_UNC.dcm");
    let files = synth::write_distinct_copies(&template, &work.path().join("input"), n);
    let total_mb: f64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum::<u64>() as f64
        / 1e6;
    println!("{n} distinct CT instances, {total_mb:.1} MB in all");
    println!(
        "{:<10} {:>6} {:>10} {:>8} {:>14} {:>7}",
        "server", "assocs", "inst/s", "MB/s", "peak RSS MB", "failed"
    );
    for kind in &servers {
        for assocs in [1usize, 4] {
            let dir = work.path().join(format!("{kind}-{assocs}"));
            let server = start(kind, &dir);
            wait_ready(&server).await;
            let opts = ClientOptions {
                called_ae: server.ae.into(),
                ..Default::default()
            };
            let addr = format!("127.0.0.1:{}", server.port);
            let report = client::send_files(&addr, &opts, files.clone(), assocs, Arc::new(|_| {}))
                .await
                .unwrap();
            let secs = report.elapsed.as_secs_f64();
            let peak = proc_stats::rss(server.child.id())
                .map(|(_, hwm)| hwm as f64 / 1e6)
                .unwrap_or(f64::NAN);
            println!(
                "{:<10} {:>6} {:>10.1} {:>8.1} {:>14.1} {:>7}",
                kind,
                assocs,
                report.succeeded() as f64 / secs,
                report.bytes() as f64 / 1e6 / secs,
                peak,
                report.failed()
            );
        }
    }
    if servers.iter().any(|s| s == "sansfilm") {
        let big = synth::write_multiframe(&template, &work.path().join("big.dcm"), 400);
        let size = std::fs::metadata(&big).unwrap().len() as f64 / 1e6;
        let server = start("sansfilm", &work.path().join("big-data"));
        wait_ready(&server).await;
        let before = proc_stats::rss(server.child.id()).unwrap();
        let opts = ClientOptions {
            called_ae: "SANSFILM".into(),
            ..Default::default()
        };
        let addr = format!("127.0.0.1:{}", server.port);
        let report = client::send_files(&addr, &opts, vec![big], 1, Arc::new(|_| {}))
            .await
            .unwrap();
        let after = proc_stats::rss(server.child.id()).unwrap();
        println!(
            "multi-frame {size:.0} MB: {} in {:.2} s; server RSS {:.1} MB before, peak {:.1} MB after: growth {:.1} MB",
            if report.failed() == 0 {
                "stored"
            } else {
                "FAILED"
            },
            report.elapsed.as_secs_f64(),
            before.0 as f64 / 1e6,
            after.1 as f64 / 1e6,
            (after.1 as f64 - before.0 as f64) / 1e6
        );
    }
}
