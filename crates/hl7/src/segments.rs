//! Typed views of the segments the worklist mapping reads: patient identity
//! (PID, MRG), names (XPN, XCN) and dates, in DICOM form.

use sansfilm_worklist::Patient;

use crate::message::{FieldPath, Hl7Message, Segment};

/// A required field is missing or malformed: the ACK is AE with an ERR
/// segment pointing at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where (`PID-3`).
    pub location: String,
    /// HL7 table 0357 code: 101 required field missing, 102 data type error.
    pub code: u16,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    /// A missing required field.
    pub fn missing(location: &str, what: &str) -> Self {
        FieldError {
            location: location.into(),
            code: 101,
            reason: format!("{what} ({location}) is missing"),
        }
    }

    /// A value of the wrong form.
    pub fn bad(location: &str, reason: String) -> Self {
        FieldError {
            location: location.into(),
            code: 102,
            reason,
        }
    }
}

/// An HL7 XPN name (`Family^Given^Middle^Suffix^Prefix`) as a DICOM PN
/// (`Family^Given^Middle^Prefix^Suffix`), trailing empty components dropped.
pub fn xpn_to_pn(msg: &Hl7Message, seg: &Segment, field: usize, rep: usize) -> String {
    let c = |n| msg.component(seg, field, rep, n);
    pn(&[c(1), c(2), c(3), c(5), c(4)])
}

/// An HL7 XCN person (`ID^Family^Given^Middle^Suffix^Prefix`) as a DICOM PN.
pub fn xcn_to_pn(msg: &Hl7Message, seg: &Segment, field: usize) -> String {
    let c = |n| msg.component(seg, field, 0, n);
    pn(&[c(2), c(3), c(4), c(6), c(5)])
}

fn pn(parts: &[String]) -> String {
    parts.join("^").trim_end_matches('^').to_string()
}

/// A DICOM date and time from an HL7 TS/DTM value (`YYYYMMDD[HHMM[SS]]`),
/// checked. Empty input gives empty strings.
pub fn ts_to_date_time(value: &str, location: &str) -> Result<(String, String), FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    let bad = || {
        FieldError::bad(
            location,
            format!("{v:?} is not an HL7 date/time (YYYYMMDD[HHMM[SS]])"),
        )
    };
    if digits.len() < 8 {
        return Err(bad());
    }
    let (y, m, d) = (&digits[0..4], &digits[4..6], &digits[6..8]);
    let month: u32 = m.parse().map_err(|_| bad())?;
    let day: u32 = d.parse().map_err(|_| bad())?;
    let year: u32 = y.parse().map_err(|_| bad())?;
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > days[(month - 1) as usize] {
        return Err(bad());
    }
    let time = &digits[8..digits.len().min(14)];
    if !time.is_empty() {
        let ok = time.len().is_multiple_of(2)
            && time
                .as_bytes()
                .chunks(2)
                .zip([24u32, 60, 60])
                .all(|(p, max)| {
                    std::str::from_utf8(p)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                        .is_some_and(|n| n < max)
                });
        if !ok {
            return Err(bad());
        }
    }
    Ok((digits[..8].to_string(), time.to_string()))
}

/// The patient of a PID segment: the first PID-3 identifier (with its
/// assigning authority, PID-3.4), PID-5, PID-7, PID-8.
pub fn patient(msg: &Hl7Message) -> Result<Patient, FieldError> {
    let pid = msg
        .segment("PID")
        .ok_or_else(|| FieldError::missing("PID", "the PID segment"))?;
    let id = msg.component(pid, 3, 0, 1);
    if id.trim().is_empty() {
        return Err(FieldError::missing("PID-3", "the patient identifier"));
    }
    let birth = msg.value(&path("PID-7"));
    let (birth_date, _) = ts_to_date_time(&birth, "PID-7")?;
    // Administrative sex (table 0001) to DICOM M, F, O; an unknown code is
    // left empty rather than refusing the patient.
    let sex = msg.component(pid, 8, 0, 1).trim().to_uppercase();
    let sex = match sex.chars().next() {
        Some(c @ ('M' | 'F' | 'O')) => c.to_string(),
        Some('U' | 'A' | 'N') => "O".to_string(),
        Some(_) => {
            tracing::warn!(sex = %sex, "PID-8 administrative sex not understood; left empty");
            String::new()
        }
        None => String::new(),
    };
    Ok(Patient {
        patient_id: id.trim().to_string(),
        issuer: msg.component(pid, 3, 0, 4).trim().to_string(),
        name: xpn_to_pn(msg, pid, 5, 0),
        birth_date,
        sex,
    })
}

/// The prior identifier of an MRG segment (MRG-1, first repetition).
pub fn prior_patient(msg: &Hl7Message) -> Result<(String, String), FieldError> {
    let mrg = msg
        .segment("MRG")
        .ok_or_else(|| FieldError::missing("MRG", "the MRG segment"))?;
    let id = msg.component(mrg, 1, 0, 1);
    if id.trim().is_empty() {
        return Err(FieldError::missing("MRG-1", "the prior patient identifier"));
    }
    Ok((
        id.trim().to_string(),
        msg.component(mrg, 1, 0, 4).trim().to_string(),
    ))
}

/// Shorthand for a location that is known to be well formed.
pub fn path(s: &str) -> FieldPath {
    s.parse().expect("a valid literal path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            ts_to_date_time("200007010800", "X").unwrap(),
            ("20000701".into(), "0800".into())
        );
        assert_eq!(
            ts_to_date_time("20141014", "X").unwrap(),
            ("20141014".into(), "".into())
        );
        assert!(ts_to_date_time("20140231", "X").is_err());
        assert!(ts_to_date_time("2014", "X").is_err());
        assert!(ts_to_date_time("201401011299", "X").is_err());
    }
}
