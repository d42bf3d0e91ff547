//! HL7 → worklist: which field gives which DICOM attribute, per sending
//! application, and the commands each message becomes (IHE Radiology
//! Scheduled Workflow, Rad TF-2 order mapping to the Modality Worklist).
//!
//! | DICOM attribute | default HL7 locations (first non-empty wins) |
//! |---|---|
//! | Patient ID, Issuer | PID-3.1, PID-3.4 |
//! | Patient's Name | PID-5 (XPN → PN) |
//! | Birth Date, Sex | PID-7, PID-8 |
//! | Accession Number | IPC-1, OBR-18 |
//! | Requested Procedure ID | IPC-2, OBR-19 |
//! | Study Instance UID | IPC-3, ZDS-1.1 (else generated) |
//! | Scheduled Procedure Step ID | IPC-4, OBR-20 |
//! | Modality | IPC-5, OBR-24 |
//! | Scheduled Protocol Code | IPC-6, OBR-4 |
//! | Scheduled Station Name | IPC-7 |
//! | SPS Location | IPC-8 |
//! | Scheduled Station AE Title | IPC-9 (all repetitions) |
//! | SPS Start Date/Time | TQ1-7, ORC-7.4, OBR-27.4, OBR-36 |
//! | Requested Procedure Description | OBR-4.2, OBR-44.2 |
//! | Requested Procedure Code | OBR-44, OBR-4 |
//! | Requested Procedure Priority | ORC-7.6, TQ1-9 |
//! | Referring Physician | PV1-8 (XCN → PN) |
//! | Requesting Physician | OBR-16 (XCN → PN) |
//! | Scheduled Performing Physician | OBR-34 |
//!
//! Every RIS fills these a little differently: `[hl7.senders.APP]` in the
//! configuration replaces any row for messages whose MSH-3 is `APP`.

use std::collections::BTreeMap;

use sansfilm_worklist::{Code, Command, WorklistItem, model::status};
use serde::{Deserialize, Serialize};

use crate::message::{FieldPath, Hl7Message, Segment};
use crate::segments::{self, FieldError, path, ts_to_date_time};

/// Where each worklist attribute is read from; several locations are tried
/// in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Accession Number.
    pub accession: Vec<FieldPath>,
    /// Requested Procedure ID.
    pub requested_procedure_id: Vec<FieldPath>,
    /// Study Instance UID.
    pub study_uid: Vec<FieldPath>,
    /// Scheduled Procedure Step ID.
    pub sps_id: Vec<FieldPath>,
    /// Modality.
    pub modality: Vec<FieldPath>,
    /// Scheduled Protocol Code (value^meaning^scheme).
    pub protocol_code: Vec<FieldPath>,
    /// Scheduled Station Name.
    pub station_name: Vec<FieldPath>,
    /// Scheduled Procedure Step Location.
    pub location: Vec<FieldPath>,
    /// Scheduled Station AE Title (every repetition is a station).
    pub station_ae: Vec<FieldPath>,
    /// SPS Start Date and Time (HL7 TS).
    pub start: Vec<FieldPath>,
    /// Requested Procedure Description.
    pub procedure_description: Vec<FieldPath>,
    /// Requested Procedure Code (value^meaning^scheme).
    pub procedure_code: Vec<FieldPath>,
    /// Requested Procedure Priority.
    pub priority: Vec<FieldPath>,
    /// Referring Physician (XCN).
    pub referring_physician: Vec<FieldPath>,
    /// Requesting Physician (XCN).
    pub requesting_physician: Vec<FieldPath>,
    /// Scheduled Performing Physician.
    pub performing_physician: Vec<FieldPath>,
}

