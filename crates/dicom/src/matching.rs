//! C-FIND matching (PS3.4 C.2.2.2), one set of rules for every query the
//! archive answers: the Modality Worklist and Query/Retrieve alike.
//!
//! An identifier becomes a list of [`Condition`]s, one per matching key:
//! universal (empty value, or `*`: the key is only returned), single value,
//! wildcard (`*`, `?`, for text VRs), range (`a-b`, `-b`, `a-` for DA, TM,
//! DT), list of UIDs (`uid1\uid2`), and sequence matching (an item of the
//! candidate must satisfy every key of the query's item). A date key and its
//! time key given together can match as one date-time range
//! ([`combine_date_time`], C.2.2.2.5.1). Person names match without regard
//! to case and accents ([`name_key`]), so a query typed on an ASCII-only
//! device finds `Hélène`.
//!
//! ```
//! use dicom_core::{DataElement, PrimitiveValue, VR};
//! use dicom_dictionary_std::tags;
//! use dicom_object::InMemDicomObject;
//! use sansfilm_dicom::matching::{conditions, matches};
//!
//! let query = InMemDicomObject::from_element_iter([
//!     DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("MULLER^HEL*")),
//!     DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20260101-")),
//! ]);
//! let study = InMemDicomObject::from_element_iter([
//!     DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Müller^Hélène")),
//!     DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20261123")),
//! ]);
//! let c = conditions(&query).unwrap();
//! assert!(matches(&study, &c));
//! ```

use deunicode::deunicode;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

/// How one key matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Exact value (PN: case- and accent-insensitive).
    Single(String),
    /// A pattern with `*` and `?`.
    Wildcard(String),
    /// Inclusive range; `None` is open.
    Range(Option<String>, Option<String>),
    /// Any of these UIDs.
    Uids(Vec<String>),
    /// An item of the sequence must match all of these.
    Sequence(Vec<Condition>),
    /// A date key and its time key as one date-time range, values
    /// `YYYYMMDDHHMMSS` (prefix-comparable); the condition's tag is the
    /// date's, `time` the time's.
    DateTime {
        /// The time attribute matched with the date.
        time: Tag,
        /// Lower bound, if any.
        lo: Option<String>,
        /// Upper bound, if any.
        hi: Option<String>,
    },
}

/// One matching key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The attribute (for [`Matcher::DateTime`], the date).
    pub tag: Tag,
    /// Its value representation.
    pub vr: VR,
    /// How it matches.
    pub matcher: Matcher,
}

impl Condition {
    /// The attribute `tag` (a UI) equal to `uid`: how a retrieval names the
    /// study, series or instance it wants.
    pub fn uid(tag: Tag, uid: impl Into<String>) -> Condition {
        Condition {
            tag,
            vr: VR::UI,
            matcher: Matcher::Uids(vec![uid.into()]),
        }
    }
}

/// Why an identifier is refused: a DIMSE status and an Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// DIMSE status (A900: identifier does not match SOP class).
    pub status: u16,
    /// What is wrong, for the Error Comment and the log.
    pub comment: String,
}

/// Status for an identifier that does not match the information model.
pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;

/// A refusal with [`IDENTIFIER_DOES_NOT_MATCH`].
pub fn refuse(comment: String) -> QueryError {
    QueryError {
        status: IDENTIFIER_DOES_NOT_MATCH,
        comment,
    }
}

/// The matching keys of an identifier (every level, sequences included),
/// each checked against the dictionary's VR and the syntax of its matching
/// kind. Keys that only ask for a value (universal matching) give none.
pub fn conditions(obj: &InMemDicomObject) -> Result<Vec<Condition>, QueryError> {
    let mut out = vec![];
    for e in obj.iter() {
        let tag = e.tag();
        if tag.group() == 0x0002 || tag == tags::SPECIFIC_CHARACTER_SET || tag.element() == 0 {
            continue;
        }
        check_vr(tag, e.vr())?;
        match e.value() {
            Value::Sequence(seq) => {
                let Some(item) = seq.items().first() else {
                    continue;
                };
                let sub = conditions(item)?;
                if !sub.is_empty() {
                    out.push(Condition {
                        tag,
                        vr: VR::SQ,
                        matcher: Matcher::Sequence(sub),
                    });
                }
            }
            Value::Primitive(_) => {
                let raw = e.to_str().map(|s| s.trim().to_string()).unwrap_or_default();
                if let Some(matcher) = matcher_for(tag, e.vr(), &raw)? {
                    out.push(Condition {
                        tag,
                        vr: e.vr(),
                        matcher,
                    });
                }
            }
            Value::PixelSequence(_) => {
                return Err(refuse(format!("{tag}: pixel data in an identifier")));
            }
        }
    }
    Ok(out)
}

