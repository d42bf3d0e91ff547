//! What the data directory remembers of its backups (`last-backup.json`):
//! per target, the last snapshot and when, for `sansfilm status`, the
//! practice page, and the warning when a disk of the rotation is overdue.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// File in the data directory.
pub const LAST_BACKUP_FILE: &str = "last-backup.json";

/// The last backup to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastBackup {
    /// The snapshot.
    pub snapshot: String,
    /// When it ended (Unix seconds).
    pub at: i64,
    /// Objects it holds.
    pub objects: u64,
    /// Bytes it holds.
    pub bytes: u64,
    /// Objects left out of it (damaged in the archive, for instance).
    pub problems: u64,
    /// Instances left out while they waited for compression.
    #[serde(default)]
    pub deferred: u64,
}

/// Every target's last backup, by target name.
pub type BackupState = BTreeMap<String, LastBackup>;

/// Reads `last-backup.json` (empty when there is none or it is unreadable).
pub fn load(data_dir: &Path) -> BackupState {
    fs::read(data_dir.join(LAST_BACKUP_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records a backup to `target`, atomically (temporary file, rename).
pub fn record(data_dir: &Path, target: &str, last: LastBackup) -> Result<()> {
    let mut state = load(data_dir);
    state.insert(target.to_string(), last);
    let path = data_dir.join(LAST_BACKUP_FILE);
    let tmp = data_dir.join(format!("{LAST_BACKUP_FILE}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&state).expect("state serialises"))?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Age in whole days of a backup made at `at`, seen at `now` (Unix seconds).
pub fn age_days(at: i64, now: i64) -> i64 {
    (now - at).max(0) / 86_400
}
