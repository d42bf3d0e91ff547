//! HL7 escape sequences (`\F\ \S\ \T\ \R\ \E\ \Xhh\`) with the message's own
//! separators.

use hl7_parser::message::Separators;

use crate::charset::Hl7Charset;

/// Decodes the escape sequences of a raw value.
pub fn unescape(raw: &str, seps: &Separators, charset: Hl7Charset) -> String {
    let esc = seps.escape;
    if !raw.contains(esc) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(esc) {
        out.push_str(&rest[..start]);
        let after = &rest[start + esc.len_utf8()..];
        let Some(end) = after.find(esc) else {
            // An unterminated escape is kept as text.
            out.push_str(&rest[start..]);
            return out;
        };
        let seq = &after[..end];
        match seq {
            "F" => out.push(seps.field),
            "S" => out.push(seps.component),
            "T" => out.push(seps.subcomponent),
            "R" => out.push(seps.repetition),
            "E" => out.push(esc),
            ".br" => out.push('\r'),
            "H" | "N" => {}
            s if s.starts_with('X')
                && s.len() % 2 == 1
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                let bytes: Vec<u8> = (1..s.len())
                    .step_by(2)
                    .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                    .collect();
                out.push_str(&charset.decode_escaped(&bytes));
            }
            // Character set switches (\C..\, \M..\) and local escapes (\Z..\)
            // carry no text.
            s if s.starts_with(['C', 'M', 'Z']) => {}
            other => {
                out.push(esc);
                out.push_str(other);
                out.push(esc);
            }
        }
        rest = &after[end + esc.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for a field of a reply.
pub fn escape(text: &str, seps: &Separators) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = if c == seps.escape {
            Some('E')
        } else if c == seps.field {
            Some('F')
        } else if c == seps.component {
            Some('S')
        } else if c == seps.subcomponent {
            Some('T')
        } else if c == seps.repetition {
            Some('R')
        } else {
            None
        };
        match code {
            Some(code) => {
                out.push(seps.escape);
                out.push(code);
                out.push(seps.escape);
            }
            None if c == '\r' || c == '\n' => out.push(' '),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let s = Separators::default();
        assert_eq!(
            unescape(r"A\F\B\S\C\T\D\R\E\E\F", &s, Hl7Charset::Utf8),
            "A|B^C&D~E\\F"
        );
        assert_eq!(
            unescape(r"Fran\XC3A7\ois", &s, Hl7Charset::Utf8),
            "François"
        );
        assert_eq!(
            unescape(r"Fran\XE7\ois", &s, Hl7Charset::Latin1),
            "François"
        );
        assert_eq!(
            unescape(r"Hélène \S\ ok", &s, Hl7Charset::Utf8),
            "Hélène ^ ok"
        );
        assert_eq!(unescape(r"broken\F", &s, Hl7Charset::Utf8), r"broken\F");
        assert_eq!(escape("a|b^c", &s), r"a\F\b\S\c");
    }
}