/// Refuses an explicit VR that contradicts the dictionary (UN is tolerated).
fn check_vr(tag: Tag, vr: VR) -> Result<(), QueryError> {
    if vr == VR::UN || tag.group() % 2 == 1 {
        return Ok(());
    }
    if let Some(entry) = StandardDataDictionary.by_tag(tag)
        && let VirtualVr::Exact(expected) = entry.vr()
        && expected != vr
    {
        return Err(refuse(format!(
            "{tag} {} has VR {vr}; the dictionary says {expected}",
            entry.alias()
        )));
    }
    Ok(())
}

/// How a key with value `raw` matches (`None`: universal matching).
pub fn matcher_for(tag: Tag, vr: VR, raw: &str) -> Result<Option<Matcher>, QueryError> {
    if raw.is_empty() || raw == "*" {
        return Ok(None);
    }
    Ok(Some(match vr {
        VR::DA | VR::TM | VR::DT => {
            let (lo, hi) = match raw.split_once('-') {
                Some((lo, hi)) => (lo.trim(), hi.trim()),
                None => (raw, raw),
            };
            for part in [lo, hi] {
                if !part.is_empty() && !valid_temporal(vr, part) {
                    return Err(refuse(format!(
                        "{tag}: {raw:?} is not a valid {vr} value or range"
                    )));
                }
            }
            if lo.is_empty() && hi.is_empty() {
                return Err(refuse(format!("{tag}: {raw:?} is an empty range")));
            }
            // A time range may end "before" it starts when it goes with a date
            // range (combined date-time matching); dates must be in order.
            if vr != VR::TM && !lo.is_empty() && !hi.is_empty() && lo > hi {
                return Err(refuse(format!(
                    "{tag}: range {raw:?} ends before it starts"
                )));
            }
            if raw.contains('-') {
                Matcher::Range(
                    (!lo.is_empty()).then(|| lo.to_string()),
                    (!hi.is_empty()).then(|| hi.to_string()),
                )
            } else {
                Matcher::Single(raw.to_string())
            }
        }
        VR::UI => {
            let uids: Vec<String> = raw.split('\\').map(|u| u.trim().to_string()).collect();
            if uids.len() == 1 {
                Matcher::Single(uids.into_iter().next().unwrap_or_default())
            } else {
                Matcher::Uids(uids)
            }
        }
        _ if raw.contains(['*', '?']) && wildcard_allowed(vr) => Matcher::Wildcard(raw.to_string()),
        _ => Matcher::Single(raw.to_string()),
    }))
}

fn wildcard_allowed(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UR | VR::UT
    )
}

fn valid_temporal(vr: VR, s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match vr {
        VR::DA => s.len() == 8 && digits(s),
        VR::TM => {
            let (main, frac) = s.split_once('.').unwrap_or((s, "0"));
            matches!(main.len(), 2 | 4 | 6) && digits(main) && digits(frac)
        }
        _ => s.len() >= 4 && s.bytes().all(|b| b.is_ascii_digit() || b"+-.".contains(&b)),
    }
}

/// Joins the conditions on `date` and `time`, when both are present, into one
/// date-time condition (C.2.2.2.5.1): `20261123-20261124` with
/// `220000-060000` is the night between, not two separate ranges.
pub fn combine_date_time(conditions: &mut Vec<Condition>, date: Tag, time: Tag) {
    let d = conditions.iter().position(|c| c.tag == date);
    let t = conditions.iter().position(|c| c.tag == time);
    let (Some(d), Some(t)) = (d, t) else {
        return;
    };
    let bounds = |m: &Matcher| match m {
        Matcher::Single(v) => (Some(v.clone()), Some(v.clone())),
        Matcher::Range(lo, hi) => (lo.clone(), hi.clone()),
        _ => (None, None),
    };
    let (dlo, dhi) = bounds(&conditions[d].matcher);
    let (tlo, thi) = bounds(&conditions[t].matcher);
    let lo = dlo.map(|d| format!("{d}{}", tlo.unwrap_or_default()));
    let hi = dhi.map(|d| format!("{d}{}", thi.unwrap_or_else(|| "235959.999999".into())));
    let combined = Condition {
        tag: date,
        vr: VR::DT,
        matcher: Matcher::DateTime { time, lo, hi },
    };
    let (first, second) = if d < t { (d, t) } else { (t, d) };
    conditions.remove(second);
    conditions[first] = combined;
}

