//! A parsed HL7 v2 message: bytes decoded from the MSH-18 character set,
//! structure parsed by hl7-parser with the separators the message declares in
//! MSH-1 and MSH-2, kept as an owned tree with accessors by location
//! (`PID-5.1`).

use hl7_parser::message::Separators;
use serde::{Deserialize, Serialize};

use crate::charset::Hl7Charset;
use crate::escape::unescape;

/// A field: repetitions of components of subcomponents, raw (still escaped).
pub type RawField = Vec<Vec<Vec<String>>>;

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Segment ID (`PID`).
    pub name: String,
    /// Fields, `fields[0]` being field 1 (for MSH, MSH-1 is the separator).
    pub fields: Vec<RawField>,
}

/// Why a message cannot be read; the ACK is then AR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// HL7 table 0357 code.
    pub code: u16,
    /// What is wrong.
    pub reason: String,
}

/// A parsed message.
#[derive(Debug, Clone)]
pub struct Hl7Message {
    /// Separators from MSH-1 and MSH-2.
    pub separators: Separators,
    /// Character set from MSH-18.
    pub charset: Hl7Charset,
    /// The segments, MSH first.
    pub segments: Vec<Segment>,
}

/// A location in a message: `SEG-F`, `SEG-F.C` or `SEG-F.C.S` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldPath {
    /// Segment ID.
    pub segment: String,
    /// Field number.
    pub field: usize,
    /// Component number, if any.
    pub component: Option<usize>,
    /// Subcomponent number, if any.
    pub subcomponent: Option<usize>,
}

impl TryFrom<String> for FieldPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.to_string()
    }
}

impl std::str::FromStr for FieldPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a field location like PID-5 or OBR-4.2");
        let (segment, rest) = s.split_once('-').ok_or_else(bad)?;
        if segment.len() != 3 || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let mut nums = rest
            .split('.')
            .map(|n| n.parse::<usize>().ok().filter(|&n| n > 0));
        let field = nums.next().flatten().ok_or_else(bad)?;
        let component = match nums.next() {
            Some(c) => Some(c.ok_or_else(bad)?),
            None => None,
        };
        let subcomponent = match nums.next() {
            Some(c) => Some(c.ok_or_else(bad)?),
            None => None,
        };
        if nums.next().is_some() {
            return Err(bad());
        }
        Ok(FieldPath {
            segment: segment.to_string(),
            field,
            component,
            subcomponent,
        })
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.segment, self.field)?;
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// Reads the MSH line as ASCII to find the separators and MSH-18 before the
/// rest of the message is decoded.
fn msh_preview(bytes: &[u8]) -> Result<(char, Vec<String>), ParseFailure> {
    let fail = |reason: &str| ParseFailure {
        code: 100,
        reason: reason.to_string(),
    };
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let bytes = &bytes[start..];
    if !bytes.starts_with(b"MSH") || bytes.len() < 8 {
        return Err(fail("the message does not start with an MSH segment"));
    }
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line: String = bytes[..line_end].iter().map(|&b| b as char).collect();
    let sep = line[3..]
        .chars()
        .next()
        .ok_or_else(|| fail("MSH has no field separator"))?;
    if sep.is_alphanumeric() {
        return Err(fail("MSH-1 field separator is missing"));
    }
    Ok((sep, line.split(sep).map(str::to_string).collect()))
}

/// Limits on the structure of one message, checked on its bytes before it is
/// parsed: the parsed tree costs a few hundred bytes per value, so a 15 MB
/// message of 2.5 million one-field segments would take gigabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Segments in one message.
    pub max_segments: usize,
    /// Values in one message: fields, repetitions, components and
    /// subcomponents (each separator starts one).
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_segments: 10_000,
            max_values: 200_000,
        }
    }
}

