//! Practice users, login sessions and share codes, in `web.sqlite` beside
//! the archive's index.
//!
//! - A user has a name, a [`Role`] and a password kept as an argon2 hash
//!   (PHC string, salt inside).
//! - A session is a random 256-bit token in an HttpOnly cookie; the database
//!   keeps its SHA-256 only, with an expiry. It belongs to a user, or to a
//!   share (the holder of a share link or code sees that share only).
//! - A [`Share`] gives one study, or one patient's studies, to whoever holds
//!   its link (a random 128-bit token, kept as its SHA-256) or its short
//!   code with the PIN (the code kept as its SHA-256, the PIN as argon2,
//!   since a 6-digit PIN could be brute-forced from a fast hash). It has an
//!   expiry and can be revoked. Wrong PINs are counted on the share: after
//!   [`MAX_PIN_FAILURES`] the code is locked for [`LOCK_SECS`].
//!
//! Every call blocks (SQLite, argon2): async callers use `spawn_blocking`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// File name of the accounts database in the data directory.
pub const ACCOUNTS_FILE: &str = "web.sqlite";

/// Wrong PINs accepted on one code before it is locked.
pub const MAX_PIN_FAILURES: i64 = 5;

/// How long a code stays locked after too many wrong PINs, in seconds.
pub const LOCK_SECS: i64 = 15 * 60;

/// What a practice user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and compares images, shares studies.
    Radiologist,
    /// Finds studies, shares them, downloads them.
    Secretary,
    /// Everything, and the configuration.
    Admin,
}

impl Role {
    /// The role's name in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Radiologist => "radiologist",
            Role::Secretary => "secretary",
            Role::Admin => "admin",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "radiologist" => Some(Role::Radiologist),
            "secretary" => Some(Role::Secretary),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A practice user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// What a share gives access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One study, by Study Instance UID.
    Study(String),
    /// Every study of one patient, by Patient ID.
    Patient(String),
}

/// A share of a study or a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Its number (recorded in the audit trail with every access).
    pub id: i64,
    /// What it gives.
    pub scope: Scope,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Who made it.
    pub created_by: String,
}

impl Share {
    /// Whether it still opens (not expired, not revoked) at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A share just made: the secrets are shown once, then only their hashes
/// are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    /// The share.
    pub share: Share,
    /// The link's token (base64url, 128 bits).
    pub token: String,
    /// The short code, as printed on a report (`XXXXX-XXXXX`).
    pub code: String,
    /// Its PIN (6 digits).
    pub pin: String,
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A practice user.
    User(User),
    /// The holder of a share.
    Share(Share),
}

/// Why a code and PIN did not open a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No such code, or a wrong PIN.
    Wrong,
    /// Too many wrong PINs: locked for a while.
    Locked,
    /// Expired or revoked.
    Closed,
}

/// The accounts database.
#[derive(Debug, Clone)]
pub struct Accounts {
    conn: Arc<Mutex<Connection>>,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A random secret of `bytes` bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Letters of short codes: Crockford's base 32 (no I, L, O, U), read aloud
/// and typed without confusion.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn random_code() -> String {
    let mut buf = [0u8; 10];
    rand::fill(&mut buf[..]);
    let chars: String = buf
        .iter()
        .map(|b| CODE_ALPHABET[(*b as usize) % 32] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A code as typed: upper case, without spaces or dashes, the letters
/// readers confuse mapped as Crockford's base 32 says.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect()
}

fn hash_secret(secret: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("cannot hash: {e}")))
}

fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    code_hash    TEXT NOT NULL UNIQUE,
    pin_hash     TEXT NOT NULL,
    scope_kind   TEXT NOT NULL,
    scope_value  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    pin_failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT REFERENCES users (name) ON DELETE CASCADE,
    share_id   INTEGER REFERENCES shares (id),
    expires_at INTEGER NOT NULL
);
";

impl Accounts {
    /// Opens (creating if needed) the accounts of the data directory.
    pub fn open(data_dir: &Path) -> Result<Accounts> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let conn = Connection::open(data_dir.join(ACCOUNTS_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Accounts {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&conn)?)
    }

