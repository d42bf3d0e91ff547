//! The scrub: the archive's internal quality-control procedure. Each pass
//! re-reads a slice of the stored objects (those checked longest ago
//! first, so that the whole archive is read once per period, like restic's
//! `check --read-data-subset`), checks each against its SHA-256, and
//! decodes a share of the compressed images.
//!
//! A damaged or missing object stays first in line for the next pass, until
//! it is repaired (from a backup: `sansfilm scrub --repair-from`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;

use crate::verify::sha256_file;
use crate::{Archive, Error, Result, schema};

/// How much a pass reads.
#[derive(Debug, Clone, Serialize)]
pub struct ScrubPolicy {
    /// The whole archive is read once in this many days (a pass reads
    /// 1/period of it). 0: everything in one pass.
    pub period_days: u32,
    /// Share (0 to 1) of the checked compressed images also decoded.
    pub decode_share: f64,
}

impl Default for ScrubPolicy {
    fn default() -> Self {
        ScrubPolicy {
            period_days: 30,
            decode_share: 0.1,
        }
    }
}

/// What a scrub pass found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    /// When the pass started (RFC 3339, UTC).
    pub started: String,
    /// Instances in the archive.
    pub instances: u64,
    /// Instances read and hashed by this pass.
    pub checked: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Images decoded.
    pub decoded: u64,
    /// Objects whose content is not what the index recorded.
    pub damaged: Vec<PathBuf>,
    /// Objects that are gone.
    pub missing: Vec<PathBuf>,
    /// Images that did not decode (path: why).
    pub decode_failures: Vec<String>,
    /// Instances never scrubbed, or last scrubbed before the period, left
    /// after this pass (0 once the archive has been read in full).
    pub overdue: u64,
    /// Time taken.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ScrubReport {
    /// Whether the pass found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.missing.is_empty() && self.decode_failures.is_empty()
    }
}

impl Archive {
    /// Runs one scrub pass.
    pub fn scrub(
        &self,
        policy: &ScrubPolicy,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ScrubReport> {
        let start = Instant::now();
        let mut report = ScrubReport {
            started: chrono_now(),
            ..ScrubReport::default()
        };
        let mut conn = Connection::open(self.layout().index_file())?;
        schema::configure(&conn)?;
        let total: i64 = conn.query_row("SELECT count(*) FROM instances", [], |r| r.get(0))?;
        report.instances = total as u64;
        let slice = if policy.period_days == 0 {
            total
        } else {
            (total + i64::from(policy.period_days) - 1) / i64::from(policy.period_days)
        };
        let rows: Vec<(i64, String, i64, String, String)> = conn
            .prepare(
                "SELECT id, path, size, sha256, transfer_syntax FROM instances
                 ORDER BY scrubbed_at IS NOT NULL, scrubbed_at, id LIMIT ?1",
            )?
            .query_map([slice], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let every = if policy.decode_share <= 0.0 {
            u64::MAX
        } else {
            (1.0 / policy.decode_share.min(1.0)).round().max(1.0) as u64
        };
        let mut good = Vec::with_capacity(rows.len());
        let mut compressed_seen = 0u64;
        for (i, (id, path, size, sha256, ts)) in rows.iter().enumerate() {
            let rel = PathBuf::from(path);
            let abs = self.layout().absolute(&rel);
            match sha256_file(&abs) {
                Ok((hash, got)) => {
                    report.bytes += got;
                    if hash != *sha256 || got != *size as u64 {
                        // Looked up again: a compression swap may have
                        // replaced the row while this pass read the file.
                        if self.index().has_path(&rel)? {
                            tracing::error!(path = %path, "scrub: stored file does not match its recorded hash");
                            report.damaged.push(rel);
                        }
                    } else {
                        let compressed = !sansfilm_codec::transcode::is_native(ts);
                        // The 1st, (every+1)th, … compressed image decoded.
                        if compressed {
                            compressed_seen += 1;
                        }
                        if compressed && (compressed_seen - 1).is_multiple_of(every) {
                            match decode(&abs) {
                                Ok(()) => report.decoded += 1,
                                Err(why) => {
                                    tracing::error!(path = %path, "scrub: does not decode: {why}");
                                    report.decode_failures.push(format!("{path}: {why}"));
                                    continue;
                                }
                            }
                        }
                        good.push(*id);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if self.index().has_path(&rel)? {
                        tracing::error!(path = %path, "scrub: indexed file is missing");
                        report.missing.push(rel);
                    }
                }
                Err(e) => return Err(Error::io(abs, e)),
            }
            report.checked += 1;
            progress(i as u64 + 1, rows.len() as u64);
        }
        let tx = conn.transaction()?;
        {
            let mut mark = tx.prepare(
                "UPDATE instances SET scrubbed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
            )?;
            for id in good {
                mark.execute([id])?;
            }
        }
        tx.commit()?;
        if policy.period_days > 0 {
            report.overdue = overdue(&conn, policy.period_days)?;
        }
        report.elapsed = start.elapsed();
        Ok(report)
    }
}

/// Instances not scrubbed within the period.
fn overdue(conn: &Connection, period_days: u32) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM instances WHERE scrubbed_at IS NULL
         OR scrubbed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
        [format!("-{period_days} days")],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

fn chrono_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether a compressed instance decodes.
fn decode(path: &std::path::Path) -> std::result::Result<(), String> {
    let obj = dicom_object::open_file(path).map_err(|e| e.to_string())?;
    sansfilm_codec::transcode::transcode(&obj, sansfilm_codec::transcode::Target::Explicit)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
