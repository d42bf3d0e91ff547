//! A server binary as the tests meet it: started on port 0 with the
//! command-line contract (`--data-dir DIR --port 0`), its `listening on
//! ADDRESS` line read for the port, its log kept beside the data directory,
//! signalled and waited for, killed on drop. One launcher for the tests of
//! every binary (`sansfilm serve`, `storescp`, `wlmserver`, `hl7bridge`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// The port of its first `listening on` line.
    pub port: u16,
    /// The port of its `HL7 listening on` line (`sansfilm serve`), else 0.
    pub hl7_port: u16,
    /// The port of its `web listening on` line, when it has one, else 0.
    pub web_port: u16,
    /// The first `listening on` line itself.
    pub banner: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its standard error (the service log): `DATA_DIR.log`.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `bin VERB... --data-dir DATA_DIR --port 0 EXTRA...` and waits
    /// for its `listening on` line (and, with `wait_hl7`, for the HL7 one).
    pub fn launch(
        bin: &str,
        verb: &[&str],
        data_dir: &Path,
        extra: &[&str],
        wait_hl7: bool,
    ) -> ServerProcess {
        Self::launch_with_web(bin, verb, data_dir, extra, wait_hl7, false)
    }

    /// [`launch`](Self::launch), waiting also for its `web listening on`
    /// line when `wait_web`.
    pub fn launch_with_web(
        bin: &str,
        verb: &[&str],
        data_dir: &Path,
        extra: &[&str],
        wait_hl7: bool,
        wait_web: bool,
    ) -> ServerProcess {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(bin)
            .args(verb)
            .args(["--data-dir", data_dir.to_str().unwrap(), "--port", "0"])
            .args(extra)
            .env("SANSFILM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut next_line = |what: &str| -> (String, u16) {
            loop {
                let line = lines
                    .next()
                    .unwrap_or_else(|| {
                        panic!("server exited: {}", std::fs::read_to_string(&log).unwrap())
                    })
                    .unwrap();
                if line.contains(what)
                    && let Some(rest) = line.split("listening on ").nth(1)
                {
                    let addr = rest.split_whitespace().next().unwrap();
                    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
                    return (line, port);
                }
            }
        };
        let (banner, port) = next_line("listening on");
        let hl7_port = if wait_hl7 {
            next_line("HL7 listening on").1
        } else {
            0
        };
        let web_port = if wait_web {
            next_line("web listening on").1
        } else {
            0
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess {
            child,
            port,
            hl7_port,
            web_port,
            banner,
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, then its exit code (within 30 s).
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(30))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
