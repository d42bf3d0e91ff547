//! DICOM audit messages (PS3.15 A.5.1): the XML body of each exported record.

use crate::event::EventKind;
use crate::log::Record;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn code(element: &str, value: &str, system: &str, text: &str) -> String {
    format!(
        r#"<{element} csd-code="{}" codeSystemName="{}" originalText="{}"/>"#,
        esc(value),
        esc(system),
        esc(text)
    )
}

/// EventTypeCode of an event, when its kind has one.
fn event_type(record: &Record) -> Option<(&'static str, &'static str)> {
    let sub = record.event.subtype.to_ascii_lowercase();
    match record.event.kind {
        EventKind::ApplicationActivity if sub.contains("stop") => {
            Some(("110121", "Application Stop"))
        }
        EventKind::ApplicationActivity => Some(("110120", "Application Start")),
        EventKind::SecurityAlert if sub.contains("association") || sub.contains("node") => {
            Some(("110126", "Node Authentication"))
        }
        EventKind::SecurityAlert if sub.contains("config") => {
            Some(("110128", "Network Configuration"))
        }
        EventKind::SecurityAlert => Some(("110113", "Security Alert")),
        _ => None,
    }
}

/// The record as a DICOM audit message.
pub fn audit_message(record: &Record, source_id: &str) -> String {
    let e = &record.event;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>");
    x.push_str(&format!(
        r#"<EventIdentification EventActionCode="{}" EventDateTime="{}" EventOutcomeIndicator="{}">"#,
        e.action.code(),
        esc(&record.time),
        e.outcome.code()
    ));
    x.push_str(&code("EventID", e.kind.code(), "DCM", e.kind.meaning()));
    if let Some((c, t)) = event_type(record) {
        x.push_str(&code("EventTypeCode", c, "DCM", t));
    }
    if !e.detail.is_empty() {
        x.push_str(&format!(
            "<EventOutcomeDescription>{}</EventOutcomeDescription>",
            esc(&e.detail)
        ));
    }
    x.push_str("</EventIdentification>");
    let mut participants = e.participants.clone();
    if participants.is_empty() {
        participants.push(crate::event::Participant {
            id: source_id.to_string(),
            host: String::new(),
            requestor: true,
        });
    }
    for p in &participants {
        x.push_str(&format!(
            r#"<ActiveParticipant UserID="{}" UserIsRequestor="{}""#,
            esc(&p.id),
            p.requestor
        ));
        if !p.host.is_empty() {
            let kind = if p.host.parse::<std::net::IpAddr>().is_ok() {
                2
            } else {
                1
            };
            x.push_str(&format!(
                r#" NetworkAccessPointID="{}" NetworkAccessPointTypeCode="{kind}""#,
                esc(&p.host)
            ));
        }
        x.push('>');
        let role = match (e.kind, p.requestor) {
            (EventKind::InstancesTransferred, true) => Some(("110153", "Source Role ID")),
            (EventKind::InstancesTransferred, false) => Some(("110152", "Destination Role ID")),
            (EventKind::ApplicationActivity, false) => Some(("110150", "Application")),
            (EventKind::ApplicationActivity, true) => Some(("110151", "Application Launcher")),
            _ => None,
        };
        if let Some((c, t)) = role {
            x.push_str(&code("RoleIDCode", c, "DCM", t));
        }
        x.push_str("</ActiveParticipant>");
    }
    x.push_str(&format!(
        r#"<AuditSourceIdentification AuditSourceID="{}"/>"#,
        esc(source_id)
    ));
    if !e.patient_id.is_empty() {
        x.push_str(&format!(
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">"#,
            esc(&e.patient_id)
        ));
        x.push_str(&code(
            "ParticipantObjectIDTypeCode",
            "2",
            "RFC-3881",
            "Patient Number",
        ));
        x.push_str("</ParticipantObjectIdentification>");
    }
    for uid in &e.study_uids {
        x.push_str(&format!(
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">"#,
            esc(uid)
        ));
        x.push_str(&code(
            "ParticipantObjectIDTypeCode",
            "110180",
            "DCM",
            "Study Instance UID",
        ));
        if !e.accession.is_empty() || e.instances > 0 {
            x.push_str("<ParticipantObjectDescription>");
            if !e.accession.is_empty() {
                x.push_str(&format!(r#"<Accession Number="{}"/>"#, esc(&e.accession)));
            }
            if e.instances > 0 {
                x.push_str(&format!(
                    r#"<SOPClass UID="" NumberOfInstances="{}"/>"#,
                    e.instances
                ));
            }
            x.push_str("</ParticipantObjectDescription>");
        }
        x.push_str("</ParticipantObjectIdentification>");
    }
    if e.kind == EventKind::Query && !e.query.is_empty() {
        x.push_str(r#"<ParticipantObjectIdentification ParticipantObjectID="1.2.840.10008.5.1.4.31" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">"#);
        x.push_str(&code(
            "ParticipantObjectIDTypeCode",
            "110181",
            "DCM",
            "SOP Class UID",
        ));
        x.push_str(&format!(
            "<ParticipantObjectQuery>{}</ParticipantObjectQuery>",
            base64(e.query.as_bytes())
        ));
        x.push_str("</ParticipantObjectIdentification>");
    }
    if e.kind == EventKind::OrderRecord && !e.accession.is_empty() && e.study_uids.is_empty() {
        x.push_str(&format!(
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="12">"#,
            esc(&e.accession)
        ));
        x.push_str(&code(
            "ParticipantObjectIDTypeCode",
            "12",
            "RFC-3881",
            "Accession Number",
        ));
        x.push_str("</ParticipantObjectIdentification>");
    }
    x.push_str("</AuditMessage>");
    x
}

/// Standard base64, for ParticipantObjectQuery.
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"f"), "Zg==");
    }
}
