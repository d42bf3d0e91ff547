//! QIDO-RS (PS3.18 10.6): studies, series and instances searched through
//! the archive's query API, the same matching as C-FIND.
//!
//! Query parameters: attributes by keyword (`PatientName`) or tag
//! (`00100010`), with C-FIND's matching (`*`, `?`, ranges `a-b`, UID lists
//! separated by `,` or by `\` as OHIF sends them); `limit`, `offset`,
//! `includefield` (accepted: every attribute the index keeps is returned
//! anyway, `all` too), `fuzzymatching` (person names always match without
//! regard to case and accents). Answers are DICOM JSON with Retrieve URL;
//! no match is `200 []`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, TagRange, VirtualVr};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use sansfilm_archive::{Level, Query};
use sansfilm_dicom::matching::Condition;

use crate::access::{Caller, Client};
use crate::error::{Error, Result, blocking};
use crate::state::WebState;

/// Most answers of one search when the client gives no limit.
pub const DEFAULT_LIMIT: usize = 1000;

/// A parsed QIDO-RS query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Matching conditions.
    pub conditions: Vec<Condition>,
    /// Matches skipped.
    pub offset: usize,
    /// Most matches returned.
    pub limit: usize,
    /// The query string, for the audit trail.
    pub keys: String,
}

/// The tag a parameter name stands for: a keyword or 8 hex digits.
fn tag_of(name: &str) -> Option<Tag> {
    if name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        let g = u16::from_str_radix(&name[..4], 16).ok()?;
        let e = u16::from_str_radix(&name[4..], 16).ok()?;
        return Some(Tag(g, e));
    }
    match StandardDataDictionary.by_name(name)?.tag_range() {
        TagRange::Single(tag) => Some(tag),
        _ => None,
    }
}

fn vr_of(tag: Tag) -> VR {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        _ => VR::LO,
    }
}

/// Parses a query string.
pub fn parse_search(raw: Option<&str>) -> Result<Search> {
    let mut search = Search {
        limit: DEFAULT_LIMIT,
        keys: raw.unwrap_or("").to_string(),
        ..Default::default()
    };
    let mut identifier = InMemDicomObject::new_empty();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "limit" => {
                search.limit = value
                    .parse()
                    .map_err(|_| Error::BadRequest(format!("limit={value}: not a number")))?;
            }
            "offset" => {
                search.offset = value
                    .parse()
                    .map_err(|_| Error::BadRequest(format!("offset={value}: not a number")))?;
            }
            "includefield" | "fuzzymatching" | "_" => {}
            n if n.contains('.') => {
                // Sequence keys (00400275.00401001): the index keeps none.
            }
            n => {
                let tag = tag_of(n).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "{n}: not a DICOM keyword or tag (e.g. PatientName or 00100010)"
                    ))
                })?;
                let vr = vr_of(tag);
                let value = if vr == VR::UI {
                    value.replace(',', "\\")
                } else {
                    value.into_owned()
                };
                identifier.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
            }
        }
    }
    search.conditions = sansfilm_dicom::matching::conditions(&identifier)
        .map_err(|e| Error::BadRequest(e.comment))?;
    Ok(search)
}