/// Whether a candidate data set satisfies every condition.
pub fn matches(candidate: &InMemDicomObject, conditions: &[Condition]) -> bool {
    conditions.iter().all(|c| matches_one(candidate, c))
}

fn values(candidate: &InMemDicomObject, tag: Tag) -> Vec<String> {
    candidate
        .get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.split('\\').map(|v| v.trim().to_string()).collect())
        .unwrap_or_default()
}

fn matches_one(candidate: &InMemDicomObject, c: &Condition) -> bool {
    match &c.matcher {
        Matcher::Sequence(sub) => candidate
            .get(c.tag)
            .and_then(|e| e.items())
            .is_some_and(|items| items.iter().any(|i| matches(i, sub))),
        Matcher::DateTime { time, lo, hi } => {
            let first = |tag| {
                values(candidate, tag)
                    .into_iter()
                    .next()
                    .unwrap_or_default()
            };
            let dt = format!("{}{}", first(c.tag), first(*time));
            in_range(&dt, lo.as_deref(), hi.as_deref())
        }
        m => values(candidate, c.tag)
            .iter()
            .any(|v| value_matches(v, c.vr, m)),
    }
}

/// Whether one value satisfies a (non-sequence) matcher.
pub fn value_matches(value: &str, vr: VR, m: &Matcher) -> bool {
    match m {
        Matcher::Single(want) if vr == VR::PN => name_key(value) == name_key(want),
        Matcher::Single(want) => value == want,
        Matcher::Wildcard(pattern) if vr == VR::PN => glob(&name_key(pattern), &name_key(value)),
        Matcher::Wildcard(pattern) => glob(pattern, value),
        Matcher::Range(lo, hi) => {
            !value.is_empty() && in_range(value, lo.as_deref(), hi.as_deref())
        }
        Matcher::Uids(list) => list.iter().any(|u| u == value),
        Matcher::Sequence(_) | Matcher::DateTime { .. } => false,
    }
}

/// Inclusive range on values of the same layout; a shorter bound compares as
/// a prefix (a date bound covers the whole day).
pub fn in_range(v: &str, lo: Option<&str>, hi: Option<&str>) -> bool {
    let above = lo.is_none_or(|lo| v >= lo);
    let below = hi.is_none_or(|hi| v <= hi || v.starts_with(hi));
    above && below
}

/// `*` matches any run of characters, `?` any one character.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A person name as compared by matching: accents removed, upper case,
/// trailing empty components dropped. `Hélène^Müller^^` and `HELENE^MULLER`
/// give the same key, so a query from an ASCII-only device finds a name stored
/// with accents.
pub fn name_key(name: &str) -> String {
    deunicode(name.trim())
        .to_uppercase()
        .trim_end_matches(['^', ' '])
        .to_string()
}

/// A wildcard pattern as an SQL `LIKE` pattern (`\` escapes), for an index
/// to narrow its candidates before [`matches()`] decides.
pub fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("MOZ*", "MOZART^WOLFGANG"));
        assert!(glob("*ART*", "MOZART"));
        assert!(glob("M?ZART", "MOZART"));
        assert!(!glob("M?ZART", "MOOZART"));
        assert!(glob("*", ""));
        assert!(!glob("A*B", "ACBD"));
    }

    #[test]
    fn ranges() {
        assert!(in_range("19960103", Some("19960101"), Some("19960131")));
        assert!(!in_range("19960201", Some("19960101"), Some("19960131")));
        assert!(in_range("175609", Some("120000"), None));
        assert!(!in_range("085607", Some("120000"), None));
        // A date bound includes the whole day in a date-time comparison.
        assert!(in_range("19960103165709", None, Some("19960103")));
    }

    #[test]
    fn like_patterns_escape_sql_wildcards() {
        assert_eq!(like_pattern("MO?ART*"), "MO_ART%");
        assert_eq!(like_pattern("100%_x"), "100\\%\\_x");
    }
}
