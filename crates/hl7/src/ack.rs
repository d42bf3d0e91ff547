//! Acknowledgements: `ACK` with MSA and, on error, ERR saying what and where,
//! written with the incoming message's separators and character set.

use hl7_parser::message::Separators;

use crate::charset::Hl7Charset;
use crate::escape::escape;
use crate::message::Hl7Message;

/// MSA-1 acknowledgement codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application Accept: applied (or already applied).
    AA,
    /// Application Error: understood but not applied.
    AE,
    /// Application Reject: not processed at all.
    AR,
}

impl AckCode {
    /// The code as written in MSA-1.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

/// The error an ERR segment reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// Location, `SEG-F` (empty when the whole message is concerned).
    pub location: String,
    /// HL7 table 0357 code.
    pub code: u16,
    /// Explanation for people.
    pub text: String,
}

/// Text of an HL7 table 0357 code.
pub fn code_text(code: u16) -> &'static str {
    match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        _ => "Application internal error",
    }
}

/// Builds the ACK to `incoming` (or to a message too broken to parse, with
/// default separators and whatever MSH fields could be read).
pub fn build(
    incoming: Option<&Hl7Message>,
    fallback_control_id: &str,
    code: AckCode,
    error: Option<&AckError>,
    ack_control_id: &str,
    now: &str,
) -> Vec<u8> {
    let seps = incoming.map(|m| m.separators).unwrap_or_default();
    let charset = incoming
        .map(|m| m.charset)
        .unwrap_or(Hl7Charset::Unspecified);
    let msh = |n: usize| incoming.map(|m| m.msh(n)).unwrap_or_default();
    let f = seps.field;
    let e = |s: &str| escape(s, &seps);
    let trigger = incoming.map(|m| m.kind().1).unwrap_or_default();
    let version = {
        let v = msh(12);
        if v.is_empty() { "2.5.1".to_string() } else { v }
    };
    let control_id = incoming
        .map(|m| m.kind().2)
        .unwrap_or_else(|| fallback_control_id.to_string());
    let encoding = format!(
        "{}{}{}{}",
        seps.component, seps.repetition, seps.escape, seps.subcomponent
    );
    let mut out = format!(
        "MSH{f}{encoding}{f}{}{f}{}{f}{}{f}{}{f}{now}{f}{f}ACK{c}{}{c}ACK{f}{}{f}P{f}{}{f}{f}{f}{f}{f}{f}{}\r",
        e(&msh(5)),
        e(&msh(6)),
        e(&msh(3)),
        e(&msh(4)),
        e(&trigger),
        e(ack_control_id),
        e(&version),
        e(&msh(18)),
        c = seps.component,
    );
    let text = error.map(|err| err.text.as_str()).unwrap_or("");
    out.push_str(&format!(
        "MSA{f}{}{f}{}{f}{}\r",
        code.as_str(),
        e(&control_id),
        e(text)
    ));
    if let Some(err) = error {
        out.push_str(&err_segment(err, &seps));
    }
    charset.encode(&out)
}

fn err_segment(err: &AckError, seps: &Separators) -> String {
    let f = seps.field;
    let c = seps.component;
    // ERR-2 (ERL): segment ID ^ sequence ^ field position.
    let location = match err.location.split_once('-') {
        Some((seg, field)) => {
            let field = field.split('.').next().unwrap_or("");
            format!("{seg}{c}1{c}{field}")
        }
        None => err.location.clone(),
    };
    format!(
        "ERR{f}{f}{location}{f}{}{c}{}{c}HL70357{f}E{f}{f}{f}{f}{}\r",
        err.code,
        escape(code_text(err.code), seps),
        escape(&err.text, seps)
    )
}

/// Current UTC time as an HL7 DTM (`YYYYMMDDHHMMSS`).
pub fn now_dtm() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_uses_the_incoming_separators() {
        let m = Hl7Message::parse(
            b"MSH#!@%*#RIS#HOSP#SF#ARCH#20261123##ORM!O01#MSG1#P#2.3.1\rPID###1\r",
        )
        .unwrap();
        let err = AckError {
            location: "PID-3".into(),
            code: 101,
            text: "missing #id".into(),
        };
        let ack = String::from_utf8(build(
            Some(&m),
            "",
            AckCode::AE,
            Some(&err),
            "ACK1",
            "20261123120000",
        ))
        .unwrap();
        assert!(
            ack.starts_with("MSH#!@%*#SF#ARCH#RIS#HOSP#20261123120000##ACK!O01!ACK#ACK1#P#2.3.1"),
            "{ack}"
        );
        assert!(ack.contains("\rMSA#AE#MSG1#missing %F%id\r"), "{ack}");
        assert!(
            ack.contains("ERR##PID!1!3#101!Required field missing!HL70357#E"),
            "{ack}"
        );
    }

    #[test]
    fn clock() {
        let now = now_dtm();
        assert_eq!(now.len(), 14);
        assert!(now.starts_with("20"));
    }
}