/// The base of the DICOMweb URLs of this server, from the request.
pub fn base_url(state: &WebState, headers: &axum::http::HeaderMap) -> String {
    format!("{}/dicom-web", crate::practice::origin(state, headers))
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Adds Retrieve URL (0008,1190) to each answer.
fn with_retrieve_url(
    level: Level,
    base: &str,
    mut answers: Vec<InMemDicomObject>,
) -> Vec<InMemDicomObject> {
    for a in &mut answers {
        let study = text(a, tags::STUDY_INSTANCE_UID);
        let url = match level {
            Level::Patient | Level::Study => format!("{base}/studies/{study}"),
            Level::Series => format!(
                "{base}/studies/{study}/series/{}",
                text(a, tags::SERIES_INSTANCE_UID)
            ),
            Level::Image => format!(
                "{base}/studies/{study}/series/{}/instances/{}",
                text(a, tags::SERIES_INSTANCE_UID),
                text(a, tags::SOP_INSTANCE_UID)
            ),
        };
        a.put(DataElement::new(
            tags::RETRIEVE_URL,
            VR::UR,
            PrimitiveValue::from(url),
        ));
        a.remove_element(tags::AVAILABLE_TRANSFER_SYNTAX_UID);
    }
    answers
}

/// Runs a search at `level` with extra conditions from the path.
async fn search(
    state: WebState,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    level: Level,
    path: Vec<Condition>,
    raw: Option<String>,
) -> Result<Response> {
    let mut search = parse_search(raw.as_deref())?;
    search.conditions.extend(path);
    search.conditions.extend(caller.restriction());
    let base = base_url(&state, &headers);
    let st = state.clone();
    let answers = blocking(move || {
        let answers = st.archive().index().query(&Query {
            level,
            conditions: search.conditions,
            offset: search.offset,
            limit: search.limit,
        })?;
        crate::audit::query(&st, &caller, client, &search.keys, answers.len())?;
        Ok(answers)
    })
    .await?;
    let answers = with_retrieve_url(level, &base, answers);
    let body = dicom_json::to_value(&answers[..])
        .map_err(|e| Error::Internal(format!("DICOM JSON: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Json(body),
    )
        .into_response())
}

/// `GET /studies`.
pub async fn studies(
    State(state): State<WebState>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    search(state, caller, client, headers, Level::Study, vec![], raw).await
}

/// `GET /series`.
pub async fn all_series(
    State(state): State<WebState>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    search(state, caller, client, headers, Level::Series, vec![], raw).await
}

/// `GET /instances`.
pub async fn all_instances(
    State(state): State<WebState>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    search(state, caller, client, headers, Level::Image, vec![], raw).await
}

/// `GET /studies/{study}/series`.
pub async fn study_series(
    State(state): State<WebState>,
    Path(study): Path<String>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let path = vec![Condition::uid(tags::STUDY_INSTANCE_UID, &study)];
    search(state, caller, client, headers, Level::Series, path, raw).await
}

/// `GET /studies/{study}/instances`.
pub async fn study_instances(
    State(state): State<WebState>,
    Path(study): Path<String>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let path = vec![Condition::uid(tags::STUDY_INSTANCE_UID, &study)];
    search(state, caller, client, headers, Level::Image, path, raw).await
}

/// `GET /studies/{study}/series/{series}/instances`.
pub async fn series_instances(
    State(state): State<WebState>,
    Path((study, series)): Path<(String, String)>,
    caller: Caller,
    client: Client,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let path = vec![
        Condition::uid(tags::STUDY_INSTANCE_UID, &study),
        Condition::uid(tags::SERIES_INSTANCE_UID, &series),
    ];
    search(state, caller, client, headers, Level::Image, path, raw).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansfilm_dicom::matching::Matcher;

    #[test]
    fn parameters_become_conditions() {
        let s = parse_search(Some(
            "PatientName=DOE*&00080020=20260101-20261231&StudyInstanceUID=1.2,1.3&limit=5&offset=2&includefield=all&fuzzymatching=true",
        ))
        .unwrap();
        assert_eq!((s.limit, s.offset), (5, 2));
        assert_eq!(s.conditions.len(), 3);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.tag == tags::STUDY_INSTANCE_UID
                    && c.matcher == Matcher::Uids(vec!["1.2".into(), "1.3".into()]))
        );
        let s = parse_search(Some("StudyInstanceUID=1.2%5C1.3")).unwrap();
        assert_eq!(
            s.conditions[0].matcher,
            Matcher::Uids(vec!["1.2".into(), "1.3".into()])
        );
        assert!(parse_search(Some("NotAKeyword=1")).is_err());
        assert!(parse_search(Some("limit=x")).is_err());
        assert!(parse_search(None).unwrap().conditions.is_empty());
    }
}
