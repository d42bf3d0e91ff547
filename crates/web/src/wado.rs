//! WADO-RS (PS3.18 10.4): studies, series and instances retrieved as
//! `multipart/related; type="application/dicom"`, their metadata as DICOM
//! JSON, their bulk data.
//!
//! Each instance goes in the transfer syntax the client asks for: as stored
//! for `transfer-syntax=*` or the stored syntax by name; decoded (the
//! codec's checked decoding) to Explicit VR Little Endian, the default, or
//! to Implicit VR Little Endian when asked; `406` when the client accepts
//! only another compressed syntax. A lossy syntax is never made.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dicom_dictionary_std::tags;
use sansfilm_archive::{Archive, Level, StoredInstance};
use sansfilm_dicom::matching::Condition;
use tokio::sync::mpsc;

use crate::accept::{acceptable, choose_syntax};
use crate::access::{Caller, Client};
use crate::error::{Error, Result, blocking};
use crate::metadata::{first_versions, gunzip, series_document};
use crate::multipart::{self, Part};
use crate::qido::base_url;
use crate::state::WebState;

/// Which instances a path names.
#[derive(Debug, Clone)]
pub struct Target {
    /// Study Instance UID.
    pub study: String,
    /// Series Instance UID, for a series or an instance.
    pub series: Option<String>,
    /// SOP Instance UID, for an instance.
    pub instance: Option<String>,
}

/// The stored instances a path names (one version of each), after the
/// caller's access to the study was checked; `404` when there are none.
pub async fn locate(
    state: &WebState,
    caller: &Caller,
    target: &Target,
) -> Result<Vec<StoredInstance>> {
    caller.check_study(state, &target.study).await?;
    let mut conditions = vec![Condition::uid(tags::STUDY_INSTANCE_UID, &target.study)];
    if let Some(s) = &target.series {
        conditions.push(Condition::uid(tags::SERIES_INSTANCE_UID, s));
    }
    if let Some(i) = &target.instance {
        conditions.push(Condition::uid(tags::SOP_INSTANCE_UID, i));
    }
    let archive = state.archive().clone();
    let found = blocking(move || Ok(archive.index().locate(&conditions)?)).await?;
    if found.is_empty() {
        return Err(Error::NotFound(format!(
            "nothing stored for {}",
            [
                Some(&target.study),
                target.series.as_ref(),
                target.instance.as_ref()
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join("/")
        )));
    }
    Ok(found)
}

/// The Patient ID of a study, for the audit trail.
async fn patient_of(state: &WebState, study: &str) -> String {
    let archive = state.archive().clone();
    let study = study.to_string();
    blocking(move || {
        let found = archive.index().query(&sansfilm_archive::Query {
            level: Level::Study,
            conditions: vec![Condition::uid(tags::STUDY_INSTANCE_UID, &study)],
            offset: 0,
            limit: 1,
        })?;
        Ok(found
            .first()
            .and_then(|o| o.get(tags::PATIENT_ID))
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default())
    })
    .await
    .unwrap_or_default()
}

/// A stored instance as Part 10 bytes in `ts`: the file as stored, or
/// decoded to a native syntax. Blocking.
pub fn part10_in(archive: &Archive, stored: &StoredInstance, ts: &str) -> Result<Vec<u8>> {
    let key = stored.key()?;
    if ts == stored.transfer_syntax {
        return Ok(archive.objects().get(&key)?);
    }
    let local = archive.objects().local(&key)?;
    let obj = dicom_object::open_file(local.path())
        .map_err(|e| Error::Internal(format!("{key}: {e}")))?;
    let dataset = sansfilm_codec::transcode::native_dataset(&obj, ts)
        .map_err(|e| Error::Internal(format!("{key}: {e}")))?;
    let mut out = sansfilm_dicom::Part10Header {
        sop_class_uid: stored.sop_class_uid.clone(),
        sop_instance_uid: stored.sop_instance_uid.clone(),
        transfer_syntax: ts.to_string(),
        source_ae_title: None,
        receiving_ae_title: None,
    }
    .encode()
    .map_err(|e| Error::Internal(e.to_string()))?;
    out.extend_from_slice(&dataset);
    Ok(out)
}

/// Streams instances as `multipart/related; type="application/dicom"`.
async fn retrieve(
    state: WebState,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    params: HashMap<String, String>,
    target: Target,
) -> Result<Response> {
    let accepts = acceptable(&headers, params.get("accept").map(String::as_str));
    let instances = locate(&state, &caller, &target).await?;
    let syntaxes: Vec<String> = instances
        .iter()
        .map(|i| choose_syntax(&accepts, "application/dicom", &i.transfer_syntax))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::NotAcceptable(
                "the instances can be sent as stored (transfer-syntax=*), or in Explicit or \
                 Implicit VR Little Endian"
                    .into(),
            )
        })?;
    let patient = patient_of(&state, &target.study).await;
    let st = state.clone();
    let (study, n) = (target.study.clone(), instances.len());
    blocking(move || crate::audit::read(&st, &caller, client, "retrieve", &study, &patient, n))
        .await?;
    let (tx, rx) = mpsc::channel(2);
    let archive = state.archive().clone();
    tokio::task::spawn_blocking(move || {
        for (i, ts) in instances.iter().zip(syntaxes) {
            let part = part10_in(&archive, i, &ts)
                .map(|data| Part {
                    content_type: format!("application/dicom; transfer-syntax={ts}"),
                    data: Bytes::from(data),
                })
                .map_err(|e| format!("{}: {e}", i.sop_instance_uid));
            let failed = part.is_err();
            if tx.blocking_send(part).is_err() || failed {
                return;
            }
        }
    });
    Ok(multipart::stream_response(
        "application/dicom",
        multipart::new_boundary(),
        rx,
    ))
}

