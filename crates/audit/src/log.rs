//! The append-only, hash-chained log (`audit.sqlite` in the data directory).
//!
//! Record *n* carries `hash_n = SHA-256(hash_{n-1} ‖ n ‖ time ‖ event)` over a
//! canonical encoding (the event's JSON in field order), so any edit,
//! deletion, insertion or reordering breaks the chain at a record that
//! verification names. Each hash is also sealed with an HMAC-SHA-256 under a
//! key kept outside the log (`audit.key`, or a path of the administrator's
//! choice), so a record appended by someone without the key is recognised as
//! forged. Cutting off the tail leaves a valid chain: checkpoints of the head
//! (`SEQ:HASH`), kept elsewhere, catch that.
//!
//! Appends go through one writer thread that commits waiting events together
//! (group commit, synchronous=FULL): [`AuditLog::append`] returns once the
//! record is on disk, so a caller can acknowledge what it audited.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{AuditEvent, EventKind};
use crate::{Error, Result};

/// File name of the log in the data directory.
pub const AUDIT_FILE: &str = "audit.sqlite";
/// Default file name of the key, in the data directory.
pub const KEY_FILE: &str = "audit.key";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const MAX_BATCH: usize = 256;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_log (
    seq          INTEGER PRIMARY KEY,
    time         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    event        TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    mac          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit_log (time);
CREATE INDEX IF NOT EXISTS audit_patient ON audit_log (patient_id);
CREATE INDEX IF NOT EXISTS audit_kind ON audit_log (kind);
CREATE TABLE IF NOT EXISTS export_cursor (
    destination TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL
);
"#;

/// A head of the chain: sequence number and hash, written down elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the record.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Checkpoint {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not SEQ:HASH"))?;
        let seq = seq
            .parse()
            .map_err(|_| format!("{seq:?} is not a sequence number"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{hash:?} is not a SHA-256 in hex"));
        }
        Ok(Checkpoint {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it was appended (UTC, RFC 3339).
    pub time: String,
    /// The event.
    pub event: AuditEvent,
    /// Hash of this record (hex).
    pub hash: String,
}

/// A break in the chain, naming the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record concerned.
    pub seq: u64,
    /// What is wrong with it.
    pub what: String,
}

/// What [`AuditLog::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Every break found, in order.
    pub problems: Vec<Problem>,
    /// The head as verified.
    pub head: Option<Checkpoint>,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// An append under way (see [`AuditLog::submit`]).
#[derive(Debug)]
pub struct Pending {
    wait: mpsc::Receiver<Result<Vec<Checkpoint>>>,
    sent: bool,
}

impl Pending {
    /// Waits until the record is durable.
    pub fn wait(self) -> Result<Checkpoint> {
        if !self.sent {
            return Err(Error::Unavailable("audit writer stopped".into()));
        }
        self.wait
            .recv()
            .map_err(|_| Error::Unavailable("audit writer stopped".into()))??
            .pop()
            .ok_or_else(|| Error::Unavailable("no record written".into()))
    }
}

/// Filters for [`AuditLog::records`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this patient ID.
    pub patient_id: Option<String>,
    /// Only events naming this study.
    pub study_uid: Option<String>,
    /// Only events where this AE title or application took part.
    pub participant: Option<String>,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// From this time (RFC 3339 prefix, e.g. `2026-11-23`).
    pub since: Option<String>,
    /// Until this time (inclusive prefix).
    pub until: Option<String>,
    /// After this sequence number.
    pub after_seq: Option<u64>,
    /// At most this many records (0: all).
    pub limit: usize,
}

type Job = (Vec<AuditEvent>, mpsc::SyncSender<Result<Vec<Checkpoint>>>);

/// The audit log. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    writer: mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
    key: Arc<Vec<u8>>,
    // Declared after `writer`, so dropped after it: see `WriterGuard`.
    _writer_thread: Arc<WriterGuard>,
}

