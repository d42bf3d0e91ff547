//! DICOM audit messages (PS3.15 A.5.1): the XML body of each exported record.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;

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

/// The schema (PS3.15 A.5.1) requires a name or a query in every participant
/// object; the trail keeps identifiers only (no patient names: data
/// minimisation), so objects other than queries carry an empty name.
const UNNAMED: &str = "<ParticipantObjectName/>";

/// A ParticipantObjectIdentification: its ID, type code and role, ID type
/// (coded), name or query, and optional description, in schema order; an
/// empty role is left out.
fn object(
    id: &str,
    type_code: &str,
    role: &str,
    id_type: &str,
    name_or_query: &str,
    description: &str,
) -> String {
    let role = if role.is_empty() {
        String::new()
    } else {
        format!(r#" ParticipantObjectTypeCodeRole="{role}""#)
    };
    format!(
        r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="{type_code}"{role}>{id_type}{name_or_query}{description}</ParticipantObjectIdentification>"#,
        esc(id)
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
        EventKind::UserAuthentication if sub.contains("logout") => Some(("110123", "Logout")),
        EventKind::UserAuthentication => Some(("110122", "Login")),
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
        let id_type = code(
            "ParticipantObjectIDTypeCode",
            "2",
            "RFC-3881",
            "Patient Number",
        );
        x.push_str(&object(&e.patient_id, "1", "1", &id_type, UNNAMED, ""));
    }
    for uid in &e.study_uids {
        let id_type = code(
            "ParticipantObjectIDTypeCode",
            "110180",
            "DCM",
            "Study Instance UID",
        );
        let mut description = String::new();
        if !e.accession.is_empty() || e.instances > 0 {
            description.push_str("<ParticipantObjectDescription>");
            if !e.accession.is_empty() {
                description.push_str(&format!(r#"<Accession Number="{}"/>"#, esc(&e.accession)));
            }
            if e.instances > 0 {
                description.push_str(&format!(
                    r#"<SOPClass NumberOfInstances="{}"/>"#,
                    e.instances
                ));
            }
            description.push_str("</ParticipantObjectDescription>");
        }
        x.push_str(&object(uid, "2", "3", &id_type, UNNAMED, &description));
    }
    if e.kind == EventKind::Query && !e.query.is_empty() {
        let id_type = code(
            "ParticipantObjectIDTypeCode",
            "110181",
            "DCM",
            "SOP Class UID",
        );
        let query = format!(
            "<ParticipantObjectQuery>{}</ParticipantObjectQuery>",
            BASE64_STANDARD.encode(e.query.as_bytes())
        );
        x.push_str(&object(
            "1.2.840.10008.5.1.4.31",
            "2",
            "3",
            &id_type,
            &query,
            "",
        ));
    }
    if e.kind == EventKind::OrderRecord && !e.accession.is_empty() && e.study_uids.is_empty() {
        // No RFC 3881 or DCM code names an accession number: HL7 table 0203's
        // ACSN does; and no object role fits an order, so none is given.
        let id_type = code("ParticipantObjectIDTypeCode", "ACSN", "HL7", "Accession ID");
        x.push_str(&object(&e.accession, "2", "", &id_type, UNNAMED, ""));
    }
    x.push_str("</AuditMessage>");
    x
}