    /// Adds a user; an existing name is an error.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<()> {
        check_user_name(name)?;
        check_password(password)?;
        let hash = hash_secret(password)?;
        let added = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), hash, now()],
            )
        })?;
        if added == 0 {
            return Err(Error::Conflict(format!("user {name} already exists")));
        }
        Ok(())
    }

    /// Changes a user's password; their sessions end.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let hash = hash_secret(password)?;
        let n = self.with(|c| {
            let n = c.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                params![name, hash],
            )?;
            c.execute("DELETE FROM sessions WHERE user_name = ?1", [name])?;
            Ok(n)
        })?;
        if n == 0 {
            return Err(Error::NotFound(format!("no user {name}")));
        }
        Ok(())
    }

    /// Removes a user and their sessions.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        let n = self.with(|c| {
            c.execute("DELETE FROM sessions WHERE user_name = ?1", [name])?;
            c.execute("DELETE FROM users WHERE name = ?1", [name])
        })?;
        if n == 0 {
            return Err(Error::NotFound(format!("no user {name}")));
        }
        Ok(())
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.with(|c| {
            let mut q = c.prepare("SELECT name, role FROM users ORDER BY name")?;
            let rows = q.query_map([], |r| {
                Ok(User {
                    name: r.get(0)?,
                    role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Secretary),
                })
            })?;
            rows.collect()
        })
    }

    /// The user whose name and password these are.
    pub fn check_login(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row: Option<(String, String)> = self.with(|c| {
            c.query_row(
                "SELECT role, password_hash FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        Ok(match row {
            Some((role, hash)) if verify_secret(password, &hash) => Some(User {
                name: name.to_string(),
                role: Role::parse(&role).unwrap_or(Role::Secretary),
            }),
            Some(_) => None,
            None => {
                // As long as a wrong password, so that timing does not tell
                // which names exist.
                let _ = verify_secret(password, DUMMY_HASH);
                None
            }
        })
    }

    /// A user's role and stored password hash, without checking anything
    /// (cheap: no argon2): what tells whether credentials checked a moment
    /// ago still stand (same hash) or the password changed or the user went.
    pub fn stored_hash(&self, name: &str) -> Result<Option<(Role, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT role, password_hash FROM users WHERE name = ?1",
                [name],
                |r| {
                    let role: String = r.get(0)?;
                    Ok((Role::parse(&role).unwrap_or(Role::Secretary), r.get(1)?))
                },
            )
            .optional()
        })
    }

    /// Opens a session for `holder` for `secs` seconds; returns its token.
    pub fn open_session(&self, holder: &Holder, secs: i64) -> Result<String> {
        let token = random_token(32);
        let (user, share) = match holder {
            Holder::User(u) => (Some(u.name.clone()), None),
            Holder::Share(s) => (None, Some(s.id)),
        };
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now()])?;
            c.execute(
                "INSERT INTO sessions (token_hash, user_name, share_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![sha256_hex(&token), user, share, now() + secs],
            )
        })?;
        Ok(token)
    }

    /// Who the session `token` belongs to, while it lasts (and, for a share,
    /// while the share is open).
    pub fn session(&self, token: &str) -> Result<Option<Holder>> {
        let row: Option<(Option<String>, Option<String>, Option<i64>)> = self.with(|c| {
            c.query_row(
                "SELECT s.user_name, u.role, s.share_id FROM sessions s \
                 LEFT JOIN users u ON u.name = s.user_name \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![sha256_hex(token), now()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })?;
        match row {
            Some((Some(name), Some(role), _)) => Ok(Some(Holder::User(User {
                name,
                role: Role::parse(&role).unwrap_or(Role::Secretary),
            }))),
            Some((None, _, Some(id))) => Ok(self
                .share(id)?
                .filter(|s| s.is_open(now()))
                .map(Holder::Share)),
            _ => Ok(None),
        }
    }

    /// Ends a session.
    pub fn close_session(&self, token: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                [sha256_hex(token)],
            )
        })?;
        Ok(())
    }

    /// Makes a share of `scope` for `days` days.
    pub fn create_share(&self, scope: Scope, days: u32, created_by: &str) -> Result<NewShare> {
        if days == 0 || days > 3660 {
            return Err(Error::BadRequest("a share lasts 1 to 3660 days".into()));
        }
        let token = random_token(16);
        let code = random_code();
        let mut pin_bytes = [0u8; 4];
        rand::fill(&mut pin_bytes[..]);
        let pin = format!("{:06}", u32::from_le_bytes(pin_bytes) % 1_000_000);
        let pin_hash = hash_secret(&pin)?;
        let (kind, value) = match &scope {
            Scope::Study(uid) => ("study", uid.clone()),
            Scope::Patient(id) => ("patient", id.clone()),
        };
        let created_at = now();
        let expires_at = created_at + i64::from(days) * 86_400;
        let id = self.with(|c| {
            c.execute(
                "INSERT INTO shares (token_hash, code_hash, pin_hash, scope_kind, scope_value, \
                 created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    sha256_hex(&token),
                    sha256_hex(&normalize_code(&code)),
                    pin_hash,
                    kind,
                    value,
                    created_by,
                    created_at,
                    expires_at
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(NewShare {
            share: Share {
                id,
                scope,
                expires_at,
                revoked_at: None,
                created_by: created_by.to_string(),
            },
            token,
            code,
            pin,
        })
    }

    /// A share by number.
    pub fn share(&self, id: i64) -> Result<Option<Share>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, scope_kind, scope_value, expires_at, revoked_at, created_by \
                 FROM shares WHERE id = ?1",
                [id],
                share_row,
            )
            .optional()
        })
    }

    /// Every share, newest first.
    pub fn shares(&self) -> Result<Vec<Share>> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT id, scope_kind, scope_value, expires_at, revoked_at, created_by \
                 FROM shares ORDER BY id DESC",
            )?;
            let rows = q.query_map([], share_row)?;
            rows.collect()
        })
    }

    /// The share a link's token opens, if it is open.
    pub fn share_by_token(&self, token: &str) -> Result<Option<Share>> {
        let share = self.with(|c| {
            c.query_row(
                "SELECT id, scope_kind, scope_value, expires_at, revoked_at, created_by \
                 FROM shares WHERE token_hash = ?1",
                [sha256_hex(token)],
                share_row,
            )
            .optional()
        })?;
        Ok(share)
    }

    /// The share a short code and its PIN open. A wrong PIN counts against
    /// the code; past [`MAX_PIN_FAILURES`] it is locked for [`LOCK_SECS`].
    pub fn share_by_code(
        &self,
        code: &str,
        pin: &str,
    ) -> Result<std::result::Result<Share, CodeRefusal>> {
        let code_hash = sha256_hex(&normalize_code(code));
        let row: Option<(Share, String, i64)> = self.with(|c| {
            c.query_row(
                "SELECT id, scope_kind, scope_value, expires_at, revoked_at, created_by, \
                 pin_hash, locked_until FROM shares WHERE code_hash = ?1",
                [&code_hash],
                |r| Ok((share_row(r)?, r.get(6)?, r.get(7)?)),
            )
            .optional()
        })?;
        let Some((share, pin_hash, locked_until)) = row else {
            let _ = verify_secret(pin, DUMMY_HASH);
            return Ok(Err(CodeRefusal::Wrong));
        };
        let t = now();
        if locked_until > t {
            return Ok(Err(CodeRefusal::Locked));
        }
        if !verify_secret(pin.trim(), &pin_hash) {
            self.with(|c| {
                c.execute(
                    // The count starts again once the lock is set.
                    "UPDATE shares SET \
                     locked_until = CASE WHEN pin_failures + 1 >= ?2 THEN ?3 ELSE locked_until END, \
                     pin_failures = CASE WHEN pin_failures + 1 >= ?2 THEN 0 ELSE pin_failures + 1 END \
                     WHERE id = ?1",
                    params![share.id, MAX_PIN_FAILURES, t + LOCK_SECS],
                )
            })?;
            return Ok(Err(CodeRefusal::Wrong));
        }
        if !share.is_open(t) {
            return Ok(Err(CodeRefusal::Closed));
        }
        self.with(|c| {
            c.execute(
                "UPDATE shares SET pin_failures = 0 WHERE id = ?1",
                [share.id],
            )
        })?;
        Ok(Ok(share))
    }

    /// Revokes a share: its link, code and sessions stop opening it.
    pub fn revoke_share(&self, id: i64) -> Result<()> {
        let n = self.with(|c| {
            let n = c.execute(
                "UPDATE shares SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now()],
            )?;
            c.execute("DELETE FROM sessions WHERE share_id = ?1", [id])?;
            Ok(n)
        })?;
        if n == 0 {
            return Err(Error::NotFound(format!("no open share {id}")));
        }
        Ok(())
    }
}