/// Joins the writer thread when the last [`AuditLog`] clone is dropped: the
/// channel is closed by then (every clone's sender drops before its guard),
/// so the thread appends what it still holds, closes its connection and
/// ends. Events sent with [`AuditLog::append_detached`] are on disk, and the
/// database closed, when the drop returns.
struct WriterGuard(Option<std::thread::JoinHandle<()>>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take()
            && handle.thread().id() != std::thread::current().id()
            && handle.join().is_err()
        {
            tracing::error!("audit writer thread panicked");
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl AuditLog {
    /// Opens the log in `data_dir`, with the key at `key_path` (default
    /// `data_dir/audit.key`, created with fresh random bytes if missing).
    pub fn open(data_dir: &Path, key_path: Option<&Path>) -> Result<AuditLog> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let key_path = key_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join(KEY_FILE));
        let key = load_or_create_key(&key_path)?;
        let path = data_dir.join(AUDIT_FILE);
        let conn = Connection::open(&path)?;
        configure(&conn)?;
        conn.execute_batch(SCHEMA)?;
        let reader = Connection::open(&path)?;
        configure(&reader)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread_key = key.clone();
        let handle = std::thread::Builder::new()
            .name("sansfilm-audit".into())
            .spawn(move || writer_loop(conn, rx, &thread_key))
            .map_err(|e| Error::io(&path, e))?;
        Ok(AuditLog {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
            key: Arc::new(key),
            _writer_thread: Arc::new(WriterGuard(Some(handle))),
        })
    }

    /// Appends an event; returns once it is durable.
    pub fn append(&self, event: AuditEvent) -> Result<Checkpoint> {
        let mut v = self.append_all(vec![event])?;
        v.pop()
            .ok_or_else(|| Error::Unavailable("no record written".into()))
    }

    /// Starts appending an event and returns at once; [`Pending::wait`]
    /// returns when it is durable. Lets a caller overlap its own fsyncs with
    /// the log's.
    pub fn submit(&self, event: AuditEvent) -> Pending {
        let (reply, wait) = mpsc::sync_channel(1);
        let sent = self.writer.send((vec![event], reply)).is_ok();
        Pending { wait, sent }
    }

    /// Appends an event without waiting for it to be on disk (for callers on
    /// an async reactor, where nothing is acknowledged on the strength of it).
    pub fn append_detached(&self, event: AuditEvent) {
        let (reply, _ignored) = mpsc::sync_channel(1);
        if self.writer.send((vec![event], reply)).is_err() {
            tracing::error!("audit writer stopped; event lost");
        }
    }

    /// Appends several events in order; returns once they are durable.
    pub fn append_all(&self, events: Vec<AuditEvent>) -> Result<Vec<Checkpoint>> {
        let (reply, wait) = mpsc::sync_channel(1);
        self.writer
            .send((events, reply))
            .map_err(|_| Error::Unavailable("audit writer stopped".into()))?;
        wait.recv()
            .map_err(|_| Error::Unavailable("audit writer stopped".into()))?
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }

    /// The current head of the chain (`None` when empty).
    pub fn head(&self) -> Result<Option<Checkpoint>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(Checkpoint {
                        seq: r.get::<_, i64>(0)? as u64,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Checks the whole chain, and that `checkpoint` (if given) is still in it.
    pub fn verify(&self, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT seq, time, event, prev_hash, hash, mac FROM audit_log ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            let mut report = VerifyReport::default();
            let mut expected_seq = 1u64;
            let mut previous = GENESIS.to_string();
            let mut found_checkpoint = false;
            while let Some(row) = rows.next()? {
                let seq = row.get::<_, i64>(0)? as u64;
                let time: String = row.get(1)?;
                let event: String = row.get(2)?;
                let prev_hash: String = row.get(3)?;
                let hash: String = row.get(4)?;
                let mac: String = row.get(5)?;
                report.records += 1;
                if seq != expected_seq {
                    report.problems.push(Problem {
                        seq: expected_seq,
                        what: if seq > expected_seq {
                            format!("record {expected_seq} is missing (the log goes on at {seq})")
                        } else {
                            format!("record {seq} is out of order")
                        },
                    });
                }
                if prev_hash != previous {
                    report.problems.push(Problem {
                        seq,
                        what: format!("record {seq} does not follow the record before it (chain broken)"),
                    });
                }
                let recomputed = chain_hash(&prev_hash, seq, &time, &event);
                if recomputed != hash {
                    report.problems.push(Problem { seq, what: format!("record {seq} was altered (its content does not match its hash)") });
                }
                if seal(&self.key, &hash) != mac {
                    report.problems.push(Problem {
                        seq,
                        what: format!("record {seq} has an invalid seal: forged, or written without this archive's key"),
                    });
                }
                if let Some(cp) = checkpoint
                    && cp.seq == seq
                {
                    found_checkpoint = true;
                    if cp.hash != hash {
                        report.problems.push(Problem { seq, what: format!("record {seq} differs from the checkpoint {cp}") });
                    }
                }
                previous = hash.clone();
                report.head = Some(Checkpoint { seq, hash });
                expected_seq = seq + 1;
            }
            if let Some(cp) = checkpoint
                && !found_checkpoint
            {
                let end = report.head.as_ref().map(|h| h.seq).unwrap_or(0);
                report.problems.push(Problem {
                    seq: cp.seq,
                    what: format!("record {} of checkpoint {cp} is gone: the log ends at {end} (truncated)", cp.seq),
                });
            }
            Ok(report)
        })
    }

    /// Records matching a filter, in order.
    pub fn records(&self, filter: &Filter) -> Result<Vec<Record>> {
        let mut sql = "SELECT seq, time, event, hash FROM audit_log WHERE 1=1".to_string();
        let mut args: Vec<rusqlite::types::Value> = vec![];
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(p) = &filter.patient_id {
            add(" AND patient_id = ?", p.clone().into());
        }
        if let Some(k) = filter.kind {
            add(" AND kind = ?", format!("{k:?}").into());
        }
        if let Some(s) = &filter.since {
            add(" AND time >= ?", s.clone().into());
        }
        if let Some(u) = &filter.until {
            // Inclusive prefix: every time that starts with `until` sorts below it.
            add(" AND time <= ?", format!("{u}\u{10FFFF}").into());
        }
        if let Some(a) = filter.after_seq {
            add(" AND seq > ?", (a as i64).into());
        }
        if let Some(s) = &filter.study_uid {
            add(" AND instr(event, ?) > 0", format!("\"{s}\"").into());
        }
        if let Some(p) = &filter.participant {
            add(" AND instr(event, ?) > 0", format!("\"id\":\"{p}\"").into());
        }
        sql.push_str(" ORDER BY seq");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            let mut out = vec![];
            for row in rows {
                let (seq, time, event, hash) = row?;
                let event = serde_json::from_str(&event).map_err(|e| Error::Corrupt {
                    seq,
                    reason: e.to_string(),
                })?;
                out.push(Record {
                    seq,
                    time,
                    event,
                    hash,
                });
            }
            Ok(out)
        })
    }

    /// The last sequence number sent to an export destination.
    pub fn export_cursor(&self, destination: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT seq FROM export_cursor WHERE destination = ?1",
                [destination],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0) as u64)
        })
    }

    /// Records that `destination` has everything up to `seq`.
    pub fn set_export_cursor(&self, destination: &str, seq: u64) -> Result<()> {
        self.read(|c| {
            c.execute(
                "INSERT INTO export_cursor (destination, seq) VALUES (?1, ?2)
                 ON CONFLICT (destination) DO UPDATE SET seq = excluded.seq",
                params![destination, seq as i64],
            )?;
            Ok(())
        })
    }
}

