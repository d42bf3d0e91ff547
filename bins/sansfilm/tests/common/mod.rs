//! Helpers shared by the end-to-end tests: a server process, outside peers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A `sansfilm serve` (or another binary's) process on a free port: the
/// workspace's one launcher.
pub use sansfilm_benches::harness::ServerProcess as Server;

/// How the tests of this binary start `sansfilm serve`.
pub trait Serve {
    /// `sansfilm serve` on port 0 with `data_dir` and extra arguments.
    fn start(data_dir: &Path, extra: &[&str]) -> Server;
    /// `sansfilm serve` with its web server on a free port.
    fn start_web(data_dir: &Path, extra: &[&str]) -> Server;
    /// `sansfilm serve` on `dir/data` with the configuration `toml` (written
    /// to `dir/sansfilm.toml`).
    fn with_config(dir: &Path, toml: &str) -> Server;
    /// Another binary that follows the server command-line contract.
    fn start_bin(bin: &str, verb: &[&str], data_dir: &Path, extra: &[&str]) -> Server;
}

impl Serve for Server {
    fn start(data_dir: &Path, extra: &[&str]) -> Server {
        // No web server unless a test asks for one (`start_web`): the
        // tests run in parallel, and 8080 is one port.
        let mut args = vec!["--hl7-port", "0", "--web-port", "0"];
        args.extend_from_slice(extra);
        Server::start_bin(env!("CARGO_BIN_EXE_sansfilm"), &["serve"], data_dir, &args)
    }

    fn start_web(data_dir: &Path, extra: &[&str]) -> Server {
        // The web port is picked here (0 means "no web server"): a port
        // another process took meanwhile is tried again with another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                .to_string();
            let mut args = vec!["--hl7-port", "0", "--web-port", &port];
            args.extend_from_slice(extra);
            let launched = std::panic::catch_unwind(|| {
                Server::launch_with_web(
                    env!("CARGO_BIN_EXE_sansfilm"),
                    &["serve"],
                    data_dir,
                    &args,
                    true,
                    true,
                )
            });
            if let Ok(server) = launched {
                return server;
            }
        }
        panic!("no free web port after 5 tries");
    }

    fn with_config(dir: &Path, toml: &str) -> Server {
        let config = dir.join("sansfilm.toml");
        std::fs::write(&config, toml).unwrap();
        Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
    }

    fn start_bin(bin: &str, verb: &[&str], data_dir: &Path, extra: &[&str]) -> Server {
        Server::launch(bin, verb, data_dir, extra, verb == ["serve"])
    }
}

/// Runs `sansfilm` with arguments; returns (exit code, stdout, stderr).
pub fn sansfilm(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sansfilm"));
    cmd.args(args);
    outcome(cmd)
}