fn share_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Share> {
    let kind: String = r.get(1)?;
    let value: String = r.get(2)?;
    Ok(Share {
        id: r.get(0)?,
        scope: if kind == "patient" {
            Scope::Patient(value)
        } else {
            Scope::Study(value)
        },
        expires_at: r.get(3)?,
        revoked_at: r.get(4)?,
        created_by: r.get(5)?,
    })
}

/// An argon2 hash of nothing anyone knows, verified when a name or code does
/// not exist so that the answer takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Fuc2ZpbG1zYW5zZmlsbQ$0S7pZQx6b4c8m0hTq3oO6g0G0b6n9Jw5m0Vd3m1c4aA";

fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "user name {name:?}: 1 to 64 letters, digits, '.', '-', '_' or '@'"
        )))
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 10 {
        return Err(Error::BadRequest(
            "a password has at least 10 characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_one() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn users_log_in_with_their_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        a.add_user("dr.martin", Role::Radiologist, "correct horse battery")
            .unwrap();
        assert!(
            a.add_user("dr.martin", Role::Admin, "another long one")
                .is_err()
        );
        assert!(a.add_user("x", Role::Admin, "short").is_err());
        let u = a
            .check_login("dr.martin", "correct horse battery")
            .unwrap()
            .unwrap();
        assert_eq!(u.role, Role::Radiologist);
        assert!(
            a.check_login("dr.martin", "wrong password!")
                .unwrap()
                .is_none()
        );
        assert!(
            a.check_login("nobody", "correct horse battery")
                .unwrap()
                .is_none()
        );
        let token = a.open_session(&Holder::User(u.clone()), 3600).unwrap();
        assert_eq!(a.session(&token).unwrap(), Some(Holder::User(u)));
        a.set_password("dr.martin", "a new long password").unwrap();
        assert!(
            a.session(&token).unwrap().is_none(),
            "sessions end with the password"
        );
        a.delete_user("dr.martin").unwrap();
        assert!(
            a.check_login("dr.martin", "a new long password")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_share_opens_by_link_or_code_until_revoked_and_locks_after_wrong_pins() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        let new = a
            .create_share(Scope::Study("1.2.3".into()), 30, "secretariat")
            .unwrap();
        assert!(new.token.len() >= 22, "128 bits at least");
        let by_link = a.share_by_token(&new.token).unwrap().unwrap();
        assert_eq!(by_link.scope, Scope::Study("1.2.3".into()));
        assert!(a.share_by_token("not-a-token").unwrap().is_none());
        let typed = new.code.to_lowercase().replace('-', " ");
        assert_eq!(
            a.share_by_code(&typed, &new.pin).unwrap().unwrap().id,
            new.share.id
        );
        let wrong = if new.pin == "000000" {
            "000001"
        } else {
            "000000"
        };
        for _ in 0..MAX_PIN_FAILURES {
            assert_eq!(
                a.share_by_code(&new.code, wrong).unwrap(),
                Err(CodeRefusal::Wrong)
            );
        }
        assert_eq!(
            a.share_by_code(&new.code, &new.pin).unwrap(),
            Err(CodeRefusal::Locked),
            "even the right PIN waits once the code is locked"
        );
        let session = a
            .open_session(&Holder::Share(by_link.clone()), 3600)
            .unwrap();
        assert!(a.session(&session).unwrap().is_some());
        a.revoke_share(new.share.id).unwrap();
        assert!(a.session(&session).unwrap().is_none());
        assert!(
            !a.share_by_token(&new.token)
                .unwrap()
                .unwrap()
                .is_open(now())
        );
    }
}
