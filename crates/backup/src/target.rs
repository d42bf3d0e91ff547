//! Backup targets from the configuration, and how each is reached.
//!
//! ```toml
//! [backup]
//! at = "02:00"                       # daily, in `sansfilm serve`
//!
//! [[backup.targets]]
//! name = "disque2"
//! url = "file:///mnt/backup"         # a second disk or a network mount
//!
//! [[backup.targets]]
//! name = "usb-lundi"                 # a removable disk, by filesystem label
//! url = "label:SANSFILM-LUNDI"       # or uuid:1234-ABCD
//! max_age_days = 8                   # warn when it has not had a backup since
//! encrypt = true                     # the disk leaves the practice: age-encrypted
//! key_file = "/etc/sansfilm/backup.key"  # from `sansfilm backup new-key`; keep a copy apart
//!
//! [[backup.targets]]
//! name = "hors-site"                 # an S3-compatible bucket, always encrypted
//! url = "s3://bucket/cabinet"
//! endpoint = "https://s3.fr-par.scw.cloud"
//! region = "fr-par"
//! credentials_file = "/etc/sansfilm/s3.toml"   # access_key_id, secret_access_key
//! encrypt = true
//! key_file = "/etc/sansfilm/hors-site.key"
//! ```
//!
//! A removable disk is found through `/dev/disk/by-label` (or `by-uuid`) and
//! the mount table; the repository is the `sansfilm-backup` folder on it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crypt::Key;
use crate::repository::Repository;
use crate::s3::{S3Location, S3Store};
use crate::store::{DirStore, Store};
use crate::{Error, Result};

/// Folder that holds the repository on a removable disk.
pub const REMOVABLE_FOLDER: &str = "sansfilm-backup";

/// `[backup]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Time of day (local, `HH:MM`) of the daily backup in `sansfilm serve`;
    /// none: no scheduled backup.
    pub at: Option<String>,
    /// Where backups go.
    pub targets: Vec<TargetConfig>,
}

/// One `[[backup.targets]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Any name, used by `--target`.
    pub name: String,
    /// `file:///path`, `label:LABEL` or `uuid:UUID` (a removable disk).
    pub url: String,
    /// Encrypt what is sent (for an off-site copy).
    #[serde(default)]
    pub encrypt: bool,
    /// The key file of an encrypted target.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Warn when this target has not had a backup for this many days
    /// (default: 2 for a disk always there, 8 for a removable one).
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Leave out the instances still waiting for compression (a later run
    /// sends them compressed), so that the copy is not paid twice: on by
    /// default for an S3 target, off for the others.
    #[serde(default)]
    pub wait_for_compression: Option<bool>,
    /// S3: the server (`https://…`); Amazon's when none is given.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the region (`us-east-1` when none is given).
    #[serde(default)]
    pub region: Option<String>,
    /// S3: a TOML file with `access_key_id` and `secret_access_key`
    /// (readable by the service only); without it, the environment's
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

/// How a target is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory always there.
    Directory(PathBuf),
    /// A removable disk, by `/dev/disk/by-label/X` or `by-uuid/X`.
    Removable {
        /// `by-label` or `by-uuid`.
        by: &'static str,
        /// The label or UUID.
        id: String,
    },
    /// An S3-compatible bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix in it (may be empty).
        prefix: String,
    },
}

impl BackupConfig {
    /// The target named `name`.
    pub fn target(&self, name: &str) -> Result<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
            Error::Refused(if known.is_empty() {
                format!("no backup target {name:?}: the configuration has no [[backup.targets]]")
            } else {
                format!(
                    "no backup target {name:?}; the configuration has {}",
                    known.join(", ")
                )
            })
        })
    }

    /// Checks every target's settings (at start, so that a typo is caught
    /// before the night's backup).
    pub fn validate(&self) -> Result<()> {
        if let Some(at) = &self.at {
            parse_time_of_day(at)?;
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.targets {
            if !names.insert(&t.name) {
                return Err(Error::Refused(format!(
                    "backup target {:?} is named twice",
                    t.name
                )));
            }
            t.location()?;
            t.key_settings()?;
        }
        Ok(())
    }
}

