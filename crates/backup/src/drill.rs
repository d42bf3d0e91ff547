//! The restore drill: restore a snapshot into a scratch directory and prove
//! it good.
//!
//! - every file of the snapshot comes back with its SHA-256 (the restore
//!   checks it);
//! - the restored index and the manifest agree: every instance the index
//!   names is restored with the index's size and hash, or listed among the
//!   snapshot's problems;
//! - the restored archive is the live one as it was at the snapshot: every
//!   instance of the live index received before the snapshot started is in
//!   the restored index (or was compressed since: same SOP Instance UID and
//!   pixel content), and every restored instance is still in the live
//!   archive or was replaced by its compressed version since;
//! - a sample of the restored images decodes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::backup::Progress;
use crate::manifest::{EntryKind, Snapshot};
use crate::repository::Repository;
use crate::restore::{RestoreReport, restore};
use crate::{Error, Result};

/// What a drill found.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The snapshot drilled.
    pub snapshot: String,
    /// When it was taken.
    pub taken: String,
    /// The restore: files and bytes, missing and damaged blobs.
    pub restore: RestoreReport,
    /// Instances in the restored index.
    pub instances: u64,
    /// Images decoded from the restored files.
    pub decoded: u64,
    /// Images that did not decode (path: why).
    pub decode_failures: Vec<String>,
    /// Where the restored index and the restored files disagree.
    pub index_mismatches: Vec<String>,
    /// Instances of the live archive, received before the snapshot, that the
    /// snapshot does not hold.
    pub missing_from_snapshot: Vec<String>,
    /// Snapshot problems recorded at backup time (objects left out, why).
    pub known_problems: Vec<String>,
    /// Instances restored that the live archive no longer has (deleted since;
    /// not a failure, said for the record).
    pub gone_from_live: Vec<String>,
}

impl DrillReport {
    /// Whether the drill proved the snapshot good.
    pub fn passed(&self) -> bool {
        self.restore.is_complete()
            && self.decode_failures.is_empty()
            && self.index_mismatches.is_empty()
            && self.missing_from_snapshot.is_empty()
            && self.known_problems.is_empty()
    }

    /// A text report for people (and the quality binder).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        out.push_str(&format!(
            "restore drill {verdict}: snapshot {} taken {}\n",
            self.snapshot, self.taken
        ));
        out.push_str(&format!(
            "restored {} files ({:.1} MB) at {:.0} MB/s, every SHA-256 checked\n",
            self.restore.restored,
            self.restore.bytes as f64 / 1e6,
            self.restore.mb_per_s()
        ));
        out.push_str(&format!(
            "{} instances in the restored index; {} images decoded\n",
            self.instances, self.decoded
        ));
        if !self.restore.deferred.is_empty() {
            out.push_str(&format!(
                "{} instances were waiting for compression: not in this snapshot, in a later \
                 one (not a failure)\n",
                self.restore.deferred.len()
            ));
        }
        let lists: [(&str, &Vec<String>); 7] = [
            ("MISSING in backup", &self.restore.missing),
            ("DAMAGED in backup", &self.restore.damaged),
            ("NOT DECODED", &self.decode_failures),
            ("INDEX MISMATCH", &self.index_mismatches),
            ("NOT IN SNAPSHOT", &self.missing_from_snapshot),
            ("LEFT OUT AT BACKUP", &self.known_problems),
            ("deleted since (not a failure)", &self.gone_from_live),
        ];
        for (label, items) in lists {
            for item in items {
                out.push_str(&format!("{label}  {item}\n"));
            }
        }
        out
    }
}

