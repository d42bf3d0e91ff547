//! The command line of `sansfilm`: verbs, options and their help texts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::audit_cmd;

/// sansfilm: a filmless archive for radiology practices.
///
/// `sansfilm serve` receives images from the modalities into ./sansfilm-data (port
/// 11112, AE title SANSFILM). `sansfilm verify` checks that every stored image is
/// intact. Exit status: 0 success, 1 a check found a problem or a command failed,
/// 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process: DICOM storage (C-STORE), Modality
    /// Worklist (C-FIND) and C-ECHO on one port and AE title, and the HL7 bridge
    /// from the RIS on its own port. Stops cleanly on Ctrl-C or SIGTERM.
    Serve {
        #[command(flatten)]
        common: Common,
        /// DICOM port (0 picks a free one); overrides `[serve] port`.
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// AE title; overrides `[dicom] ae_title`.
        #[arg(long, value_name = "TITLE")]
        aet: Option<String>,
        /// HL7 (MLLP) port of the bridge from the RIS; overrides `[serve] hl7_port`.
        #[arg(long, value_name = "N")]
        hl7_port: Option<u16>,
        /// Web port (DICOMweb, viewer, practice page; 0: none); overrides
        /// `[web] port` (8080, on this machine only unless `[web] bind`).
        #[arg(long, value_name = "N")]
        web_port: Option<u16>,
    },
    /// Practice users of the web pages and DICOMweb: `user add NAME --role
    /// radiologist|secretary|admin` (the password is read from standard
    /// input, 10 characters at least), `user passwd NAME`, `user del NAME`,
    /// `user list`.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Share a study (or all of a patient's) with a referring physician or
    /// the patient: `share create --study UID [--days N]` prints a link and
    /// a short code with its PIN for the report; `share list`, `share revoke
    /// ID`.
    Share {
        #[command(subcommand)]
        command: ShareCommand,
    },
    /// Send DICOM files (or directories of them) to a DICOM server with C-STORE.
    Send {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Associations to open in parallel.
        #[arg(long, value_name = "N", default_value_t = 1)]
        assocs: usize,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
        /// Files or directories (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Query a DICOM archive (C-FIND, Study Root; Patient Root with
    /// --patient-root) and print one line per answer. Example:
    /// `sansfilm find -k PatientName=DUPONT* -k StudyDate=20260101- -k StudyInstanceUID pacs 11112`.
    /// With no -k, the usual keys of the level are asked for.
    Find {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Query/Retrieve Level.
        #[arg(long, default_value = "study", value_parser = ["patient", "study", "series", "image"])]
        level: String,
        /// Patient Root model (the Study Root model otherwise).
        #[arg(long)]
        patient_root: bool,
        /// A key as Keyword=Value (matching: `*` and `?`, ranges such as
        /// 20260101-, UID lists a\b), or Keyword alone to have it returned.
        /// Repeat for several keys.
        #[arg(short = 'k', long = "key", value_name = "KEY=VALUE")]
        keys: Vec<String>,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
    },
    /// Ask a DICOM archive to send a study to an AE (C-MOVE, Study Root).
    /// The archive must know the destination AE's address.
    Move {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Study Instance UID of the study to send.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Destination AE title.
        #[arg(long, value_name = "AE")]
        to: String,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
    },
    /// Fetch a study from a DICOM archive (C-GET, Study Root): the archive
    /// sends the instances back on the same connection, no address of ours
    /// to configure. Each instance is written to OUT/SOP_INSTANCE_UID.dcm,
    /// on disk before the archive is told it arrived. Exit 1 when any
    /// instance did not come.
    Get {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Study Instance UID of the study to fetch.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Directory the instances are written to (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: std::path::PathBuf,
        /// Accept only uncompressed syntaxes (the archive decodes for us);
        /// by default compressed instances come as the archive keeps them.
        #[arg(long)]
        uncompressed: bool,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
    },
    /// Check a DICOM server with C-ECHO.
    Echo {
        /// Our (calling) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM-SCU")]
        aet: String,
        /// The server's (called) AE title.
        #[arg(long, value_name = "TITLE", default_value = "SANSFILM")]
        called_aet: String,
        /// Server host name or address.
        host: String,
        /// Server port.
        port: u16,
    },
    /// Re-hash every stored file against the index; report corrupt, missing and
    /// unindexed (orphan) files. Exit status 1 when anything is wrong.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Index orphan files (left by a crash between write and index) instead
        /// of only reporting them.
        #[arg(long)]
        repair: bool,
    },
    /// Run the archive's compression pass now: every stored instance with
    /// native pixels, old enough and not excluded by the `[compression]`
    /// policy, is replaced by a lossless compressed version, each one decoded
    /// again and compared bit for bit with the original before the swap.
    /// Prints instances, bytes before and after, ratio and time.
    Compress {
        #[command(flatten)]
        common: Common,
        /// Target syntax (default: the configuration's, jpegls).
        #[arg(long, value_parser = ["jpegls", "jpeg2000", "rle"])]
        to: Option<String>,
        /// Minimum age in minutes (default: the configuration's, 60);
        /// 0 compresses everything now.
        #[arg(long)]
        min_age_minutes: Option<u64>,
        /// Worker threads (default: the configuration's; 0 = one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Manage the Modality Worklist.
    Worklist {
        #[command(subcommand)]
        command: WorklistCommand,
    },
    /// The audit trail: verify it, show it, export it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// HL7 tools.
    Hl7 {
        #[command(subcommand)]
        command: Hl7Command,
    },
    /// Transcode one DICOM file. Compressed output is decoded again and
    /// compared bit for bit with the original before it is written; on any
    /// difference nothing is written and the exit status is 1.
    Transcode {
        /// Target syntax. A compressed input is decoded first. The result is
        /// decoded again and compared bit for bit with the original pixels
        /// before it is written; on any difference nothing is written.
        #[arg(long, value_enum)]
        to: TranscodeTarget,
        /// Input file.
        input: PathBuf,
        /// Output file.
        output: PathBuf,
    },
    /// Show what the archive holds.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// Back up the archive to the `[[backup.targets]]` of the configuration
    /// while the servers run: every target, or the one named. Each run is a
    /// snapshot naming every file it holds with its SHA-256; only what the
    /// target lacks is sent. `backup list --target NAME` shows the
    /// snapshots; `backup drill --target NAME` restores the latest into a
    /// scratch directory and proves it (exit 1 when anything is wrong).
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        #[command(flatten)]
        common: Common,
        /// Only this target (by its `name`).
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
    },
    /// The archive's quality-control procedure: re-read every stored object
    /// (or, with --slice, the nightly share: 1/`[scrub] period_days`, those
    /// checked longest ago first), check it against its SHA-256, decode a
    /// share of the compressed images, and write a dated report (text and
    /// JSON) in DATA_DIR/scrub-reports/ for the practice's quality binder.
    /// A problem raises a security alert in the audit trail. Exit 1 when the
    /// archive is not whole after the pass.
    Scrub {
        #[command(flatten)]
        common: Common,
        /// Put damaged or missing objects back from this backup target.
        #[arg(long, value_name = "NAME")]
        repair_from: Option<String>,
        /// Only the nightly slice, as `sansfilm serve` does at `[scrub] at`.
        #[arg(long)]
        slice: bool,
        /// The report as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the index from the object files alone (an index lost or
    /// damaged beyond `verify --repair`). The old index is kept beside as
    /// index.sqlite.before-reindex-TIME. Refused while a server runs on the
    /// data directory. What only the index knew is not in the files: the
    /// reception time (the file's is used) and sizes before compression.
    Reindex {
        #[command(flatten)]
        common: Common,
    },
    /// Restore a snapshot from a backup target into a new data directory
    /// (it must not exist or be empty); every file is checked against its
    /// SHA-256. Then point `data_dir` at it, or move it in place with the
    /// servers stopped.
    Restore {
        #[command(flatten)]
        common: Common,
        /// The backup target (by its `name`).
        #[arg(long, value_name = "NAME")]
        target: String,
        /// The snapshot (see `backup list`); the latest by default.
        #[arg(long, value_name = "ID")]
        snapshot: Option<String>,
        /// The new data directory.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Make a new key for an encrypted target (`encrypt = true`,
    /// `key_file = "FILE"`): an age X25519 key, written to FILE readable by
    /// its owner only (never over an existing file). Keep a copy apart from
    /// the server (printed, in the safe): without it nobody can read the
    /// backups made with it, the practice included.
    NewKey {
        /// Where to write the key.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// The snapshots of a target, oldest first.
    List {
        #[command(flatten)]
        common: Common,
        /// The backup target.
        #[arg(long, value_name = "NAME")]
        target: String,
    },
    /// Forget the snapshots no --keep-* rule keeps and remove the blobs
    /// only they named. The one command that deletes from a target: run it
    /// where the target is (the backup host, the disk plugged into another
    /// machine), with rights the archive server does not have. The newest
    /// snapshot is always kept, and so are blobs written in the last
    /// --grace-hours (a backup running meanwhile may be about to name them).
    Prune {
        #[command(flatten)]
        common: Common,
        /// The backup target.
        #[arg(long, value_name = "NAME")]
        target: String,
        /// Keep the N newest snapshots.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_last: usize,
        /// Keep the newest snapshot of each of the last N days that have one.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_daily: usize,
        /// Keep the newest of each of the last N weeks.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_weekly: usize,
        /// Keep the newest of each of the last N months.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_monthly: usize,
        /// Keep the newest of each of the last N years.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_yearly: usize,
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Blobs that no snapshot names but written less than this long ago
        /// are kept.
        #[arg(long, value_name = "HOURS", default_value_t = 24)]
        grace_hours: u64,
    },
    /// Restore a snapshot (the latest by default) into a scratch directory,
    /// check every file's SHA-256, decode a sample of images, and prove the
    /// result identical to the live archive as it was at the snapshot.
    /// Exit 1 when anything is wrong.
    Drill {
        #[command(flatten)]
        common: Common,
        /// The backup target.
        #[arg(long, value_name = "NAME")]
        target: String,
        /// The snapshot; the latest by default.
        #[arg(long, value_name = "ID")]
        snapshot: Option<String>,
        /// Images decoded, spread over the snapshot.
        #[arg(long, value_name = "N", default_value_t = 100)]
        sample: usize,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
        /// Where to restore (removed afterwards); the system's temporary
        /// directory by default. It needs the snapshot's size free.
        #[arg(long, value_name = "DIR")]
        scratch: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
        /// What the user may do (only admin changes the configuration).
        #[arg(long, value_parser = ["radiologist", "secretary", "admin"])]
        role: String,
    },
    /// Change a user's password (read from standard input); their sessions end.
    Passwd {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
    },
    /// Remove a user.
    Del {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Share one study (--study) or every study of a patient (--patient).
    Create {
        #[command(flatten)]
        common: Common,
        /// Study Instance UID.
        #[arg(
            long,
            value_name = "UID",
            conflicts_with = "patient",
            required_unless_present = "patient"
        )]
        study: Option<String>,
        /// Patient ID.
        #[arg(long, value_name = "ID")]
        patient: Option<String>,
        /// Days the share lasts (default `[web] share_days`, 30).
        #[arg(long, value_name = "N")]
        days: Option<u32>,
        /// Address of the web server as the recipient reaches it, for the
        /// link (default `[web] public_url`, else this machine's web port).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// List the shares, newest first.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Withdraw a share: its link and code stop working at once.
    Revoke {
        #[command(flatten)]
        common: Common,
        /// The share's number (from `share create` or `share list`).
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorklistCommand {
    /// Load DCMTK-style worklist files (*.wl, as wlmscpfs and Orthanc read them).
    Import {
        #[command(flatten)]
        common: Common,
        /// Directory of .wl files.
        dir: PathBuf,
    },
    /// Print what a device would receive for a query: the answers shaped by the
    /// profile of its AE title. For adapting a new modality.
    Preview {
        #[command(flatten)]
        common: Common,
        /// Calling AE title of the device.
        #[arg(long, value_name = "TITLE")]
        aet: String,
        /// The query identifier (a DICOM file, as findscu takes it).
        query: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no record was altered, deleted, inserted, reordered or
    /// forged, and (with --checkpoint) that the log was not cut short.
    /// Exit status 1 and the record named on any break.
    Verify {
        #[command(flatten)]
        common: Common,
        /// A checkpoint written down earlier (from the service log or a
        /// backup): `SEQ:HASH`.
        #[arg(long, value_name = "SEQ:HASH")]
        checkpoint: Option<String>,
    },
    /// Show records, filtered.
    Show {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        filter: audit_cmd::FilterArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Export records as RFC 5424 syslog lines with DICOM audit messages, or
    /// JSON lines; or send the unsent ones to an audit repository.
    Export {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        filter: audit_cmd::FilterArgs,
        /// `syslog` or `json`.
        #[arg(long, default_value = "syslog")]
        format: String,
        /// Send to a repository instead of printing: udp://HOST:PORT or tcp://HOST:PORT.
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Hl7Command {
    /// Apply HL7 message files through the same path as the HL7 bridge (for
    /// migrations and tests) and print the ACK of each. Exit 1 if any is not AA.
    Replay {
        #[command(flatten)]
        common: Common,
        /// Message files (one or more messages each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options every archive command takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the configuration.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl Common {
    pub fn load(&self) -> Result<sansfilm_services::Config, sansfilm_services::ConfigError> {
        sansfilm_services::Config::load(self.config.as_deref(), self.data_dir.as_deref())
    }
}

/// Targets of `sansfilm transcode`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TranscodeTarget {
    /// JPEG-LS Lossless (1.2.840.10008.1.2.4.80), the archive's default.
    Jpegls,
    /// JPEG 2000 Lossless Only (1.2.840.10008.1.2.4.90).
    Jpeg2000,
    /// RLE Lossless (1.2.840.10008.1.2.5).
    Rle,
    /// Explicit VR Little Endian, uncompressed.
    Explicit,
}
