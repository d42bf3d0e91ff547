//! The worklist store: SQLite (WAL) in the data directory, shared by the
//! processes that write it (the HL7 bridge, imports) and read it (wlmserver).
//!
//! Each row is one scheduled procedure step; its matching keys have indexed
//! columns, and the whole entry is kept as JSON. A query is first narrowed in
//! SQL on the indexed keys it gives (exact values, name prefixes, date ranges,
//! station AE titles), then every condition is checked exactly on the few rows
//! left, so that answers follow PS3.4 to the letter without loading the whole
//! worklist.

use std::path::Path;
use std::sync::Mutex;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter, types::Value as SqlValue};

use crate::command::{Applied, Command, JournalEntry, Patient, Rejection, RejectionKind};
use crate::model::{WorklistItem, status};
use crate::normalize::name_key;
use crate::query::{Condition, Matcher, matches};
use crate::{Error, Result};

/// File name of the worklist database in the data directory.
pub const WORKLIST_FILE: &str = "worklist.sqlite";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mwl_items (
    id               INTEGER PRIMARY KEY,
    patient_id       TEXT NOT NULL,
    issuer           TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    accession        TEXT NOT NULL,
    procedure_id     TEXT NOT NULL,
    study_uid        TEXT NOT NULL,
    modality         TEXT NOT NULL,
    start_date       TEXT NOT NULL,
    start_time       TEXT NOT NULL,
    sps_id           TEXT NOT NULL,
    status           TEXT NOT NULL,
    entry            TEXT NOT NULL,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS mwl_patient ON mwl_items (patient_id, issuer);
CREATE INDEX IF NOT EXISTS mwl_name ON mwl_items (name_key);
CREATE INDEX IF NOT EXISTS mwl_accession ON mwl_items (accession);
CREATE INDEX IF NOT EXISTS mwl_procedure ON mwl_items (procedure_id);
CREATE INDEX IF NOT EXISTS mwl_study ON mwl_items (study_uid);
CREATE INDEX IF NOT EXISTS mwl_start ON mwl_items (start_date, start_time);
CREATE INDEX IF NOT EXISTS mwl_modality ON mwl_items (modality, start_date);
CREATE TABLE IF NOT EXISTS mwl_station_aes (
    item_ref INTEGER NOT NULL REFERENCES mwl_items (id) ON DELETE CASCADE,
    ae       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mwl_station_ae ON mwl_station_aes (ae, item_ref);
CREATE INDEX IF NOT EXISTS mwl_station_item ON mwl_station_aes (item_ref);
CREATE TABLE IF NOT EXISTS mwl_patients (
    patient_id  TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    name        TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    sex         TEXT NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (patient_id, issuer)
);
CREATE TABLE IF NOT EXISTS inbound_messages (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    summary     TEXT NOT NULL,
    raw         BLOB NOT NULL,
    UNIQUE (source, message_id)
);
"#;

/// What a search is limited to, besides the query.
#[derive(Debug, Clone, Default)]
pub struct SearchScope {
    /// Most entries returned.
    pub limit: usize,
    /// Entries with these step statuses are left out.
    pub hide_statuses: Vec<String>,
    /// Only entries scheduled on this station AE title (profile option).
    pub station_ae: Option<String>,
}

/// The worklist store.
#[derive(Debug)]
pub struct WorklistStore {
    conn: Mutex<Connection>,
}

impl WorklistStore {
    /// Opens (creating if needed) `worklist.sqlite` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::File {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::open_file(&data_dir.join(WORKLIST_FILE))
    }

    /// Opens a store at an explicit path (`:memory:` works for tests).
    pub fn open_file(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        // Keep the planner's statistics fresh, so that a query on one station
        // and one day uses the most selective index.
        conn.execute_batch("PRAGMA optimize=0x10002;")?;
        Ok(WorklistStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    /// Adds an entry; returns its id. A step without a status is SCHEDULED.
    pub fn insert(&self, item: &WorklistItem) -> Result<i64> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id = insert_in(&tx, item)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Adds many entries in one transaction.
    pub fn insert_many(&self, items: &[WorklistItem]) -> Result<Vec<i64>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let ids = items
                .iter()
                .map(|i| insert_in(&tx, i))
                .collect::<Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Replaces the entry `id`.
    pub fn update(&self, id: i64, item: &WorklistItem) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute("DELETE FROM mwl_items WHERE id = ?1", [id])?;
            if n == 0 {
                return Err(Error::NotFound(format!("worklist entry {id}")));
            }
            insert_with_id(&tx, Some(id), item)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// One entry by id.
    pub fn get(&self, id: i64) -> Result<Option<WorklistItem>> {
        self.with(|c| {
            let json: Option<String> = c
                .query_row("SELECT entry FROM mwl_items WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            json.map(|j| parse_entry(id, &j)).transpose()
        })
    }

    /// Entries of an accession number (all its steps), with their ids.
    pub fn by_accession(&self, accession: &str) -> Result<Vec<(i64, WorklistItem)>> {
        self.select(
            "WHERE accession = ?1",
            vec![SqlValue::from(accession.to_string())],
        )
    }

    /// Sets the step status of every entry of an accession number (CA/DC:
    /// DISCONTINUED; done: COMPLETED). Returns how many entries changed (0
    /// for an unknown accession; [`Command::SetOrderStatus`] refuses that).
    pub fn set_status_by_accession(&self, accession: &str, new_status: &str) -> Result<usize> {
        self.in_transaction(|tx| set_status_in(tx, accession, new_status))
    }

    /// Changes every entry of a patient with `f` (their demographics, say),
    /// in one transaction. Returns how many entries changed.
    pub fn update_patient(
        &self,
        patient_id: &str,
        issuer: &str,
        f: impl Fn(&mut WorklistItem),
    ) -> Result<usize> {
        self.in_transaction(|tx| {
            let entries =
                entries_where(tx, "patient_id = ?1 AND issuer = ?2", &[patient_id, issuer])?;
            rewrite_in(tx, entries, f)
        })
    }

    fn in_transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Applies `commands` and journals the message they come from, in one
    /// transaction: all of it is committed (durably) or none. A message whose
    /// (source, identifier) is already journaled changes nothing.
    pub fn apply(&self, journal: Option<&JournalEntry>, commands: &[Command]) -> Result<Applied> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(j) = journal {
                let seen: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM inbound_messages WHERE source = ?1 AND message_id = ?2",
                        params![j.source, j.message_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if seen.is_some() {
                    return Ok(Applied::AlreadyApplied);
                }
                tx.execute(
                    "INSERT INTO inbound_messages (source, message_id, summary, raw) VALUES (?1, ?2, ?3, ?4)",
                    params![j.source, j.message_id, j.summary, j.raw],
                )?;
            }
            for command in commands {
                apply_one(&tx, command)?;
            }
            tx.commit()?;
            Ok(Applied::Done)
        })
    }

    /// A patient known to the worklist (from ADT or an order).
    pub fn patient(&self, patient_id: &str, issuer: &str) -> Result<Option<Patient>> {
        self.with(|c| Ok(patient_in(c, patient_id, issuer)?))
    }

    /// Number of journaled inbound messages.
    pub fn journal_len(&self) -> Result<usize> {
        self.with(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM inbound_messages", [], |r| {
                    r.get::<_, i64>(0)
                })? as usize,
            )
        })
    }

    /// Number of entries.
    pub fn len(&self) -> Result<usize> {
        self.with(|c| {
            Ok(c.query_row("SELECT count(*) FROM mwl_items", [], |r| r.get::<_, i64>(0))? as usize)
        })
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Entries matching the conditions of a C-FIND identifier, at most
    /// `scope.limit`, ordered by start date and time.
    pub fn search(
        &self,
        conditions: &[Condition],
        scope: &SearchScope,
    ) -> Result<Vec<WorklistItem>> {
        let (where_sql, args) = prefilter(conditions, scope);
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT id, entry FROM mwl_items {where_sql} ORDER BY start_date, start_time, id"
            ))?;
            let mut rows = stmt.query(params_from_iter(args))?;
            let mut out = vec![];
            // Rows are read one at a time and checked exactly; reading stops
            // at the limit, so a wide query never loads the whole worklist.
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let json: String = row.get(1)?;
                let item = parse_entry(id, &json)?;
                if matches(&item.to_dataset(), conditions) {
                    out.push(item);
                    if scope.limit > 0 && out.len() >= scope.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    fn select(&self, where_sql: &str, args: Vec<SqlValue>) -> Result<Vec<(i64, WorklistItem)>> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT id, entry FROM mwl_items {where_sql}"))?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = vec![];
            for row in rows {
                let (id, json) = row?;
                out.push((id, parse_entry(id, &json)?));
            }
            Ok(out)
        })
    }
}