fn paths(list: &[&str]) -> Vec<FieldPath> {
    list.iter().map(|p| path(p)).collect()
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            accession: paths(&["IPC-1", "OBR-18"]),
            requested_procedure_id: paths(&["IPC-2", "OBR-19"]),
            study_uid: paths(&["IPC-3", "ZDS-1.1"]),
            sps_id: paths(&["IPC-4", "OBR-20"]),
            modality: paths(&["IPC-5", "OBR-24"]),
            protocol_code: paths(&["IPC-6", "OBR-4"]),
            station_name: paths(&["IPC-7"]),
            location: paths(&["IPC-8"]),
            station_ae: paths(&["IPC-9"]),
            start: paths(&["TQ1-7", "ORC-7.4", "OBR-27.4", "OBR-36"]),
            procedure_description: paths(&["OBR-4.2", "OBR-44.2"]),
            procedure_code: paths(&["OBR-44", "OBR-4"]),
            priority: paths(&["ORC-7.6", "TQ1-9"]),
            referring_physician: paths(&["PV1-8"]),
            requesting_physician: paths(&["OBR-16"]),
            performing_physician: paths(&["OBR-34"]),
        }
    }
}

/// The `[hl7]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hl7Config {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most segments in one message (more: AR, nothing applied).
    pub max_segments: usize,
    /// Most values (fields, repetitions, components, subcomponents) in one
    /// message (more: AR, nothing applied). Parsing costs memory per value,
    /// not per byte: this bounds it.
    pub max_values: usize,
    /// Connections served at once (once they sent a message). The RIS
    /// (`ris_hosts`) has as many again, of its own.
    pub max_connections: usize,
    /// Seconds without a message after which a connection is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a new connection gets to send its first complete message;
    /// until then it holds no connection slot.
    pub first_message_timeout_secs: u64,
    /// Connections of one address that may wait for their first message at
    /// once; a newer one closes the oldest.
    pub max_waiting_per_host: usize,
    /// Connections that may wait for their first message at once, overall.
    pub max_waiting: usize,
    /// Addresses of the RIS: their connections have slots of their own,
    /// which other senders cannot take.
    pub ris_hosts: Vec<std::net::IpAddr>,
    /// Mapping for senders without their own.
    pub mapping: Mapping,
    /// Mapping by sending application (MSH-3.1).
    pub senders: BTreeMap<String, Mapping>,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Hl7Config {
            max_message_bytes: 16 * 1024 * 1024,
            max_segments: crate::message::Limits::default().max_segments,
            max_values: crate::message::Limits::default().max_values,
            max_connections: 32,
            idle_timeout_secs: 600,
            first_message_timeout_secs: 10,
            max_waiting_per_host: 4,
            max_waiting: 32,
            ris_hosts: Vec::new(),
            mapping: Mapping::default(),
            senders: BTreeMap::new(),
        }
    }
}

impl Hl7Config {
    /// The structural limits of one message.
    pub fn limits(&self) -> crate::message::Limits {
        crate::message::Limits {
            max_segments: self.max_segments,
            max_values: self.max_values,
        }
    }

    /// Whether `peer` is one of the RIS's addresses (IPv4 mapped in IPv6
    /// counts as IPv4).
    pub fn is_ris(&self, peer: std::net::IpAddr) -> bool {
        let canon = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(std::net::IpAddr::V4)
                .unwrap_or(std::net::IpAddr::V6(v6)),
            v4 => v4,
        };
        self.ris_hosts.iter().any(|&h| canon(h) == canon(peer))
    }

    /// The mapping of a sending application.
    pub fn mapping_for(&self, sending_app: &str) -> &Mapping {
        self.senders.get(sending_app).unwrap_or(&self.mapping)
    }
}

/// Why a message is not turned into commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingError {
    /// Not processed at all (AR): unsupported type or event.
    Unsupported {
        /// HL7 table 0357 code (200, 201).
        code: u16,
        /// Explanation.
        reason: String,
    },
    /// Understood but a field is missing or wrong (AE).
    Field(FieldError),
}

impl From<FieldError> for MappingError {
    fn from(e: FieldError) -> Self {
        MappingError::Field(e)
    }
}