/// `GET /studies/{study}`.
pub async fn study(
    State(state): State<WebState>,
    Path(study): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study,
        series: None,
        instance: None,
    };
    retrieve(state, caller, client, headers, params, target).await
}

/// `GET /studies/{study}/series/{series}`.
pub async fn series(
    State(state): State<WebState>,
    Path((study, series)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study,
        series: Some(series),
        instance: None,
    };
    retrieve(state, caller, client, headers, params, target).await
}

/// `GET /studies/{study}/series/{series}/instances/{instance}`.
pub async fn instance(
    State(state): State<WebState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study,
        series: Some(series),
        instance: Some(instance),
    };
    retrieve(state, caller, client, headers, params, target).await
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A JSON document kept gzip: sent as it is to clients that take gzip.
fn json_response(gz: Bytes, headers: &HeaderMap) -> Result<Response> {
    let mut rsp = if accepts_gzip(headers) {
        let mut r = Response::new(Body::from(gz));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Body::from(gunzip(&gz)?))
    };
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/dicom+json"),
    );
    rsp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Ok(rsp)
}

/// The series of a study a caller may see, checked to belong to it.
async fn series_of(
    state: &WebState,
    caller: &Caller,
    study: &str,
    only: Option<&str>,
) -> Result<Vec<String>> {
    caller.check_study(state, study).await?;
    let archive = state.archive().clone();
    let mut conditions = vec![Condition::uid(tags::STUDY_INSTANCE_UID, study)];
    if let Some(s) = only {
        conditions.push(Condition::uid(tags::SERIES_INSTANCE_UID, s));
    }
    let found = blocking(move || {
        Ok(archive.index().query(&sansfilm_archive::Query {
            level: Level::Series,
            conditions,
            offset: 0,
            limit: 0,
        })?)
    })
    .await?;
    let series: Vec<String> = found
        .iter()
        .filter_map(|o| o.get(tags::SERIES_INSTANCE_UID))
        .filter_map(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .collect();
    if series.is_empty() {
        return Err(Error::NotFound(format!("nothing stored for {study}")));
    }
    Ok(series)
}

async fn metadata(
    state: WebState,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    study: String,
    only_series: Option<String>,
) -> Result<Response> {
    let series = series_of(&state, &caller, &study, only_series.as_deref()).await?;
    let base = base_url(&state, &headers);
    let patient = patient_of(&state, &study).await;
    let st = state.clone();
    let gz = blocking(move || {
        let mut docs = vec![];
        let mut n = 0;
        for s in &series {
            let (gz, count) = series_document(st.archive(), st.metadata(), &base, &study, s)?;
            n += count;
            docs.push(gz);
        }
        crate::audit::read(&st, &caller, client, "metadata", &study, &patient, n)?;
        if docs.len() == 1 {
            return Ok(docs.remove(0));
        }
        // A study: the series' arrays joined into one.
        let mut joined = b"[".to_vec();
        for gz in &docs {
            let json = gunzip(gz)?;
            let inner = &json[1..json.len() - 1];
            if !inner.is_empty() {
                if joined.len() > 1 {
                    joined.push(b',');
                }
                joined.extend_from_slice(inner);
            }
        }
        joined.push(b']');
        Ok(Bytes::from(crate::metadata::gzip(&joined)?))
    })
    .await?;
    json_response(gz, &headers)
}

/// `GET /studies/{study}/metadata`.
pub async fn study_metadata(
    State(state): State<WebState>,
    Path(study): Path<String>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
) -> Result<Response> {
    metadata(state, caller, client, headers, study, None).await
}

/// `GET /studies/{study}/series/{series}/metadata`.
pub async fn series_metadata(
    State(state): State<WebState>,
    Path((study, series)): Path<(String, String)>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
) -> Result<Response> {
    metadata(state, caller, client, headers, study, Some(series)).await
}

/// `GET /studies/{study}/series/{series}/instances/{instance}/metadata`.
pub async fn instance_metadata(
    State(state): State<WebState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study: study.clone(),
        series: Some(series.clone()),
        instance: Some(instance),
    };
    let found = first_versions(locate(&state, &caller, &target).await?);
    let base = base_url(&state, &headers);
    let archive = state.archive().clone();
    let json = blocking(move || {
        let docs: Result<Vec<_>> = found
            .iter()
            .map(|i| crate::metadata::instance_json(&archive, i, &base, &study, &series))
            .collect();
        serde_json::to_vec(&docs?).map_err(|e| Error::Internal(e.to_string()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/dicom+json")], json).into_response())
}

/// `GET .../instances/{instance}/bulkdata/{tag}`: one top-level binary
/// value (pixel data: the stored value, native bytes or the compressed
/// fragments one after the other, its syntax in the part's type).
pub async fn bulkdata(
    State(state): State<WebState>,
    Path((study, series, instance, tag)): Path<(String, String, String, String)>,
    caller: Caller,
) -> Result<Response> {
    let target = Target {
        study,
        series: Some(series),
        instance: Some(instance),
    };
    let found = locate(&state, &caller, &target).await?;
    let tag = parse_tag(&tag)?;
    let archive = state.archive().clone();
    let stored = found[0].clone();
    let (bytes, ts) = blocking(move || {
        let local = archive.objects().local(&stored.key()?)?;
        let obj =
            dicom_object::open_file(local.path()).map_err(|e| Error::Internal(e.to_string()))?;
        let e = obj
            .get(tag)
            .ok_or_else(|| Error::NotFound(format!("no {tag} in this instance")))?;
        let bytes = match e.value() {
            dicom_core::value::Value::PixelSequence(seq) => seq
                .fragments()
                .iter()
                .flat_map(|f| f.iter().copied())
                .collect(),
            v => v
                .to_bytes()
                .map_err(|_| Error::BadRequest(format!("{tag} is not bulk data")))?
                .into_owned(),
        };
        Ok((bytes, stored.transfer_syntax.clone()))
    })
    .await?;
    Ok(multipart::body(
        "application/octet-stream",
        vec![Part {
            content_type: format!("application/octet-stream; transfer-syntax={ts}"),
            data: Bytes::from(bytes),
        }],
    ))
}

/// A tag written as 8 hex digits.
pub fn parse_tag(s: &str) -> Result<dicom_core::Tag> {
    let bad = || Error::BadRequest(format!("{s}: not a tag (8 hex digits)"));
    if s.len() != 8 {
        return Err(bad());
    }
    let g = u16::from_str_radix(&s[..4], 16).map_err(|_| bad())?;
    let e = u16::from_str_radix(&s[4..], 16).map_err(|_| bad())?;
    Ok(dicom_core::Tag(g, e))
}

/// `404` for a path that exists for no one.
pub async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "no such DICOMweb resource\n")
}
