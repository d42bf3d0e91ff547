//! UID validation.
//!
//! UIDs become directory and file names in the archive, so a UID sent by a peer
//! is only trusted after it passes [`is_valid_uid`].

/// Whether `uid` is a well-formed DICOM UID (PS3.5 9.1): 1 to 64 characters,
/// digits separated by single dots, no empty component, no leading zero in a
/// multi-digit component.
///
/// ```
/// use sansfilm_dicom::uid::is_valid_uid;
/// assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.2"));
/// assert!(!is_valid_uid("1.2..3"));
/// assert!(!is_valid_uid("../etc"));
/// ```
pub fn is_valid_uid(uid: &str) -> bool {
    if uid.is_empty() || uid.len() > 64 {
        return false;
    }
    uid.split('.').all(|part| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'))
    })
}

/// Whether `uid` is safe to use as a file name component even if it is not a
/// strictly valid UID (some old devices send leading zeros): only digits and
/// dots, 1 to 64 characters, and not made of dots only.
pub fn is_path_safe_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && uid.bytes().any(|b| b.is_ascii_digit())
        && !uid.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_uids() {
        assert!(is_valid_uid("1.2.3"));
        assert!(is_valid_uid("0.1"));
        assert!(!is_valid_uid(""));
        assert!(!is_valid_uid("1.02"));
        assert!(!is_valid_uid("1.2."));
        assert!(!is_valid_uid(&"1".repeat(65)));
        assert!(!is_valid_uid("1.2/3"));
    }

    #[test]
    fn path_safety() {
        assert!(is_path_safe_uid("1.02.3"));
        assert!(!is_path_safe_uid(".."));
        assert!(!is_path_safe_uid("."));
        assert!(!is_path_safe_uid("1/2"));
        assert!(!is_path_safe_uid(".1"));
    }
}