/// The worklist commands a message asks for.
pub fn to_commands(msg: &Hl7Message, mapping: &Mapping) -> Result<Vec<Command>, MappingError> {
    let (kind, event, _) = msg.kind();
    match (kind.as_str(), event.as_str()) {
        ("ADT", "A01" | "A04" | "A05" | "A08" | "A28" | "A31") => {
            Ok(vec![Command::UpsertPatient(segments::patient(msg)?)])
        }
        ("ADT", "A11") => {
            let p = segments::patient(msg)?;
            Ok(vec![Command::CancelPatientSteps((p.patient_id, p.issuer))])
        }
        ("ADT", "A40") => Ok(vec![Command::MergePatient {
            from: segments::prior_patient(msg)?,
            into: segments::patient(msg)?,
        }]),
        ("ADT", "A47") => Ok(vec![Command::ChangePatientId {
            from: segments::prior_patient(msg)?,
            to: segments::patient(msg)?,
        }]),
        ("ADT", other) => Err(MappingError::Unsupported {
            code: 201,
            reason: format!("ADT event {other} is not used by the worklist"),
        }),
        ("ORM", "O01") | ("OMI", "O23") => order_commands(msg, mapping),
        (kind, event) => Err(MappingError::Unsupported {
            code: 200,
            reason: format!(
                "message type {kind}^{event} is not supported (ADT, ORM^O01, OMI^O23 are)"
            ),
        }),
    }
}

fn first(msg: &Hl7Message, seg: Option<&Segment>, paths: &[FieldPath]) -> (String, String) {
    for p in paths {
        let value = match seg.filter(|s| s.name == p.segment) {
            Some(s) => msg.value_in(s, p, 0),
            None => msg.value(p),
        };
        if !value.trim().is_empty() {
            return (value.trim().to_string(), p.to_string());
        }
    }
    (
        String::new(),
        paths.first().map(|p| p.to_string()).unwrap_or_default(),
    )
}

fn code(msg: &Hl7Message, seg: Option<&Segment>, paths: &[FieldPath]) -> Option<Code> {
    let (whole, at) = first(msg, seg, paths);
    if whole.is_empty() {
        return None;
    }
    let p: FieldPath = at.parse().ok()?;
    let comp = |n| {
        let q = FieldPath {
            component: Some(n),
            subcomponent: None,
            ..p.clone()
        };
        match seg.filter(|s| s.name == q.segment) {
            Some(s) => msg.value_in(s, &q, 0),
            None => msg.value(&q),
        }
    };
    Some(Code {
        value: comp(1),
        meaning: comp(2),
        scheme: comp(3),
    })
}

fn order_commands(msg: &Hl7Message, mapping: &Mapping) -> Result<Vec<Command>, MappingError> {
    let orc = msg
        .segment("ORC")
        .ok_or_else(|| FieldError::missing("ORC", "the ORC segment"))?;
    let control = msg.component(orc, 1, 0, 1).trim().to_uppercase();
    let patient = segments::patient(msg)?;
    let (accession, _) = first(msg, None, &mapping.accession);
    if accession.is_empty() {
        return Err(FieldError::missing(
            &mapping
                .accession
                .last()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            "the accession number",
        )
        .into());
    }
    match control.as_str() {
        "NW" => Ok(vec![Command::CreateOrder(order_items(
            msg, mapping, &patient, &accession,
        )?)]),
        "XO" => Ok(vec![Command::ReplaceOrder {
            items: order_items(msg, mapping, &patient, &accession)?,
            accession,
        }]),
        "CA" | "DC" | "OC" | "OD" => Ok(vec![Command::SetOrderStatus {
            accession,
            status: status::DISCONTINUED.into(),
        }]),
        "SC" => {
            let order_status = msg.component(orc, 5, 0, 1).trim().to_uppercase();
            let new = match order_status.as_str() {
                "SC" | "" => status::SCHEDULED,
                "IP" | "A" => status::STARTED,
                "CM" => status::COMPLETED,
                "CA" | "DC" => status::DISCONTINUED,
                "HD" => status::SCHEDULED,
                other => {
                    return Err(FieldError {
                        location: "ORC-5".into(),
                        code: 103,
                        reason: format!(
                            "order status {other:?} is not one of SC, IP, A, CM, CA, DC, HD"
                        ),
                    }
                    .into());
                }
            };
            Ok(vec![Command::SetOrderStatus {
                accession,
                status: new.into(),
            }])
        }
        other => Err(MappingError::Unsupported {
            code: 201,
            reason: format!(
                "order control {other:?} (ORC-1) is not supported (NW, XO, CA, DC, SC are)"
            ),
        }),
    }
}