/// Restores `snapshot` into `scratch` (which must not exist or be empty) and
/// checks it against its manifest and against the live archive in
/// `data_dir`. `sample` images are decoded, spread over the whole snapshot.
pub fn drill(
    data_dir: &Path,
    repo: &Repository,
    snapshot: &Snapshot,
    scratch: &Path,
    sample: usize,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<DrillReport> {
    let restored = restore(
        repo,
        snapshot,
        scratch,
        repo.store().concurrency(),
        progress,
    )?;
    let index_file = sansfilm_archive::layout::INDEX_FILE;

    let unrestorable: HashSet<String> = restored
        .missing
        .iter()
        .cloned()
        .chain(
            restored
                .damaged
                .iter()
                .filter_map(|d| d.split_once(": ").map(|(p, _)| p.to_string())),
        )
        .collect();
    // Without its index a snapshot restores nothing usable: the restore
    // report already names it; nothing more can be compared.
    let restored_rows = if unrestorable.contains(index_file) {
        Vec::new()
    } else {
        instance_rows(&scratch.join(index_file))?
    };
    let live_rows = instance_rows(&data_dir.join(index_file))?;
    let entries: HashMap<&str, _> = snapshot
        .of_kind(EntryKind::Object)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let problems: HashSet<&str> = snapshot.problems.iter().map(|p| p.path.as_str()).collect();
    // Left out on purpose (waiting for compression): neither missing from
    // the snapshot nor a problem, but counted.
    let deferred_paths: HashSet<String> =
        restored.deferred.iter().map(|d| d.path.clone()).collect();
    let deferred_content: HashSet<(String, String)> = restored
        .deferred
        .iter()
        .map(|d| (d.sop_instance_uid.clone(), d.content_sha256.clone()))
        .collect();

    let mut report = DrillReport {
        snapshot: snapshot.id.clone(),
        taken: snapshot.started.clone(),
        instances: restored_rows.len() as u64,
        decoded: 0,
        decode_failures: Vec::new(),
        index_mismatches: Vec::new(),
        missing_from_snapshot: Vec::new(),
        known_problems: snapshot
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.reason))
            .collect(),
        gone_from_live: Vec::new(),
        restore: restored,
    };

    // The restored index against the manifest and the restored files.
    for row in &restored_rows {
        if problems.contains(row.path.as_str()) || unrestorable.contains(&row.path) {
            continue; // already reported
        }
        match entries.get(row.path.as_str()) {
            None => report.index_mismatches.push(format!(
                "{}: in the restored index, not in the snapshot",
                row.path
            )),
            Some(e) if e.sha256 != row.sha256 || e.size != row.size => {
                report.index_mismatches.push(format!(
                    "{}: the snapshot holds other content than the index names",
                    row.path
                ))
            }
            Some(_) => {}
        }
    }
    let restored_paths: HashSet<&str> = restored_rows.iter().map(|r| r.path.as_str()).collect();
    for path in entries.keys() {
        if !restored_paths.contains(path) {
            report
                .index_mismatches
                .push(format!("{path}: in the snapshot, not in its index"));
        }
    }

    // The restored archive against the live one.
    let cut = started_as_index_time(&snapshot.started);
    let live_by_path: HashMap<&str, &Row> =
        live_rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let live_by_content: HashSet<(&str, &str)> = live_rows
        .iter()
        .map(|r| (r.sop_instance_uid.as_str(), r.content_sha256.as_str()))
        .collect();
    let restored_by_content: HashSet<(&str, &str)> = restored_rows
        .iter()
        .map(|r| (r.sop_instance_uid.as_str(), r.content_sha256.as_str()))
        .collect();
    for row in &live_rows {
        let before = row.received_at.as_str() < cut.as_str();
        let held = restored_paths.contains(row.path.as_str())
            || restored_by_content
                .contains(&(row.sop_instance_uid.as_str(), row.content_sha256.as_str()));
        let waited = deferred_paths.contains(&row.path)
            || deferred_content
                .contains(&(row.sop_instance_uid.clone(), row.content_sha256.clone()));
        if before && !held && !waited {
            report
                .missing_from_snapshot
                .push(format!("{} (received {})", row.path, row.received_at));
        }
    }
    for row in &restored_rows {
        let same = live_by_path
            .get(row.path.as_str())
            .is_some_and(|l| l.sha256 == row.sha256);
        let compressed_since =
            live_by_content.contains(&(row.sop_instance_uid.as_str(), row.content_sha256.as_str()));
        if !same && !compressed_since {
            report.gone_from_live.push(row.path.clone());
        }
    }

    // A sample of images decoded, spread over the snapshot.
    let objects: Vec<&str> = restored_rows
        .iter()
        .map(|r| r.path.as_str())
        .filter(|p| !unrestorable.contains(*p) && !problems.contains(p))
        .collect();
    let step = (objects.len() / sample.max(1)).max(1);
    for path in objects.iter().step_by(step).take(sample) {
        match decodes(&scratch.join(path)) {
            Ok(()) => report.decoded += 1,
            Err(why) => report.decode_failures.push(format!("{path}: {why}")),
        }
    }
    report.index_mismatches.sort();
    report.missing_from_snapshot.sort();
    Ok(report)
}

/// An instance row, as the drill compares them.
struct Row {
    path: String,
    size: u64,
    sha256: String,
    sop_instance_uid: String,
    content_sha256: String,
    received_at: String,
}

fn instance_rows(index: &Path) -> Result<Vec<Row>> {
    let db_err = |e| Error::Database {
        path: index.to_path_buf(),
        source: e,
    };
    if !index.is_file() {
        return Err(Error::Refused(format!("no index at {}", index.display())));
    }
    let conn =
        Connection::open_with_flags(index, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db_err)?;
    let mut stmt = conn
        .prepare(
            "SELECT path, size, sha256, sop_instance_uid, content_sha256, received_at
             FROM instances",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Row {
                path: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                sha256: r.get(2)?,
                sop_instance_uid: r.get(3)?,
                content_sha256: r.get(4)?,
                received_at: r.get(5)?,
            })
        })
        .map_err(db_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
}

/// The snapshot's start in the index's `received_at` format, to compare as text.
fn started_as_index_time(started: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(started)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        })
        .unwrap_or_default()
}

/// Whether a restored file reads as DICOM and its pixels decode.
fn decodes(path: &Path) -> std::result::Result<(), String> {
    let obj = dicom_object::open_file(path).map_err(|e| e.to_string())?;
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let has_pixels = obj
        .element_opt(dicom_object::Tag(0x7FE0, 0x0010))
        .ok()
        .flatten()
        .is_some();
    if has_pixels && !sansfilm_codec::transcode::is_native(&ts) {
        sansfilm_codec::transcode::transcode(&obj, sansfilm_codec::transcode::Target::Explicit)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
