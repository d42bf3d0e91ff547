//! Pruning old snapshots: forget those no retention rule keeps, then remove
//! the blobs no remaining snapshot names.
//!
//! This is the one place that deletes from a backup target, and it is meant
//! to run elsewhere than on the archive server (on the backup host, or with
//! the disk plugged into another machine), with rights the server does not
//! have: a ransomware on the server can add to its targets, never empty
//! them.
//!
//! The rules are restic's `--keep-*`: the newest snapshot of each of the
//! last N days (weeks, months, years) that have one, and the N newest. The
//! newest snapshot is always kept. Blobs written less than a grace period
//! ago are kept even when no snapshot names them yet, because a backup
//! running meanwhile may be about to.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Local, NaiveDateTime, Utc};
use serde::Serialize;

use crate::repository::{Repository, SNAPSHOTS_DIR};
use crate::store::DirStore;
use crate::{Error, Result};

/// Which snapshots to keep. Every rule is a count; none set keeps nothing
/// but the newest, so [`prune`] refuses an empty policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    /// The N newest snapshots.
    pub last: usize,
    /// The newest of each of the last N days that have one (local time).
    pub daily: usize,
    /// The newest of each of the last N ISO weeks.
    pub weekly: usize,
    /// The newest of each of the last N months.
    pub monthly: usize,
    /// The newest of each of the last N years.
    pub yearly: usize,
}

impl KeepPolicy {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self == &KeepPolicy::default()
    }
}

/// What [`prune`] did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Snapshots kept, oldest first.
    pub kept: Vec<String>,
    /// Snapshots forgotten (their manifests removed), oldest first.
    pub forgotten: Vec<String>,
    /// Blobs removed: no kept snapshot names them.
    pub blobs_removed: u64,
    /// Bytes those blobs held.
    pub bytes_freed: u64,
    /// Blobs no snapshot names but kept because they are recent.
    pub recent_kept: u64,
    /// Nothing was removed: only what would be.
    pub dry_run: bool,
}

/// How [`prune`] runs.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// The rules.
    pub keep: KeepPolicy,
    /// Report without removing anything.
    pub dry_run: bool,
    /// Unnamed blobs younger than this are kept.
    pub grace: Duration,
}

/// The time a snapshot was taken, from its identifier.
fn snapshot_time(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.split('-').next()?;
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ").ok()?;
    Some(naive.and_utc())
}

/// The period a snapshot falls in, for one rule: (year, day/week/month).
type Bucket = fn(&DateTime<Local>) -> (i32, u32);

/// The snapshots `keep` keeps, from identifiers sorted oldest first.
pub fn choose(ids: &[String], keep: &KeepPolicy) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let newest_first: Vec<(&String, Option<DateTime<Local>>)> = ids
        .iter()
        .rev()
        .map(|id| (id, snapshot_time(id).map(|t| t.with_timezone(&Local))))
        .collect();
    if let Some((newest, _)) = newest_first.first() {
        kept.insert((*newest).clone());
    }
    for (id, _) in newest_first.iter().take(keep.last) {
        kept.insert((*id).clone());
    }
    // A snapshot whose identifier does not parse is never removed.
    for (id, time) in &newest_first {
        if time.is_none() {
            kept.insert((*id).clone());
        }
    }
    let buckets: [(usize, Bucket); 4] = [
        (keep.daily, |t| (t.year(), t.ordinal())),
        (keep.weekly, |t| (t.iso_week().year(), t.iso_week().week())),
        (keep.monthly, |t| (t.year(), t.month())),
        (keep.yearly, |t| (t.year(), 0)),
    ];
    for (count, bucket) in buckets {
        let mut seen = HashSet::new();
        for (id, time) in &newest_first {
            let Some(time) = time else { continue };
            if seen.len() == count {
                break;
            }
            // Newest first: the first of each bucket is its newest.
            if seen.insert(bucket(time)) {
                kept.insert((*id).clone());
            }
        }
    }
    kept
}