/// One entry per IPC segment (OMI), or one for the order (ORM).
fn order_items(
    msg: &Hl7Message,
    mapping: &Mapping,
    patient: &sansfilm_worklist::Patient,
    accession: &str,
) -> Result<Vec<WorklistItem>, MappingError> {
    let ipcs: Vec<&Segment> = msg.segments_named("IPC").collect();
    let steps: Vec<Option<&Segment>> = if ipcs.is_empty() {
        vec![None]
    } else {
        ipcs.into_iter().map(Some).collect()
    };
    let (start_raw, start_at) = first(msg, None, &mapping.start);
    let (start_date, start_time) = ts_to_date_time(&start_raw, &start_at)?;
    let physician = |paths: &[FieldPath]| -> String {
        for p in paths {
            if let Some(seg) = msg.segment(&p.segment)
                && !msg.value_in(seg, p, 0).trim().is_empty()
            {
                return segments::xcn_to_pn(msg, seg, p.field);
            }
        }
        String::new()
    };
    let referring = physician(&mapping.referring_physician);
    let requesting = physician(&mapping.requesting_physician);
    let mut items = vec![];
    for (n, step) in steps.into_iter().enumerate() {
        let get = |paths: &[FieldPath]| first(msg, step, paths).0;
        let mut item = WorklistItem {
            accession_number: accession.to_string(),
            requested_procedure_id: get(&mapping.requested_procedure_id),
            study_uid: get(&mapping.study_uid),
            sps_id: get(&mapping.sps_id),
            modality: get(&mapping.modality),
            station_name: get(&mapping.station_name),
            location: get(&mapping.location),
            start_date: start_date.clone(),
            start_time: start_time.clone(),
            requested_procedure_description: get(&mapping.procedure_description),
            requested_procedure_code: code(msg, step, &mapping.procedure_code),
            protocol_codes: code(msg, step, &mapping.protocol_code)
                .into_iter()
                .collect(),
            requested_procedure_priority: get(&mapping.priority),
            referring_physician: referring.clone(),
            requesting_physician: requesting.clone(),
            performing_physician: get(&mapping.performing_physician).replace('&', "^"),
            status: status::SCHEDULED.into(),
            ..Default::default()
        };
        // Every repetition of the station field is a station AE title.
        for p in &mapping.station_ae {
            let seg = step
                .filter(|s| s.name == p.segment)
                .or_else(|| msg.segment(&p.segment));
            if let Some(seg) = seg {
                for rep in 0..msg.repetitions(seg, p.field) {
                    let ae = msg.value_in(seg, p, rep).trim().to_string();
                    if !ae.is_empty() {
                        item.station_aes.push(ae);
                    }
                }
            }
            if !item.station_aes.is_empty() {
                break;
            }
        }
        if item.sps_id.is_empty() {
            item.sps_id = format!("{accession}-{}", n + 1);
        }
        if item.requested_procedure_id.is_empty() {
            item.requested_procedure_id = accession.to_string();
        }
        if item.study_uid.is_empty() {
            item.study_uid = generated_uid(accession);
        }
        patient.apply_to(&mut item);
        items.push(item);
    }
    Ok(items)
}

/// A Study Instance UID for an order that brings none: under 2.25, derived
/// from the accession number and the time, so it is unique and stable within
/// the message.
fn generated_uid(accession: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    accession.hash(&mut h);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("2.25.{}", (u128::from(h.finish()) << 64) ^ nanos)
}