/// `HH:MM` as (hour, minute).
pub fn parse_time_of_day(at: &str) -> Result<(u32, u32)> {
    let bad = || {
        Error::Refused(format!(
            "[backup] at = {at:?}: expected HH:MM, e.g. \"02:00\""
        ))
    };
    let (h, m) = at.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

impl TargetConfig {
    /// Where the target is, from its URL.
    pub fn location(&self) -> Result<Location> {
        let refuse = |why: &str| {
            Err(Error::Refused(format!(
                "backup target {:?}: url {:?}: {why}",
                self.name, self.url
            )))
        };
        let s3_only = self.endpoint.is_some() || self.region.is_some();
        if !self.url.starts_with("s3://") && (s3_only || self.credentials_file.is_some()) {
            return refuse("endpoint, region and credentials_file are for s3:// targets");
        }
        if let Some(path) = self.url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return refuse("a file URL needs an absolute path: file:///mnt/backup");
            }
            return Ok(Location::Directory(PathBuf::from(path)));
        }
        for (prefix, by) in [("label:", "by-label"), ("uuid:", "by-uuid")] {
            if let Some(id) = self.url.strip_prefix(prefix) {
                if id.is_empty() || id.contains('/') {
                    return refuse("not a filesystem label or UUID");
                }
                return Ok(Location::Removable {
                    by,
                    id: id.to_string(),
                });
            }
        }
        if let Some(rest) = self.url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return refuse("expected s3://bucket or s3://bucket/prefix");
            }
            if !self.encrypt {
                return refuse(
                    "an S3 target leaves the practice: it must be encrypted (encrypt = true and \
                     key_file, made by `sansfilm backup new-key FILE`)",
                );
            }
            if let Some(e) = &self.endpoint
                && !e.starts_with("https://")
                && !e.starts_with("http://")
            {
                return refuse("endpoint must be an https:// (or http://) URL");
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        refuse("expected file:///path, label:LABEL, uuid:UUID or s3://bucket/prefix")
    }

    /// The key of an encrypted target, read from its key file; none for a
    /// target in the clear. `encrypt` and `key_file` go together.
    pub fn key(&self) -> Result<Option<Key>> {
        match self.key_settings()? {
            None => Ok(None),
            Some(path) => Key::load(path)
                .map(Some)
                .map_err(|e| Error::Refused(format!("backup target {:?}: {e}", self.name))),
        }
    }

    /// The key file of an encrypted target, checked to go with `encrypt`
    /// (the file itself is read when the target is opened).
    fn key_settings(&self) -> Result<Option<&Path>> {
        match (self.encrypt, &self.key_file) {
            (false, None) => Ok(None),
            (true, Some(path)) => Ok(Some(path)),
            (true, None) => Err(Error::Refused(format!(
                "backup target {:?}: encrypt = true needs key_file (make one with \
                 `sansfilm backup new-key FILE`)",
                self.name
            ))),
            (false, Some(_)) => Err(Error::Refused(format!(
                "backup target {:?}: key_file is set but encrypt is not; say encrypt = true \
                 (or remove key_file) so that it is clear whether copies are encrypted",
                self.name
            ))),
        }
    }

    /// Opens the target's repository, with its key when it is encrypted;
    /// `create`: make the repository when the target holds none yet (a
    /// backup), rather than failing (a restore, a drill).
    pub fn open_repository(&self, create: bool) -> Result<Repository> {
        let key = self.key()?;
        let store = self.open_store()?;
        if create {
            Repository::open_or_create_with(store, key)
        } else {
            Repository::open_with(store, key)
        }
    }

    /// Whether a backup to this target waits for compression.
    pub fn waits_for_compression(&self) -> bool {
        self.wait_for_compression
            .unwrap_or_else(|| matches!(self.location(), Ok(Location::S3 { .. })))
    }

    /// Whether this target is a removable disk.
    pub fn is_removable(&self) -> bool {
        matches!(self.location(), Ok(Location::Removable { .. }))
    }

    /// Days past which a missing backup is warned of.
    pub fn max_age_days(&self) -> u32 {
        self.max_age_days
            .unwrap_or(if self.is_removable() { 8 } else { 2 })
    }

    /// Opens the target's store. A removable disk that is not plugged in
    /// and mounted is [`Error::NotConnected`].
    pub fn open_store(&self) -> Result<Box<dyn Store>> {
        match self.location()? {
            Location::S3 { bucket, prefix } => {
                let (access_key_id, secret_access_key) = self.credentials()?;
                let location = S3Location {
                    bucket,
                    prefix,
                    endpoint: self.endpoint.clone(),
                    region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
                    access_key_id,
                    secret_access_key,
                };
                let store = S3Store::open(&location)
                    .map_err(|e| Error::io(format!("backup target {}", self.name), e))?;
                Ok(Box::new(store))
            }
            _ => Ok(Box::new(self.open_dir_store()?)),
        }
    }

    /// The store of a directory or removable-disk target, with the right to
    /// delete that pruning needs; an S3 target is refused.
    pub fn open_dir_store(&self) -> Result<DirStore> {
        let dir = match self.location()? {
            Location::Directory(dir) => dir,
            Location::Removable { by, id } => {
                let mounts = std::fs::read_to_string("/proc/self/mounts")
                    .map_err(|e| Error::io("reading /proc/self/mounts", e))?;
                match mount_point(Path::new("/dev/disk").join(by).join(&id).as_path(), &mounts) {
                    Some(m) => m.join(REMOVABLE_FOLDER),
                    None => {
                        return Err(Error::NotConnected(format!("{} ({})", self.name, self.url)));
                    }
                }
            }
            Location::S3 { .. } => {
                return Err(Error::Refused(format!(
                    "backup target {:?} is an S3 bucket: sansfilm does not prune there. \
                     Never give its blobs/ an expiration rule: today's snapshot names blobs \
                     written years ago. Only rules for noncurrent versions and incomplete \
                     multipart uploads are safe",
                    self.name
                )));
            }
        };
        DirStore::open(&dir).map_err(|e| Error::io(format!("backup target {}", self.name), e))
    }

    /// Reads what the target needs beyond the configuration (its key file,
    /// its S3 credentials), so that a missing or unreadable one is reported
    /// as the configuration problem it is, before any work starts.
    pub fn check_secrets(&self) -> Result<()> {
        self.key()?;
        if matches!(self.location()?, Location::S3 { .. }) {
            self.credentials()?;
        }
        Ok(())
    }

    /// S3 access keys: from `credentials_file`, else the environment.
    fn credentials(&self) -> Result<(String, String)> {
        if let Some(path) = &self.credentials_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::io(
                    format!(
                        "backup target {}: credentials {}",
                        self.name,
                        path.display()
                    ),
                    e,
                )
            })?;
            // The parser's message only: its full text quotes the line,
            // which may hold the secret.
            let c: Credentials = toml::from_str(&text).map_err(|e: toml::de::Error| {
                Error::Refused(format!(
                    "backup target {:?}: credentials {}: {} (expected access_key_id and \
                     secret_access_key)",
                    self.name,
                    path.display(),
                    e.message()
                ))
            })?;
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                return Err(Error::Refused(format!(
                    "backup target {:?}: credentials {}: access_key_id or secret_access_key \
                     is empty",
                    self.name,
                    path.display()
                )));
            }
            return Ok((c.access_key_id, c.secret_access_key));
        }
        match (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id, secret)),
            _ => Err(Error::Refused(format!(
                "backup target {:?}: no S3 credentials: set credentials_file (access_key_id, \
                 secret_access_key) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.name
            ))),
        }
    }
}

