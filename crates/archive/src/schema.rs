//! The SQLite schema of the index, and its migrations.
//!
//! Levels follow the DICOM information model: patient, study, series, instance.
//! Every key that a query/retrieve service needs has a column. Text is UTF-8,
//! decoded from each instance's Specific Character Set.

use rusqlite::Connection;

use crate::Result;

/// Statements that bring an empty database to version 1.
const V1: &str = r#"
CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    patient_id  TEXT NOT NULL,
    issuer      TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL DEFAULT '',
    birth_date  TEXT NOT NULL DEFAULT '',
    sex         TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, issuer)
);
CREATE INDEX patients_name ON patients (name);

CREATE TABLE studies (
    id                  INTEGER PRIMARY KEY,
    patient_ref         INTEGER NOT NULL REFERENCES patients (id),
    study_uid           TEXT NOT NULL UNIQUE,
    study_date          TEXT NOT NULL DEFAULT '',
    study_time          TEXT NOT NULL DEFAULT '',
    accession_number    TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    referring_physician TEXT NOT NULL DEFAULT '',
    study_id            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX studies_patient ON studies (patient_ref);
CREATE INDEX studies_date ON studies (study_date);
CREATE INDEX studies_accession ON studies (accession_number);

CREATE TABLE series (
    id            INTEGER PRIMARY KEY,
    study_ref     INTEGER NOT NULL REFERENCES studies (id),
    series_uid    TEXT NOT NULL UNIQUE,
    modality      TEXT NOT NULL DEFAULT '',
    series_number INTEGER,
    description   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX series_study ON series (study_ref);
CREATE INDEX series_modality ON series (modality);

CREATE TABLE instances (
    id               INTEGER PRIMARY KEY,
    series_ref       INTEGER NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid    TEXT NOT NULL,
    instance_number  INTEGER,
    transfer_syntax  TEXT NOT NULL,
    path             TEXT NOT NULL UNIQUE,
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    content_sha256   TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    calling_ae       TEXT NOT NULL DEFAULT '',
    conflict         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sop_instance_uid, content_sha256)
);
CREATE INDEX instances_series ON instances (series_ref);

-- Modalities in Study (0008,0061), derived from the series.
CREATE VIEW study_modalities AS
    SELECT study_ref, group_concat(DISTINCT modality) AS modalities
    FROM series GROUP BY study_ref;
"#;

/// Version 2: background compression. `original_size` is the size of the
/// file as received (set when a compressed version replaces it);
/// `compression_note` says why an instance was left as it is, so that it is
/// not tried again on every pass.
const V2: &str = r#"
ALTER TABLE instances ADD COLUMN original_size INTEGER;
ALTER TABLE instances ADD COLUMN compression_note TEXT NOT NULL DEFAULT '';
"#;

/// Version 3: Query/Retrieve. The keys viewers ask for (OsiriX and Horos ask
/// for Institution Name, Performing Physician's Name and Study Comments at
/// study level), the accent-free name key that name matching uses, and the
/// indexes that study-level queries filter on. Rows indexed before have
/// these columns empty; `sansfilm verify --repair` fills them again.
const V3: &str = r#"
ALTER TABLE patients ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
CREATE INDEX patients_name_key ON patients (name_key);
CREATE INDEX patients_id ON patients (patient_id);
ALTER TABLE studies ADD COLUMN institution_name TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN study_comments TEXT NOT NULL DEFAULT '';
ALTER TABLE series ADD COLUMN series_date TEXT NOT NULL DEFAULT '';
ALTER TABLE series ADD COLUMN series_time TEXT NOT NULL DEFAULT '';
ALTER TABLE series ADD COLUMN body_part TEXT NOT NULL DEFAULT '';
ALTER TABLE series ADD COLUMN performing_physician TEXT NOT NULL DEFAULT '';
CREATE INDEX instances_uid ON instances (sop_instance_uid);
"#;

/// Version 4: the scrub. `scrubbed_at` is when the file was last re-read
/// and found whole (NULL: never); the scrub reads the oldest first.
const V4: &str = r#"
ALTER TABLE instances ADD COLUMN scrubbed_at TEXT;
CREATE INDEX instances_scrubbed ON instances (scrubbed_at);
"#;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// Sets the connection options every connection of the index uses.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before it returns, so that a success status
    // sent after it is never a lie, even on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Runs the migrations that have not run yet, in one transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for sql in MIGRATIONS.iter().skip(version) {
        tx.execute_batch(sql)?;
    }
    let backfill_names = version < 3;
    tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
    if backfill_names {
        // The name key is computed (accents removed), not derivable in SQL.
        let names: Vec<(i64, String)> = tx
            .prepare("SELECT id, name FROM patients")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut set = tx.prepare("UPDATE patients SET name_key = ?1 WHERE id = ?2")?;
        for (id, name) in names {
            set.execute(rusqlite::params![
                sansfilm_dicom::matching::name_key(&name),
                id
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
