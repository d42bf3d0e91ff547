//! Character sets named by MSH-18, and decoding of the message bytes.

/// The character set of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hl7Charset {
    /// MSH-18 empty or `ASCII`: read as UTF-8 when valid, else ISO 8859-1
    /// (RIS that send accents without declaring them use one of the two).
    Unspecified,
    /// `8859/1`: ISO 8859-1.
    Latin1,
    /// `UNICODE UTF-8`.
    Utf8,
}

impl Hl7Charset {
    /// The character set that MSH-18 names; `Err` for one not supported.
    pub fn from_msh18(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_uppercase().as_str() {
            "" | "ASCII" => Ok(Hl7Charset::Unspecified),
            "8859/1" | "ISO-8859-1" | "ISO_IR 100" => Ok(Hl7Charset::Latin1),
            "UNICODE UTF-8" | "UTF-8" | "UNICODE" => Ok(Hl7Charset::Utf8),
            other => Err(format!("character set {other:?} (MSH-18) is not supported")),
        }
    }

    /// Decodes message bytes. A message declared `8859/1` whose bytes are
    /// valid UTF-8 with multi-byte characters is read as UTF-8: that is what
    /// such senders mean, and real Latin-1 text is never valid multi-byte UTF-8.
    pub fn decode(self, bytes: &[u8]) -> Result<String, String> {
        match self {
            Hl7Charset::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|e| {
                format!(
                    "invalid UTF-8 at byte {} although MSH-18 says UNICODE UTF-8",
                    e.utf8_error().valid_up_to()
                )
            }),
            Hl7Charset::Latin1 | Hl7Charset::Unspecified => match std::str::from_utf8(bytes) {
                Ok(s) => {
                    if self == Hl7Charset::Latin1 && !s.is_ascii() {
                        tracing::warn!("message declared 8859/1 is UTF-8; read as UTF-8");
                    }
                    Ok(s.to_string())
                }
                Err(_) => Ok(bytes.iter().map(|&b| b as char).collect()),
            },
        }
    }

    /// Encodes text for a reply in this character set (characters outside
    /// Latin-1 become `?` there).
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Hl7Charset::Utf8 | Hl7Charset::Unspecified => text.as_bytes().to_vec(),
            Hl7Charset::Latin1 => text
                .chars()
                .map(|c| if (c as u32) <= 0xFF { c as u8 } else { b'?' })
                .collect(),
        }
    }

    /// Decodes the bytes of a `\Xhh\` escape.
    pub fn decode_escaped(self, bytes: &[u8]) -> String {
        match self {
            Hl7Charset::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            _ => match std::str::from_utf8(bytes) {
                Ok(s) => s.to_string(),
                Err(_) => bytes.iter().map(|&b| b as char).collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(Hl7Charset::Latin1.decode(b"Cl\xe9ment").unwrap(), "Clément");
        assert_eq!(
            Hl7Charset::Latin1.decode("Clément".as_bytes()).unwrap(),
            "Clément"
        );
        assert!(Hl7Charset::Utf8.decode(b"Cl\xe9ment").is_err());
        assert_eq!(Hl7Charset::Latin1.encode("Zoé Œ"), b"Zo\xe9 ?".to_vec());
        assert!(Hl7Charset::from_msh18("8859/7").is_err());
    }
}