fn parse_entry(id: i64, json: &str) -> Result<WorklistItem> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        id,
        reason: e.to_string(),
    })
}

fn insert_in(tx: &rusqlite::Transaction<'_>, item: &WorklistItem) -> Result<i64> {
    insert_with_id(tx, None, item)
}

fn insert_with_id(
    tx: &rusqlite::Transaction<'_>,
    id: Option<i64>,
    item: &WorklistItem,
) -> Result<i64> {
    let mut item = item.clone();
    if item.status.is_empty() {
        item.status = status::SCHEDULED.to_string();
    }
    let json = serde_json::to_string(&item).map_err(|e| Error::Corrupt {
        id: id.unwrap_or(0),
        reason: e.to_string(),
    })?;
    tx.prepare_cached(
        "INSERT INTO mwl_items (id, patient_id, issuer, name_key, accession, procedure_id, study_uid,
            modality, start_date, start_time, sps_id, status, entry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        item.patient_id,
        item.issuer,
        name_key(&item.patient_name),
        item.accession_number,
        item.requested_procedure_id,
        item.study_uid,
        item.modality,
        item.start_date,
        item.start_time,
        item.sps_id,
        item.status,
        json
    ])?;
    let id = tx.last_insert_rowid();
    for ae in &item.station_aes {
        tx.prepare_cached("INSERT INTO mwl_station_aes (item_ref, ae) VALUES (?1, ?2)")?
            .execute(params![id, ae])?;
    }
    Ok(id)
}

