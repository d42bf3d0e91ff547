//! Encryption of a repository that leaves the practice (the off-site copy, a
//! removable disk taken home): [age](https://age-encryption.org) with an
//! X25519 key, the format of `age-keygen`, so that a copy can be opened with
//! the `age` tool alone if sansfilm is ever gone.
//!
//! - Every blob and every manifest is an age file. The marker stays clear
//!   and says which public key the repository was made for, so that a wrong
//!   key file is refused by name rather than failing blob by blob.
//! - Blob names are not the content's SHA-256 (which anyone holding the same
//!   DICOM file could compute and look for) but an HMAC of it under a key
//!   derived from the secret key: whoever holds the key file has everything
//!   a restore needs, and the holder of the target learns only sizes.
//!
//! The key file is the practice's to keep apart: without it no one, the
//! practice included, can read the copy.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// What a repository's marker names its encryption by.
pub const SCHEME: &str = "age-x25519";

/// The key of an encrypted repository: an age X25519 identity.
#[derive(Clone)]
pub struct Key {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    names: [u8; 32],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("Key")
            .field("recipient", &self.recipient())
            .finish()
    }
}

impl Key {
    /// A new random key.
    pub fn generate() -> Key {
        Key::from_identity(age::x25519::Identity::generate())
    }

    fn from_identity(identity: age::x25519::Identity) -> Key {
        let secret = identity.to_string();
        let mut names = Sha256::new();
        names.update(b"sansfilm-backup blob names v1\0");
        names.update(secret.expose_secret().as_bytes());
        Key {
            recipient: identity.to_public(),
            identity,
            names: names.finalize().into(),
        }
    }

    /// Reads a key from the text of a key file: `#` comments and one
    /// `AGE-SECRET-KEY-1…` line, as `age-keygen` writes it.
    pub fn from_text(text: &str) -> std::result::Result<Key, String> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let line = lines
            .next()
            .ok_or("no AGE-SECRET-KEY-1… line (write one with `sansfilm backup new-key FILE`)")?;
        if lines.next().is_some() {
            return Err("more than one key; a backup key file holds exactly one".into());
        }
        let identity = age::x25519::Identity::from_str(line)
            .map_err(|e| format!("not an age X25519 secret key: {e}"))?;
        Ok(Key::from_identity(identity))
    }

    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<Key> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("backup key file {}", path.display()), e))?;
        Key::from_text(&text)
            .map_err(|why| Error::Refused(format!("backup key file {}: {why}", path.display())))
    }

    /// Writes a new key to `path`, readable by its owner only; refuses to
    /// overwrite a file (a key overwritten is every backup made with it lost).
    pub fn write_new(path: &Path) -> Result<Key> {
        use std::os::unix::fs::OpenOptionsExt;
        let key = Key::generate();
        let text = format!(
            "# sansfilm backup key, created {}\n# public key: {}\n{}\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            key.recipient(),
            key.identity.to_string().expose_secret()
        );
        let io_err = |e| Error::io(format!("writing backup key file {}", path.display()), e);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err)?;
        file.write_all(text.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(key)
    }

    /// The public key (`age1…`) that the repository is encrypted to.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    /// The name under which content with this SHA-256 is kept.
    pub(crate) fn blob_id(&self, sha256: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.names).expect("any key length");
        mac.update(sha256.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Encrypts what `fill` writes into `out`.
    pub(crate) fn encrypt(
        &self,
        out: &mut dyn Write,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            &self.recipient as &dyn age::Recipient,
        ))
        .map_err(io::Error::other)?;
        let mut writer = encryptor.wrap_output(out)?;
        fill(&mut writer)?;
        writer.finish()?;
        Ok(())
    }

    /// The plaintext of an age file. A file that is not one, was made for
    /// another key or was altered fails with [`io::ErrorKind::InvalidData`].
    pub(crate) fn decrypt(&self, input: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
        let invalid = |e: age::DecryptError| io::Error::new(io::ErrorKind::InvalidData, e);
        let decryptor = age::Decryptor::new(input).map_err(invalid)?;
        let reader = decryptor
            .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(invalid)?;
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encrypted_reads_back_and_only_with_its_key() {
        let key = Key::generate();
        let mut sealed = Vec::new();
        key.encrypt(&mut sealed, &mut |w| w.write_all(b"DICM pixels"))
            .unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"DICM"));
        let mut back = Vec::new();
        key.decrypt(Box::new(io::Cursor::new(sealed.clone())))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"DICM pixels");

        let other = Key::generate();
        let err = other
            .decrypt(Box::new(io::Cursor::new(sealed.clone())))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // One flipped byte in the payload is found.
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let mut out = Vec::new();
        let read = key
            .decrypt(Box::new(io::Cursor::new(sealed)))
            .and_then(|mut r| r.read_to_end(&mut out));
        assert!(read.is_err());
    }

    #[test]
    fn a_key_file_reads_back_and_names_hide_the_content_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsite.key");
        let key = Key::write_new(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Key::load(&path).unwrap();
        assert_eq!(again.recipient(), key.recipient());
        let sha = "ab".repeat(32);
        assert_eq!(again.blob_id(&sha), key.blob_id(&sha));
        assert_ne!(key.blob_id(&sha), sha);
        assert_ne!(Key::generate().blob_id(&sha), key.blob_id(&sha));
        // Never overwritten.
        assert!(Key::write_new(&path).is_err());
        assert_eq!(Key::load(&path).unwrap().recipient(), key.recipient());
        // Nor shown in debug output.
        assert!(!format!("{key:?}").contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn key_files_that_are_not_one_key_are_refused_with_the_reason() {
        assert!(
            Key::from_text("# nothing\n")
                .unwrap_err()
                .contains("no AGE-SECRET-KEY")
        );
        assert!(
            Key::from_text("AGE-SECRET-KEY-1XYZ\n")
                .unwrap_err()
                .contains("not an age")
        );
        let a = Key::generate();
        let b = Key::generate();
        let two = format!(
            "{}\n{}\n",
            a.identity.to_string().expose_secret(),
            b.identity.to_string().expose_secret()
        );
        assert!(Key::from_text(&two).unwrap_err().contains("more than one"));
    }
}