/// Forgets the snapshots that `options.keep` does not keep and removes the
/// blobs no kept snapshot names. `repo` reads the repository (with its key
/// when encrypted); `store` is the same directory, opened with the right to
/// delete.
///
/// Manifests go first, blobs after: an interruption leaves blobs that no
/// snapshot names (removed by the next prune), never a snapshot without its
/// blobs.
pub fn prune(repo: &Repository, store: &DirStore, options: &PruneOptions) -> Result<PruneReport> {
    if options.keep.is_empty() {
        return Err(Error::Refused(
            "prune needs at least one rule (--keep-last, --keep-daily, --keep-weekly, \
             --keep-monthly, --keep-yearly)"
                .into(),
        ));
    }
    let ids = repo.snapshot_ids()?;
    let kept = choose(&ids, &options.keep);
    let mut report = PruneReport {
        dry_run: options.dry_run,
        ..Default::default()
    };
    // Every kept manifest is read before anything is removed: one that does
    // not read stops the prune.
    let mut named = HashSet::new();
    for id in &ids {
        if kept.contains(id) {
            let snapshot = repo.load(id)?;
            for entry in &snapshot.entries {
                if entry.chunks.is_empty() {
                    named.insert(repo.blob_id(&entry.sha256));
                } else {
                    named.extend(entry.chunks.iter().map(|c| repo.blob_id(c)));
                }
            }
            report.kept.push(id.clone());
        } else {
            report.forgotten.push(id.clone());
        }
    }
    let removing = |name: &str| -> Result<()> {
        if options.dry_run {
            return Ok(());
        }
        store
            .remove(name)
            .map_err(|e| Error::io(format!("removing {name} from {}", repo.describe()), e))
    };
    for id in &report.forgotten {
        removing(&format!("{SNAPSHOTS_DIR}/{id}.json"))?;
    }
    // The manifests' removal durable before any blob goes: a crash must not
    // bring back a snapshot whose blobs are gone.
    if !options.dry_run {
        store
            .sync()
            .map_err(|e| Error::io(format!("syncing {}", repo.describe()), e))?;
    }
    let now = SystemTime::now();
    for id in repo.blob_names()? {
        if named.contains(&id) {
            continue;
        }
        let name = Repository::name_of_blob_id(&id);
        let (size, modified) = store
            .size_and_mtime(&name)
            .map_err(|e| Error::io(format!("{name} in {}", repo.describe()), e))?;
        let age = now.duration_since(modified).unwrap_or_default();
        if age < options.grace {
            report.recent_kept += 1;
            continue;
        }
        removing(&name)?;
        report.blobs_removed += 1;
        report.bytes_freed += size;
    }
    if !options.dry_run {
        store
            .sync()
            .map_err(|e| Error::io(format!("syncing {}", repo.describe()), e))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(y: i32, m: u32, d: u32, h: u32) -> String {
        // Noon-ish UTC stays on the same local day in any European zone.
        format!("{y:04}{m:02}{d:02}T{h:02}0000.000Z-00000000")
    }

    #[test]
    fn the_newest_is_always_kept_and_each_rule_keeps_the_newest_of_its_buckets() {
        let ids = vec![
            id(2025, 1, 10, 11),
            id(2025, 12, 30, 11),
            id(2026, 3, 1, 11),
            id(2026, 3, 2, 10),
            id(2026, 3, 2, 12),
            id(2026, 3, 3, 11),
        ];
        // Only keep-last 1: the newest.
        let one = KeepPolicy {
            last: 1,
            ..Default::default()
        };
        assert_eq!(
            choose(&ids, &one).into_iter().collect::<Vec<_>>(),
            vec![ids[5].clone()]
        );
        // Daily 2: the newest of 3 March and of 2 March (the later one).
        let daily = KeepPolicy {
            daily: 2,
            ..Default::default()
        };
        let kept = choose(&ids, &daily);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept.contains(&ids[5]) && kept.contains(&ids[4]));
        // Monthly 3: March 2026, December 2025, January 2025.
        let monthly = KeepPolicy {
            monthly: 3,
            ..Default::default()
        };
        let kept = choose(&ids, &monthly);
        assert_eq!(
            kept,
            [&ids[0], &ids[1], &ids[5]].into_iter().cloned().collect()
        );
        // Yearly 5: the newest of 2026 and of 2025.
        let yearly = KeepPolicy {
            yearly: 5,
            ..Default::default()
        };
        assert_eq!(
            choose(&ids, &yearly),
            [&ids[1], &ids[5]].into_iter().cloned().collect()
        );
    }

    #[test]
    fn a_snapshot_whose_name_does_not_parse_is_kept() {
        let ids = vec!["odd".to_string(), id(2026, 3, 3, 11)];
        let kept = choose(
            &ids,
            &KeepPolicy {
                last: 1,
                ..Default::default()
            },
        );
        assert!(kept.contains("odd"));
    }
}
