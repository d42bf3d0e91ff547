//! STOW-RS (PS3.18 10.5): `POST /studies` (or `/studies/{study}`) with a
//! `multipart/related; type="application/dicom"` body of Part 10 files,
//! stored through the archive's durable ingest like a C-STORE: each part
//! streamed to a temporary file, fsynced, renamed and indexed before the
//! answer. The answer lists each instance: stored (Referenced SOP
//! Sequence, with its Retrieve URL), or failed with its reason (Failed SOP
//! Sequence, Failure Reason as C-STORE statuses: A700 out of resources,
//! A900 data set and request disagree, C000 cannot be understood); `200`
//! when all were stored, `202` when some failed, `409` when none was.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_archive::{FailureKind, IncomingMeta, StoreOutcome};

use crate::access::{Caller, Client};
use crate::error::{Error, Result};
use crate::qido::base_url;
use crate::state::WebState;

/// Bytes read before the file meta group must have been seen.
const META_WINDOW: usize = 64 * 1024;

/// One instance's outcome.
enum Outcome {
    Stored {
        class: String,
        instance: String,
        study: String,
        url: String,
    },
    Failed {
        class: String,
        instance: String,
        reason: u16,
        why: String,
    },
}

fn reason_of(kind: FailureKind) -> u16 {
    match kind {
        FailureKind::OutOfResources => 0xA700,
        FailureKind::CannotUnderstand => 0xC000,
        FailureKind::DataSetMismatch => 0xA900,
        _ => 0x0110,
    }
}

/// `POST /studies`.
pub async fn store(
    State(state): State<WebState>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    run(state, caller, client, headers, None, body).await
}

/// `POST /studies/{study}`: every instance must belong to that study.
pub async fn store_in_study(
    State(state): State<WebState>,
    Path(study): Path<String>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    run(state, caller, client, headers, Some(study), body).await
}

/// The boundary of a `multipart/related` body of DICOM files.
fn boundary(headers: &HeaderMap) -> Result<String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (essence, params) = crate::accept::media_type_parts(ct);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if essence != "multipart/related" {
        return Err(Error::UnsupportedMediaType(format!(
            "STOW-RS takes multipart/related; type=\"application/dicom\", not {ct:?}"
        )));
    }
    if let Some(t) = param("type")
        && !t.eq_ignore_ascii_case("application/dicom")
    {
        return Err(Error::UnsupportedMediaType(format!(
            "parts of type {t} are not taken: send application/dicom (Part 10 files)"
        )));
    }
    param("boundary")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::BadRequest("multipart/related without a boundary".into()))
}

async fn run(
    state: WebState,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    study: Option<String>,
    body: Body,
) -> Result<Response> {
    let user = caller.require_user()?.clone();
    let boundary = boundary(&headers)?;
    let base = base_url(&state, &headers);
    let limit = state.options().max_upload_bytes;
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit));
    let mut parts =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut outcomes = vec![];
    loop {
        let field = match parts.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                // A body cut or over the limit: what was stored stays stored
                // and is listed; the rest never came.
                tracing::warn!(peer = %client.addr, "STOW-RS body: {e}");
                if outcomes.is_empty() {
                    return Err(Error::BadRequest(format!(
                        "cannot read the multipart body: {e}"
                    )));
                }
                break;
            }
        };
        outcomes.push(store_part(&state, &user.name, field, study.as_deref(), &base).await);
    }
    if outcomes.is_empty() {
        return Err(Error::BadRequest("no instance in the request".into()));
    }
    let studies: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Stored { study, .. } => Some(study.clone()),
            Outcome::Failed { .. } => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let n_ok = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    let n_failed = outcomes.len() - n_ok;
    {
        let (st, c, s) = (state.clone(), caller.clone(), studies.clone());
        crate::error::blocking(move || crate::audit::stored(&st, &c, client, &s, n_ok, n_failed))
            .await?;
    }
    let status = if n_failed == 0 {
        StatusCode::OK
    } else if n_ok > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CONFLICT
    };
    let answer = response(
        &outcomes,
        study.as_deref().map(|s| format!("{base}/studies/{s}")),
    );
    let json = dicom_json::to_value(&answer).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        json.to_string(),
    )
        .into_response())
}