/// Where the device behind `link` (a `/dev/disk/by-*` link) is mounted.
fn mount_point(link: &Path, mounts: &str) -> Option<PathBuf> {
    let device = std::fs::canonicalize(link).ok()?;
    mount_point_of_device(&device, mounts)
}

/// Where `device` is mounted, from the text of `/proc/self/mounts`.
fn mount_point_of_device(device: &Path, mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (dev, mount) = (fields.next()?, fields.next()?);
        let dev = std::fs::canonicalize(dev).unwrap_or_else(|_| PathBuf::from(dev));
        (dev == device).then(|| PathBuf::from(unescape_mount(mount)))
    })
}

/// `/proc/self/mounts` writes a space as `\040` (and tab, newline, `\`).
fn unescape_mount(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> TargetConfig {
        TargetConfig {
            name: "t".into(),
            url: url.into(),
            encrypt: false,
            key_file: None,
            max_age_days: None,
            endpoint: None,
            region: None,
            credentials_file: None,
            wait_for_compression: None,
        }
    }

    #[test]
    fn urls_are_understood_or_refused_with_the_reason() {
        assert_eq!(
            target("file:///mnt/b").location().unwrap(),
            Location::Directory("/mnt/b".into())
        );
        assert_eq!(
            target("label:SANSFILM-A").location().unwrap(),
            Location::Removable {
                by: "by-label",
                id: "SANSFILM-A".into()
            }
        );
        for bad in [
            "file://relative",
            "ftp://x",
            "label:",
            "label:../x",
            "/mnt/b",
        ] {
            assert!(target(bad).location().is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_targets_are_encrypted_and_name_their_bucket() {
        let mut s3 = target("s3://bucket/cabinet/");
        assert!(
            s3.location()
                .unwrap_err()
                .to_string()
                .contains("must be encrypted")
        );
        s3.encrypt = true;
        assert_eq!(
            s3.location().unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "cabinet".into()
            }
        );
        s3.endpoint = Some("ftp://x".into());
        assert!(s3.location().is_err());
        let mut dir = target("file:///b");
        dir.region = Some("fr-par".into());
        assert!(dir.location().unwrap_err().to_string().contains("s3://"));
    }

    #[test]
    fn encrypt_and_key_file_go_together() {
        let mut enc = target("file:///mnt/b");
        enc.encrypt = true;
        assert!(
            enc.key()
                .unwrap_err()
                .to_string()
                .contains("needs key_file")
        );
        enc.key_file = Some("/nonexistent/backup.key".into());
        assert!(
            enc.key()
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/backup.key")
        );
        let mut clear = target("file:///mnt/b");
        clear.key_file = Some("/etc/k".into());
        assert!(
            clear
                .key()
                .unwrap_err()
                .to_string()
                .contains("encrypt is not")
        );
        assert!(target("file:///mnt/b").key().unwrap().is_none());
    }

    #[test]
    fn a_mount_is_found_by_its_device_with_spaces_unescaped() {
        let mounts = "/dev/sdz1 /media/cl\\040USB vfat rw 0 0\n/dev/sdy1 /mnt ext4 rw 0 0\n";
        assert_eq!(
            mount_point_of_device(Path::new("/dev/sdz1"), mounts),
            Some(PathBuf::from("/media/cl USB"))
        );
        assert_eq!(mount_point_of_device(Path::new("/dev/sdx1"), mounts), None);
    }

    #[test]
    fn times_of_day_are_checked() {
        assert_eq!(parse_time_of_day("02:00").unwrap(), (2, 0));
        for bad in ["2h", "24:00", "12:60", ""] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn removable_disks_warn_later_than_fixed_ones() {
        assert_eq!(target("file:///b").max_age_days(), 2);
        assert_eq!(target("label:X").max_age_days(), 8);
    }
}