impl Limits {
    /// Counts segments and values in the raw bytes (separators from MSH-1
    /// and MSH-2); fails with the setting to raise when a count is over.
    fn check(&self, bytes: &[u8], field_sep: char, encoding: &str) -> Result<(), ParseFailure> {
        // MSH-2: component, repetition, escape, subcomponent; the escape
        // character starts no value.
        let mut seps = [field_sep as u32 as u8, 0, 0, 0];
        for (i, c) in encoding
            .chars()
            .take(4)
            .enumerate()
            .filter(|&(i, _)| i != 2)
        {
            seps[1 + i.min(2)] = c as u32 as u8;
        }
        let (mut segments, mut values) = (0usize, 0usize);
        let mut after_terminator = true;
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                after_terminator = true;
            } else {
                if after_terminator {
                    segments += 1;
                    after_terminator = false;
                }
                if seps.contains(&b) && b != 0 {
                    values += 1;
                }
            }
        }
        let over = |what: &str, n: usize, max: usize, setting: &str| ParseFailure {
            code: 207,
            reason: format!("{n} {what} in one message, at most {max} accepted ([hl7] {setting})"),
        };
        if segments > self.max_segments {
            return Err(over(
                "segments",
                segments,
                self.max_segments,
                "max_segments",
            ));
        }
        if values > self.max_values {
            return Err(over("values", values, self.max_values, "max_values"));
        }
        Ok(())
    }
}

impl Hl7Message {
    /// Parses a message from the bytes of an MLLP frame, within the default
    /// [`Limits`].
    pub fn parse(bytes: &[u8]) -> Result<Hl7Message, ParseFailure> {
        Self::parse_within(bytes, &Limits::default())
    }