/// SQL that narrows a search using the indexed columns; conditions it cannot
/// express are left to the exact check.
fn prefilter(conditions: &[Condition], scope: &SearchScope) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = vec![];
    let mut args: Vec<SqlValue> = vec![];
    // Each `?` of a clause becomes a numbered parameter bound to the next value.
    let mut push = |clause: &str, values: Vec<String>| {
        let mut numbered = String::new();
        let mut values = values.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                args.push(SqlValue::from(values.next().unwrap_or_default()));
                numbered.push_str(&format!("?{}", args.len()));
            }
            numbered.push_str(part);
        }
        clauses.push(numbered);
    };
    let mut station_given = false;
    let mut station: Option<String> = None;
    let dated = conditions.iter().any(|c| match &c.matcher {
        Matcher::Sequence(sub) if c.tag == tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE => sub
            .iter()
            .any(|s| s.tag == tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
        _ => false,
    });
    let mut column = |tag: Tag, m: &Matcher, push: &mut dyn FnMut(&str, Vec<String>)| {
        let col = match tag {
            t if t == tags::PATIENT_ID => "patient_id",
            t if t == tags::ISSUER_OF_PATIENT_ID => "issuer",
            t if t == tags::ACCESSION_NUMBER => "accession",
            t if t == tags::REQUESTED_PROCEDURE_ID => "procedure_id",
            t if t == tags::STUDY_INSTANCE_UID => "study_uid",
            t if t == tags::MODALITY => "modality",
            t if t == tags::SCHEDULED_PROCEDURE_STEP_ID => "sps_id",
            t if t == tags::SCHEDULED_PROCEDURE_STEP_STATUS => "status",
            t if t == tags::PATIENT_NAME => "name_key",
            t if t == tags::SCHEDULED_STATION_AE_TITLE => {
                station_given = true;
                if let Matcher::Single(ae) = m {
                    station = Some(ae.clone());
                }
                return;
            }
            _ => return,
        };
        match m {
            Matcher::Single(v) if col == "name_key" => push("name_key = ?", vec![name_key(v)]),
            Matcher::Single(v) => push(&format!("{col} = ?"), vec![v.clone()]),
            Matcher::Uids(list) => {
                let marks = vec!["?"; list.len()].join(", ");
                push(&format!("{col} IN ({marks})"), list.clone());
            }
            Matcher::Wildcard(p) => {
                // The literal prefix before the first wildcard narrows by range.
                let prefix: String = p.chars().take_while(|c| *c != '*' && *c != '?').collect();
                let prefix = if col == "name_key" {
                    name_key(&prefix)
                } else {
                    prefix
                };
                if !prefix.is_empty() {
                    push(
                        &format!("{col} >= ? AND {col} < ?"),
                        vec![prefix.clone(), format!("{prefix}\u{10FFFF}")],
                    );
                }
            }
            _ => {}
        }
    };
    for c in conditions {
        match &c.matcher {
            Matcher::Sequence(sub) if c.tag == tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE => {
                for s in sub {
                    match &s.matcher {
                        Matcher::DateTime { lo, hi, .. } => {
                            if let Some(lo) = lo {
                                push(
                                    "start_date >= ?",
                                    vec![lo.get(..8).unwrap_or(lo).to_string()],
                                );
                            }
                            if let Some(hi) = hi {
                                push(
                                    "start_date <= ?",
                                    vec![hi.get(..8).unwrap_or(hi).to_string()],
                                );
                            }
                        }
                        Matcher::Range(lo, hi)
                            if s.tag == tags::SCHEDULED_PROCEDURE_STEP_START_DATE =>
                        {
                            if let Some(lo) = lo {
                                push("start_date >= ?", vec![lo.clone()]);
                            }
                            if let Some(hi) = hi {
                                push("start_date <= ?", vec![hi.clone()]);
                            }
                        }
                        Matcher::Single(d)
                            if s.tag == tags::SCHEDULED_PROCEDURE_STEP_START_DATE =>
                        {
                            push("start_date = ?", vec![d.clone()]);
                        }
                        m => column(s.tag, m, &mut push),
                    }
                }
            }
            m => column(c.tag, m, &mut push),
        }
    }
    if !station_given {
        station = scope.station_ae.clone();
    }
    if let Some(ae) = station {
        // With a date, the day's few rows are checked one by one against the
        // station index; without, the station's rows are looked up first.
        let clause = if dated {
            "EXISTS (SELECT 1 FROM mwl_station_aes s WHERE s.ae = ? AND s.item_ref = mwl_items.id)"
        } else {
            "id IN (SELECT item_ref FROM mwl_station_aes WHERE ae = ?)"
        };
        push(clause, vec![ae]);
    }
    if !scope.hide_statuses.is_empty() {
        let marks = vec!["?"; scope.hide_statuses.len()].join(", ");
        push(
            &format!("status NOT IN ({marks})"),
            scope.hide_statuses.clone(),
        );
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

fn patient_in(c: &Connection, patient_id: &str, issuer: &str) -> rusqlite::Result<Option<Patient>> {
    c.query_row(
        "SELECT patient_id, issuer, name, birth_date, sex FROM mwl_patients WHERE patient_id = ?1 AND issuer = ?2",
        params![patient_id, issuer],
        |r| {
            Ok(Patient {
                patient_id: r.get(0)?,
                issuer: r.get(1)?,
                name: r.get(2)?,
                birth_date: r.get(3)?,
                sex: r.get(4)?,
            })
        },
    )
    .optional()
}

fn upsert_patient(tx: &rusqlite::Transaction<'_>, p: &Patient) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO mwl_patients (patient_id, issuer, name, birth_date, sex) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (patient_id, issuer) DO UPDATE SET name = excluded.name,
             birth_date = excluded.birth_date, sex = excluded.sex,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )?
    .execute(params![p.patient_id, p.issuer, p.name, p.birth_date, p.sex])?;
    Ok(())
}

fn entries_where(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    args: &[&str],
) -> Result<Vec<(i64, WorklistItem)>> {
    let mut stmt = tx.prepare_cached(&format!("SELECT id, entry FROM mwl_items WHERE {sql}"))?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = vec![];
    for row in rows {
        let (id, json) = row?;
        out.push((id, parse_entry(id, &json)?));
    }
    Ok(out)
}

fn rewrite_in(
    tx: &rusqlite::Transaction<'_>,
    entries: Vec<(i64, WorklistItem)>,
    f: impl Fn(&mut WorklistItem),
) -> Result<usize> {
    let n = entries.len();
    for (id, mut item) in entries {
        f(&mut item);
        tx.execute("DELETE FROM mwl_items WHERE id = ?1", [id])?;
        insert_with_id(tx, Some(id), &item)?;
    }
    Ok(n)
}

/// Sets the status of every step of an order; returns how many.
fn set_status_in(
    tx: &rusqlite::Transaction<'_>,
    accession: &str,
    new_status: &str,
) -> Result<usize> {
    let entries = entries_where(tx, "accession = ?1", &[accession])?;
    rewrite_in(tx, entries, |i| i.status = new_status.to_string())
}

fn reject(kind: RejectionKind, reason: String) -> Error {
    Error::Rejected(Rejection { reason, kind })
}

fn apply_one(tx: &rusqlite::Transaction<'_>, command: &Command) -> Result<()> {
    match command {
        Command::UpsertPatient(p) => {
            upsert_patient(tx, p)?;
            let entries = entries_where(
                tx,
                "patient_id = ?1 AND issuer = ?2",
                &[&p.patient_id, &p.issuer],
            )?;
            rewrite_in(tx, entries, |i| p.apply_to(i))?;
        }
        Command::MergePatient { from, into } => {
            let known = patient_in(tx, &from.0, &from.1)?.is_some();
            let entries =
                entries_where(tx, "patient_id = ?1 AND issuer = ?2", &[&from.0, &from.1])?;
            if !known && entries.is_empty() {
                return Err(reject(
                    RejectionKind::UnknownKey,
                    format!(
                        "patient {} (issuer {:?}) to merge is unknown",
                        from.0, from.1
                    ),
                ));
            }
            upsert_patient(tx, into)?;
            rewrite_in(tx, entries, |i| into.apply_to(i))?;
            tx.execute(
                "DELETE FROM mwl_patients WHERE patient_id = ?1 AND issuer = ?2",
                params![from.0, from.1],
            )?;
        }
        Command::ChangePatientId { from, to } => {
            let old = patient_in(tx, &from.0, &from.1)?;
            let entries =
                entries_where(tx, "patient_id = ?1 AND issuer = ?2", &[&from.0, &from.1])?;
            if old.is_none() && entries.is_empty() {
                return Err(reject(
                    RejectionKind::UnknownKey,
                    format!(
                        "patient {} (issuer {:?}) to renumber is unknown",
                        from.0, from.1
                    ),
                ));
            }
            // Demographics the message leaves empty are kept from before.
            let mut new = to.clone();
            if let Some(old) = old {
                if new.name.is_empty() {
                    new.name = old.name;
                }
                if new.birth_date.is_empty() {
                    new.birth_date = old.birth_date;
                }
                if new.sex.is_empty() {
                    new.sex = old.sex;
                }
            }
            upsert_patient(tx, &new)?;
            rewrite_in(tx, entries, |i| new.apply_to(i))?;
            tx.execute(
                "DELETE FROM mwl_patients WHERE patient_id = ?1 AND issuer = ?2",
                params![from.0, from.1],
            )?;
        }
        Command::CancelPatientSteps((id, issuer)) => {
            let entries = entries_where(
                tx,
                "patient_id = ?1 AND issuer = ?2 AND status NOT IN ('COMPLETED', 'DISCONTINUED')",
                &[id, issuer],
            )?;
            rewrite_in(tx, entries, |i| i.status = status::DISCONTINUED.into())?;
        }
        Command::CreateOrder(items) => {
            for item in items {
                let exists: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM mwl_items WHERE accession = ?1 AND sps_id = ?2",
                        params![item.accession_number, item.sps_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if exists.is_some() {
                    return Err(reject(
                        RejectionKind::DuplicateKey,
                        format!(
                            "order {} step {} already exists",
                            item.accession_number, item.sps_id
                        ),
                    ));
                }
                insert_in(tx, item)?;
            }
            if let Some(first) = items.first() {
                upsert_patient(
                    tx,
                    &Patient {
                        patient_id: first.patient_id.clone(),
                        issuer: first.issuer.clone(),
                        name: first.patient_name.clone(),
                        birth_date: first.birth_date.clone(),
                        sex: first.sex.clone(),
                    },
                )?;
            }
        }
        Command::ReplaceOrder { accession, items } => {
            let n = tx.execute("DELETE FROM mwl_items WHERE accession = ?1", [accession])?;
            if n == 0 {
                return Err(reject(
                    RejectionKind::UnknownKey,
                    format!("order {accession} is unknown"),
                ));
            }
            for item in items {
                insert_in(tx, item)?;
            }
        }
        Command::SetOrderStatus {
            accession,
            status: new_status,
        } => {
            if set_status_in(tx, accession, new_status)? == 0 {
                return Err(reject(
                    RejectionKind::UnknownKey,
                    format!("order {accession} is unknown"),
                ));
            }
        }
    }
    Ok(())
}
