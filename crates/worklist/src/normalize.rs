//! Text normalisation for matching and for devices that take ASCII only.

use deunicode::deunicode;

/// A person name as compared by matching (shared with Query/Retrieve).
pub use sansfilm_dicom::matching::name_key;

/// Text in plain ASCII: each non-ASCII character replaced by its closest ASCII
/// spelling (`é` → `e`, `Œ` → `OE`).
pub fn to_ascii(text: &str) -> String {
    deunicode(text)
}

/// Text in ISO 8859-1: characters outside Latin-1 (`Œ`, `€`) transliterated,
/// the others kept.
pub fn to_latin1(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) <= 0xFF {
            out.push(c);
        } else {
            out.push_str(deunicode::deunicode_char(c).unwrap_or("?"));
        }
    }
    out
}

/// Cuts `text` to at most `max` characters, never inside a character.
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_names() {
        assert_eq!(
            to_ascii("Hélène Éloïse Müller").to_uppercase(),
            "HELENE ELOISE MULLER"
        );
        assert_eq!(name_key("Hélène^Müller^^"), "HELENE^MULLER");
        assert_eq!(to_latin1("Cœur de Noël"), "Coeur de Noël");
        assert_eq!(truncate_chars("Éloïse", 3), "Élo");
    }
}