/// The STOW-RS answer data set.
fn response(outcomes: &[Outcome], study_url: Option<String>) -> InMemDicomObject {
    let mut refs = vec![];
    let mut failed = vec![];
    for o in outcomes {
        match o {
            Outcome::Stored {
                class,
                instance,
                url,
                ..
            } => refs.push(InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    PrimitiveValue::from(class.as_str()),
                ),
                DataElement::new(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(instance.as_str()),
                ),
                DataElement::new(
                    tags::RETRIEVE_URL,
                    VR::UR,
                    PrimitiveValue::from(url.as_str()),
                ),
            ])),
            Outcome::Failed {
                class,
                instance,
                reason,
                why,
            } => {
                tracing::warn!(sop_instance = %instance, reason = format_args!("{reason:04X}"), "STOW-RS instance refused: {why}");
                failed.push(InMemDicomObject::from_element_iter([
                    DataElement::new(
                        tags::REFERENCED_SOP_CLASS_UID,
                        VR::UI,
                        PrimitiveValue::from(class.as_str()),
                    ),
                    DataElement::new(
                        tags::REFERENCED_SOP_INSTANCE_UID,
                        VR::UI,
                        PrimitiveValue::from(instance.as_str()),
                    ),
                    DataElement::new(tags::FAILURE_REASON, VR::US, PrimitiveValue::from(*reason)),
                ]))
            }
        }
    }
    let mut out = InMemDicomObject::new_empty();
    if let Some(url) = study_url {
        out.put(DataElement::new(
            tags::RETRIEVE_URL,
            VR::UR,
            PrimitiveValue::from(url),
        ));
    }
    if !refs.is_empty() {
        out.put(DataElement::new(
            tags::REFERENCED_SOP_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(refs),
        ));
    }
    if !failed.is_empty() {
        out.put(DataElement::new(
            tags::FAILED_SOP_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(failed),
        ));
    }
    out
}

/// Stores one part: its meta group read from its first bytes, then the rest
/// streamed into the archive on a blocking thread.
async fn store_part(
    state: &WebState,
    user: &str,
    mut field: multer::Field<'static>,
    study: Option<&str>,
    base: &str,
) -> Outcome {
    let failed = |class: &str, instance: &str, reason: u16, why: String| Outcome::Failed {
        class: class.into(),
        instance: instance.into(),
        reason,
        why,
    };
    let mut head: Vec<u8> = vec![];
    let mut ended = false;
    while head.len() < META_WINDOW {
        match field.chunk().await {
            Ok(Some(c)) => head.extend_from_slice(&c),
            Ok(None) => {
                ended = true;
                break;
            }
            Err(e) => return failed("", "", 0xC000, format!("part cut short: {e}")),
        }
    }
    let Ok((meta, offset)) = sansfilm_dicom::part10::read_meta(&head[..]) else {
        return failed(
            "",
            "",
            0xC000,
            "not a DICOM Part 10 file (no file meta group)".into(),
        );
    };
    let class = meta.media_storage_sop_class_uid().to_string();
    let instance = meta.media_storage_sop_instance_uid().to_string();
    let incoming_meta = IncomingMeta {
        sop_class_uid: class.clone(),
        sop_instance_uid: instance.clone(),
        transfer_syntax: meta.transfer_syntax().to_string(),
        calling_ae: format!("WEB:{user}"),
        called_ae: "SANSFILM".into(),
        max_bytes: Some(state.options().max_upload_bytes),
    };
    if !sansfilm_dicom::syntax::is_accepted_transfer_syntax(&incoming_meta.transfer_syntax) {
        return failed(
            &class,
            &instance,
            0xC000,
            format!(
                "transfer syntax {} is not taken",
                incoming_meta.transfer_syntax
            ),
        );
    }
    // Err: the part was cut short; the writer then drops the instance
    // (its temporary file goes) rather than store what came.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::result::Result<bytes::Bytes, String>>(4);
    let archive = state.archive().clone();
    let first = head[offset as usize..].to_vec();
    let want_study = study.map(str::to_string);
    let writer = tokio::task::spawn_blocking(move || {
        let mut incoming = archive.begin(incoming_meta)?;
        incoming.write(&first)?;
        while let Some(chunk) = rx.blocking_recv() {
            match chunk {
                Ok(c) => incoming.write(&c)?,
                Err(why) => return Ok(Err((0xC000, why))),
            }
        }
        let summary = incoming.summary()?;
        if let Some(want) = want_study
            && summary.study.study_uid != want
        {
            return Ok(Err((
                0xA900,
                format!(
                    "the instance belongs to study {}, not {want}",
                    summary.study.study_uid
                ),
            )));
        }
        let study = summary.study.study_uid.clone();
        let series = summary.series.series_uid.clone();
        match incoming.commit()? {
            StoreOutcome::Stored { .. }
            | StoreOutcome::Duplicate { .. }
            | StoreOutcome::Conflict { .. } => {
                Ok::<_, sansfilm_archive::Error>(Ok((study, series)))
            }
        }
    });
    if !ended {
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    if tx.send(Ok(c)).await.is_err() {
                        break; // the writer failed; its error says why
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(format!("part cut short: {e}"))).await;
                    break;
                }
            }
        }
    }
    drop(tx);
    match writer.await {
        Ok(Ok(Ok((study, series)))) => Outcome::Stored {
            url: format!("{base}/studies/{study}/series/{series}/instances/{instance}"),
            class,
            instance,
            study,
        },
        Ok(Ok(Err((reason, why)))) => failed(&class, &instance, reason, why),
        Ok(Err(e)) => failed(&class, &instance, reason_of(e.kind()), e.to_string()),
        Err(e) => failed(&class, &instance, 0x0110, format!("internal error: {e}")),
    }
}