/// The chain hash of a record.
pub fn chain_hash(prev_hash: &str, seq: u64, time: &str, event_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(time.as_bytes());
    h.update(b"\n");
    h.update(event_json.as_bytes());
    hex::encode(h.finalize())
}

fn seal(key: &[u8], hash: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim()).map_err(|e| Error::Key {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            use std::io::Read;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .map_err(|e| Error::Key {
                    path: PathBuf::from("/dev/urandom"),
                    reason: e.to_string(),
                })?;
            write_private(path, hex::encode(&key).as_bytes())?;
            tracing::info!(path = %path.display(), "created the audit log key; keep a copy apart from the data");
            Ok(key)
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>, key: &[u8]) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut n = batch[0].0.len();
        while n < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.0.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let result = write_batch(&mut conn, &batch, key);
        match result {
            Ok(mut heads) => {
                for (events, reply) in batch {
                    let rest = heads.split_off(events.len());
                    let _ = reply.send(Ok(std::mem::replace(&mut heads, rest)));
                }
            }
            Err(e) => {
                tracing::error!("audit append failed: {e}");
                let msg = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(Error::Unavailable(msg.clone())));
                }
            }
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Job], key: &[u8]) -> Result<Vec<Checkpoint>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (mut seq, mut prev): (u64, String) = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let time: String = tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
        r.get(0)
    })?;
    let mut heads = vec![];
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_log (seq, time, kind, patient_id, event, prev_hash, hash, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (events, _) in batch {
            for event in events {
                seq += 1;
                let json = serde_json::to_string(event).map_err(|e| Error::Corrupt {
                    seq,
                    reason: e.to_string(),
                })?;
                let hash = chain_hash(&prev, seq, &time, &json);
                let mac = seal(key, &hash);
                insert.execute(params![
                    seq as i64,
                    time,
                    format!("{:?}", event.kind),
                    event.patient_id,
                    json,
                    prev,
                    hash,
                    mac
                ])?;
                prev = hash.clone();
                heads.push(Checkpoint { seq, hash });
            }
        }
    }
    tx.commit()?;
    Ok(heads)
}