    /// Parses a message from the bytes of an MLLP frame; a message larger in
    /// structure than `limits` is refused before it is parsed.
    pub fn parse_within(bytes: &[u8], limits: &Limits) -> Result<Hl7Message, ParseFailure> {
        let (sep, msh_fields) = msh_preview(bytes)?;
        let encoding = msh_fields.get(1).map(String::as_str).unwrap_or("^~\\&");
        limits.check(bytes, sep, encoding)?;
        let msh18 = msh_fields.get(17).map(String::as_str).unwrap_or("");
        let charset =
            Hl7Charset::from_msh18(msh18).map_err(|reason| ParseFailure { code: 203, reason })?;
        let text = charset
            .decode(bytes)
            .map_err(|reason| ParseFailure { code: 102, reason })?;
        let text = text.trim_start_matches(|c: char| c.is_whitespace());
        let message =
            hl7_parser::Message::parse_with_lenient_newlines(text, true).map_err(|e| {
                ParseFailure {
                    code: 100,
                    reason: format!("cannot parse the message: {e}"),
                }
            })?;
        let parsed = message.raw_value().len();
        let meaningful = text.trim_end_matches(['\r', '\n', ' ', '\0', '\x1a']).len();
        if parsed < meaningful {
            let line = text[..parsed].matches(['\r', '\n']).count() + 1;
            return Err(ParseFailure {
                code: 100,
                reason: format!("segment {line} cannot be parsed (byte {parsed})"),
            });
        }
        let segments = message
            .segments()
            .map(|s| Segment {
                name: s.name.to_string(),
                fields: s
                    .fields()
                    .map(|f| {
                        f.repeats()
                            .map(|r| {
                                r.components()
                                    .map(|c| {
                                        c.subcomponents().map(|sc| sc.value.to_string()).collect()
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        for s in &segments {
            if s.name.len() != 3
                || !s
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return Err(ParseFailure {
                    code: 100,
                    reason: format!("invalid segment ID {:?}", s.name),
                });
            }
        }
        Ok(Hl7Message {
            separators: message.separators,
            charset,
            segments,
        })
    }

    /// The first segment with this ID.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// Every segment with this ID, in order.
    pub fn segments_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.name == name)
    }

    /// The decoded value at `path` in the first repetition of the first such
    /// segment; a whole field or component is returned with its separators.
    pub fn value(&self, path: &FieldPath) -> String {
        self.segment(&path.segment)
            .map(|s| self.value_in(s, path, 0))
            .unwrap_or_default()
    }

    /// The decoded value at `path` in `segment`, repetition `rep` (0-based).
    pub fn value_in(&self, segment: &Segment, path: &FieldPath, rep: usize) -> String {
        let Some(field) = segment.fields.get(path.field - 1) else {
            return String::new();
        };
        let Some(repeat) = field.get(rep) else {
            return String::new();
        };
        let sep = &self.separators;
        let raw = match (path.component, path.subcomponent) {
            (None, _) => repeat
                .iter()
                .map(|c| c.join(&sep.subcomponent.to_string()))
                .collect::<Vec<_>>()
                .join(&sep.component.to_string()),
            (Some(c), None) => repeat
                .get(c - 1)
                .map(|c| c.join(&sep.subcomponent.to_string()))
                .unwrap_or_default(),
            (Some(c), Some(s)) => repeat
                .get(c - 1)
                .and_then(|c| c.get(s - 1))
                .cloned()
                .unwrap_or_default(),
        };
        unescape(&raw, sep, self.charset)
    }

    /// Number of repetitions of a field in a segment.
    pub fn repetitions(&self, segment: &Segment, field: usize) -> usize {
        segment.fields.get(field - 1).map(|f| f.len()).unwrap_or(0)
    }

    /// Component `c` (1-based) of repetition `rep` of field `f`, decoded.
    pub fn component(&self, segment: &Segment, f: usize, rep: usize, c: usize) -> String {
        self.value_in(
            segment,
            &FieldPath {
                segment: segment.name.clone(),
                field: f,
                component: Some(c),
                subcomponent: None,
            },
            rep,
        )
    }

    /// MSH-n, decoded (MSH-1 is the field separator, MSH-2 the encoding
    /// characters, as the standard numbers them).
    pub fn msh(&self, n: usize) -> String {
        match n {
            1 => self.separators.field.to_string(),
            2 => format!(
                "{}{}{}{}",
                self.separators.component,
                self.separators.repetition,
                self.separators.escape,
                self.separators.subcomponent
            ),
            n => self.value(&FieldPath {
                segment: "MSH".into(),
                field: n,
                component: None,
                subcomponent: None,
            }),
        }
    }

    /// Message type (MSH-9.1), trigger event (MSH-9.2) and control ID (MSH-10).
    pub fn kind(&self) -> (String, String, String) {
        let msh9 = |c| {
            self.value(&FieldPath {
                segment: "MSH".into(),
                field: 9,
                component: Some(c),
                subcomponent: None,
            })
        };
        (msh9(1), msh9(2), self.msh(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p: FieldPath = "OBR-4.2".parse().unwrap();
        assert_eq!(
            (p.segment.as_str(), p.field, p.component),
            ("OBR", 4, Some(2))
        );
        assert_eq!(p.to_string(), "OBR-4.2");
        assert!("OBR".parse::<FieldPath>().is_err());
        assert!("OBR-0".parse::<FieldPath>().is_err());
    }

    #[test]
    fn custom_separators_and_escapes() {
        let m = Hl7Message::parse(
            b"MSH#!@%*#SENDER#FAC#R#RF#2026##ADT!A01#1#P#2.5\rPID###ID1!!!AUTH##Dupont!Jean\r",
        )
        .unwrap();
        assert_eq!(m.msh(3), "SENDER");
        let name: FieldPath = "PID-5.2".parse().unwrap();
        assert_eq!(m.value(&name), "Jean");
        let (t, e, id) = m.kind();
        assert_eq!((t.as_str(), e.as_str(), id.as_str()), ("ADT", "A01", "1"));
    }

    #[test]
    fn no_msh_and_garbage_segments_are_refused() {
        assert_eq!(Hl7Message::parse(b"PID|||1\r").unwrap_err().code, 100);
        assert!(Hl7Message::parse(b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5\rPIDX|bad\r").is_err());
    }
}