/// Runs `cmd` with the service log at warnings: exit code, stdout, stderr.
pub fn outcome(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.env("SANSFILM_LOG", "warn").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small tmpfs mounted at a directory (root needed: CI runs as root), to
/// fill a disk; unmounted when dropped.
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` (mount's syntax: `3m`, `64k`) at `dir`.
    pub fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(mounted, "mounting a tmpfs needs root (CI runs as root)");
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `sansfilm transcode --to TARGET INPUT OUTPUT`: (exit code, stdout, stderr).
pub fn transcode(target: &str, input: &Path, output: &Path) -> (i32, String, String) {
    sansfilm(&[
        "transcode",
        "--to",
        target,
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ])
}

/// A DCMTK tool; panics with a clear message when DCMTK is not installed.
pub fn dcmtk(tool: &str) -> Command {
    outside_tool(tool, "DCMTK")
}

/// A GDCM tool (Debian package libgdcm-tools), checked as [`dcmtk`] is.
pub fn gdcm(tool: &str) -> Command {
    outside_tool(tool, "GDCM")
}

/// `fiu-run` (Debian package fiu-utils), to make system calls fail.
pub fn fiu_run() -> Command {
    outside_tool("fiu-run", "fiu-utils")
}

fn outside_tool(tool: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} ({package}) is not installed: run the README's test command, which installs it"
    );
    Command::new(tool)
}

/// The Python with pynetdicom: $SANSFILM_PYTHON, or .venv/bin/python at the
/// repository root (created by the README's test command).
pub fn python() -> Command {
    let py = std::env::var("SANSFILM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(
        py.exists(),
        "{} not found: run the README's test command, which creates it with pynetdicom",
        py.display()
    );
    Command::new(py)
}

/// The peers' helper scripts.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

pub fn fixtures() -> PathBuf {
    sansfilm_benches::fixtures_dir()
}

/// Opens the index of a data directory read-only.
pub fn index(data_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        data_dir.join("index.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

pub fn count(data_dir: &Path, sql: &str) -> i64 {
    index(data_dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Records of the audit trail whose event text contains `text`.
pub fn audit_count(data_dir: &Path, text: &str) -> i64 {
    rusqlite::Connection::open_with_flags(
        data_dir.join("audit.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
    .query_row(
        "SELECT count(*) FROM audit_log WHERE instr(event, ?1) > 0",
        [text],
        |r| r.get(0),
    )
    .unwrap()
}

/// Like [`audit_count`], for events the server records without waiting
/// (refusals: a hostile peer must not slow it down): waits up to 10 s for
/// `want` records, then a moment more for any surplus, and returns the count.
pub fn audit_count_eventually(data_dir: &Path, text: &str, want: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while audit_count(data_dir, text) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    audit_count(data_dir, text)
}

/// Files of `fixtures/dicom` (recursively) that are Part 10 files a peer can
/// send, with the transfer syntax of each.
pub fn sendable_fixtures() -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    let mut stack = vec![fixtures()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "dcm")
                && let Ok(f) = sansfilm_dimse::client::FileToSend::inspect(&p)
                && !f.transfer_syntax.is_empty()
                && !f.sop_instance_uid.is_empty()
                && !f.sop_class_uid.is_empty()
            {
                out.push((p, f.transfer_syntax));
            }
        }
    }
    out.sort();
    out
}

/// Instances whose data set legitimately fails to store, with the status
/// expected: they lack a key the archive needs or contradict their meta.
pub fn expected_refusal(path: &Path, as_is: bool) -> Option<u16> {
    let name = path.file_name()?.to_str()?;
    match name {
        // No Study Instance UID or no SOP Class UID in the data set, or a
        // data set that cannot be parsed: C000, cannot understand.
        "JLSL_08_07_0_1F.dcm"
        | "JPEGLSNearLossless_16.dcm"
        | "chrSQEncoding.dcm"
        | "chrSQEncoding1.dcm"
        | "priv_SQ.dcm"
        | "bad_sequence.dcm"
        | "rtplan_truncated.dcm" => Some(0xC000),
        // Pixel data shorter than its declared length: refused before any
        // parse (a length that the bytes do not back) when sent as it is;
        // pynetdicom re-encodes what pydicom read, with a consistent length.
        "MR_truncated.dcm" if as_is => Some(0xC000),
        // A UN of undefined length holding implicit VR items (CP-246), which
        // dicom-rs 0.10 reads in explicit VR: a 3.7 GB length, refused
        // before it is allocated (docs/upstream/).
        "UN_sequence.dcm" if as_is => Some(0xC000),
        _ => None,
    }
}

/// Validates every audit message in `lines` (syslog lines) against the DICOM
/// audit message schema kept in fixtures/audit; panics with the complaints.
pub fn assert_valid_audit_messages(lines: &str) {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = python()
        .arg(root.join("crates/audit/tests/validate_audit_xml.py"))
        .arg(root.join("fixtures/audit/dicom-audit-message.rnc"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pydicom's MD5 of each file's decoded pixels (peers/pixel_md5.py, with
/// pydicom's own decoders: an implementation independent of sansfilm's), one
/// per path, or `ERROR: ...`.
pub fn pydicom_pixel_md5s(paths: &[PathBuf]) -> Vec<String> {
    let out = python()
        .arg(script("pixel_md5.py"))
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A plain HTTP/1.1 exchange with a server of this machine: the status, the
/// headers (lower-case names) and the body. Enough for the web tests'
/// checks of statuses and redirects; the clients under test are real ones
/// (dicomweb-client, Chromium).
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` on `127.0.0.1:port` with extra header lines and a body.
pub fn http(port: u16, method: &str, path: &str, headers: &[&str], body: &[u8]) -> HttpReply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP header");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = unchunk(&body);
    }
    HttpReply {
        status,
        headers,
        body,
    }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 4 + size..];
    }
}

/// `Authorization: Basic ...` for `user:password`.
pub fn basic(user_password: &str) -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

/// `sansfilm user add NAME --role ROLE` with the password on standard input.
pub fn add_user(data_dir: &std::path::Path, name: &str, role: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sansfilm"))
        .args(["user", "add", name, "--role", role, "--data-dir"])
        .arg(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sansfilm send` of `files` to a server's DICOM port; every one must be
/// accepted.
pub fn send_to(server: &Server, files: &[&Path]) {
    let port = server.port.to_string();
    let mut args = vec!["send", "--called-aet", "SANSFILM", "127.0.0.1", &port];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let (code, out, err) = sansfilm(&args);
    assert_eq!(code, 0, "{out}{err}");
}
