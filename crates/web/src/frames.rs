//! WADO-RS frames (PS3.18 10.4.1.1.3) and rendered images (10.4.1.1.4):
//! `.../instances/I/frames/1,2` as `multipart/related` of one part per
//! frame, `/rendered` and `/thumbnail` as JPEG or PNG.
//!
//! Frames go as stored for `transfer-syntax=*` (or the stored syntax by
//! name): the JPEG-LS, JPEG 2000 or RLE fragments of each frame, untouched,
//! each part saying its syntax in its `Content-Type:` (what OHIF reads to
//! pick its decoder). Otherwise they are decoded to native pixels
//! (`transfer-syntax=1.2.840.10008.1.2.1`, the default). Renderings apply
//! the image's first VOI LUT or window (min-max otherwise), 8 bits, fitted
//! to `viewport=W,H` when given (thumbnails: 128 pixels by default).

use std::collections::HashMap;
use std::io::Cursor;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
use sansfilm_archive::StoredInstance;
use sansfilm_codec::image::ImageLayout;
use sansfilm_codec::transcode::{Target as Codec, is_native, transcode};

use crate::accept::{EXPLICIT_LE, acceptable};
use crate::access::Caller;
use crate::error::{Error, Result, blocking};
use crate::multipart::{self, Part};
use crate::state::WebState;
use crate::wado::{Target, locate};

/// Frame numbers from `1,2,3` (1-based, as in the URL).
pub fn frame_list(s: &str) -> Result<Vec<usize>> {
    let list: Vec<usize> = s
        .split(',')
        .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n >= 1))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::BadRequest(format!("frames {s}: numbers from 1, separated by commas"))
        })?;
    if list.is_empty() || list.len() > 10_000 {
        return Err(Error::BadRequest("between 1 and 10,000 frames".into()));
    }
    Ok(list)
}

fn number_of_frames(obj: &DefaultDicomObject) -> usize {
    obj.get(tags::NUMBER_OF_FRAMES)
        .and_then(|e| e.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The compressed frames of an encapsulated object, by the rules of PS3.5
/// A.4: one fragment per frame, all fragments for a single frame, or the
/// Basic Offset Table's grouping.
fn encapsulated_frames(obj: &DefaultDicomObject) -> Result<Vec<Vec<u8>>> {
    let e = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| Error::NotFound("no pixel data".into()))?;
    let Value::PixelSequence(seq) = e.value() else {
        return Err(Error::Internal(
            "encapsulated syntax without a pixel sequence".into(),
        ));
    };
    let fragments = seq.fragments();
    let frames = number_of_frames(obj);
    if fragments.len() == frames {
        return Ok(fragments.iter().map(|f| f.to_vec()).collect());
    }
    if frames == 1 {
        return Ok(vec![
            fragments.iter().flat_map(|f| f.iter().copied()).collect(),
        ]);
    }
    let table = seq.offset_table();
    if table.len() != frames {
        return Err(Error::Internal(format!(
            "{frames} frames in {} fragments without an offset table to group them",
            fragments.len()
        )));
    }
    let mut out: Vec<Vec<u8>> = vec![vec![]; frames];
    let mut at: u32 = 0;
    for f in fragments {
        let i = table.iter().rposition(|o| *o <= at).unwrap_or(0);
        out[i].extend_from_slice(f);
        at += 8 + f.len() as u32;
    }
    Ok(out)
}

/// The native frames of an object (decoded when compressed).
fn native_frames(obj: &DefaultDicomObject) -> Result<Vec<Vec<u8>>> {
    let decoded;
    let obj = if is_native(obj.meta().transfer_syntax()) {
        obj
    } else {
        decoded = transcode(obj, Codec::Explicit).map_err(|e| Error::Internal(e.to_string()))?;
        &decoded
    };
    let len = ImageLayout::of(obj)
        .and_then(|l| l.frame_len())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let data = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| Error::NotFound("no pixel data".into()))?
        .to_bytes()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(data.chunks(len.max(1)).map(<[u8]>::to_vec).collect())
}

/// `GET .../instances/{instance}/frames/{list}`.
pub async fn frames(
    State(state): State<WebState>,
    Path((study, series, instance, list)): Path<(String, String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let numbers = frame_list(&list)?;
    let accepts = acceptable(&headers, params.get("accept").map(String::as_str));
    let target = Target {
        study,
        series: Some(series),
        instance: Some(instance),
    };
    let stored = locate(&state, &caller, &target).await?.remove(0);
    let archive = state.archive().clone();
    // As stored when the client takes any syntax or this one; the part's
    // media type is the one it asked for.
    let as_stored = accepts
        .iter()
        .find(|a| {
            matches!(a.transfer_syntax.as_deref(), Some("*"))
                || a.transfer_syntax.as_deref() == Some(stored.transfer_syntax.as_str())
        })
        .cloned();
    let native_ok = accepts.is_empty()
        || accepts.iter().any(|a| {
            a.media_type == "application/octet-stream"
                && matches!(
                    a.transfer_syntax.as_deref(),
                    None | Some("*") | Some(EXPLICIT_LE)
                )
        });
    let media = as_stored
        .as_ref()
        .map(|a| a.media_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into());
    if as_stored.is_none() && !native_ok {
        return Err(Error::NotAcceptable(format!(
            "frames are sent as stored ({}, with transfer-syntax=*) or as native pixels \
             (application/octet-stream)",
            stored.transfer_syntax
        )));
    }
    let parts = blocking(move || {
        let local = archive.objects().local(&stored.key()?)?;
        let obj =
            dicom_object::open_file(local.path()).map_err(|e| Error::Internal(e.to_string()))?;
        let compressed = !is_native(&stored.transfer_syntax);
        let (frames, ts) = if as_stored.is_some() && compressed {
            (encapsulated_frames(&obj)?, stored.transfer_syntax.clone())
        } else {
            (native_frames(&obj)?, EXPLICIT_LE.to_string())
        };
        numbers
            .iter()
            .map(|n| {
                frames
                    .get(n - 1)
                    .map(|f| Part {
                        content_type: format!("{media}; transfer-syntax={ts}"),
                        data: Bytes::from(f.clone()),
                    })
                    .ok_or_else(|| {
                        Error::NotFound(format!("frame {n}: the instance has {}", frames.len()))
                    })
            })
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    let media_type = parts
        .first()
        .map(|p| p.content_type.split(';').next().unwrap_or("").to_string())
        .unwrap_or_default();
    Ok(multipart::body(&media_type, parts))
}

/// Renders frame `frame` (0-based) of a stored instance as 8-bit image
/// bytes, fitted to `viewport` when given; PNG or JPEG.
fn render(
    obj: &DefaultDicomObject,
    frame: u32,
    viewport: Option<(u32, u32)>,
    png: bool,
) -> Result<Vec<u8>> {
    let decoded;
    let obj = if is_native(obj.meta().transfer_syntax()) {
        obj
    } else {
        decoded = transcode(obj, Codec::Explicit).map_err(|e| Error::Internal(e.to_string()))?;
        &decoded
    };
    let pixels = obj
        .decode_pixel_data()
        .map_err(|e| Error::Internal(format!("cannot decode the pixels: {e}")))?;
    let options = ConvertOptions::new().force_8bit();
    let options = match auto_window(obj, &pixels, frame) {
        Some(w) => options.with_voi_lut(VoiLutOption::Custom(w)),
        None => options,
    };
    let img = pixels
        .to_dynamic_image_with_options(frame, &options)
        .map_err(|e| Error::Internal(format!("cannot render: {e}")))?;
    let img = match viewport {
        Some((w, h)) if w > 0 && h > 0 && (img.width() > w || img.height() > h) => {
            img.resize(w, h, image::imageops::FilterType::Triangle)
        }
        _ => img,
    };
    let mut out = Cursor::new(vec![]);
    if png {
        img.write_to(&mut out, image::ImageFormat::Png)
    } else {
        img.to_rgb8().write_to(&mut out, image::ImageFormat::Jpeg)
    }
    .map_err(|e| Error::Internal(format!("cannot encode the image: {e}")))?;
    Ok(out.into_inner())
}

/// A window for a grey image that says none (CT often does not): from the
/// 1st to the 99th percentile of its values, so that the padding around a
/// scan and a few bright pixels do not leave the image black, as min-max
/// would. `None` when the image gives its own (window or VOI LUT).
fn auto_window(
    obj: &DefaultDicomObject,
    pixels: &dicom_pixeldata::DecodedPixelData<'_>,
    frame: u32,
) -> Option<WindowLevel> {
    let has_own =
        obj.get(tags::WINDOW_CENTER).is_some() || obj.get(tags::VOILUT_SEQUENCE).is_some();
    let samples = obj
        .get(tags::SAMPLES_PER_PIXEL)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1);
    if has_own || samples != 1 {
        return None;
    }
    let values: Vec<f64> = pixels.to_vec_frame::<f64>(frame).ok()?;
    let step = (values.len() / 65_536).max(1);
    let mut sample: Vec<f64> = values
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if sample.len() < 2 {
        return None;
    }
    sample.sort_by(f64::total_cmp);
    let lo = sample[sample.len() / 100];
    let hi = sample[sample.len() * 99 / 100];
    (hi > lo).then(|| WindowLevel {
        center: (lo + hi) / 2.0,
        width: hi - lo,
    })
}

fn viewport(params: &HashMap<String, String>, default: Option<(u32, u32)>) -> Option<(u32, u32)> {
    params
        .get("viewport")
        .and_then(|v| {
            let mut it = v.split(',').map(|n| n.trim().parse::<u32>().ok());
            Some((it.next()??, it.next().flatten().unwrap_or(0)))
        })
        .map(|(w, h)| (w, if h == 0 { w } else { h }))
        .or(default)
}

fn wants_png(headers: &HeaderMap, params: &HashMap<String, String>) -> bool {
    acceptable(headers, params.get("accept").map(String::as_str))
        .first()
        .is_some_and(|a| a.media_type == "image/png")
}

/// Renders a stored instance (blocking thread) as the response.
async fn rendered_response(
    state: &WebState,
    stored: StoredInstance,
    frame: u32,
    view: Option<(u32, u32)>,
    png: bool,
) -> Result<Response> {
    let archive = state.archive().clone();
    let bytes = blocking(move || {
        let local = archive.objects().local(&stored.key()?)?;
        let obj =
            dicom_object::open_file(local.path()).map_err(|e| Error::Internal(e.to_string()))?;
        if obj.get(tags::PIXEL_DATA).is_none() {
            return Err(Error::NotAcceptable(
                "this instance has no image to render".into(),
            ));
        }
        render(&obj, frame, view, png)
    })
    .await?;
    let ct = if png { "image/png" } else { "image/jpeg" };
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}

/// The instance of a path, or the middle one of a series or study (what a
/// thumbnail shows).
async fn pick(state: &WebState, caller: &Caller, target: Target) -> Result<StoredInstance> {
    let mut all = locate(state, caller, &target).await?;
    let middle = all.len() / 2;
    Ok(all.swap_remove(middle))
}

fn instance_target(study: String, series: String, instance: String) -> Target {
    Target {
        study,
        series: Some(series),
        instance: Some(instance),
    }
}

/// `GET .../instances/{instance}/rendered`.
pub async fn instance_rendered(
    State(state): State<WebState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let stored = pick(&state, &caller, instance_target(study, series, instance)).await?;
    let (png, view) = (wants_png(&headers, &params), viewport(&params, None));
    rendered_response(&state, stored, 0, view, png).await
}

/// `GET .../instances/{instance}/frames/{frame}/rendered`.
pub async fn frame_rendered(
    State(state): State<WebState>,
    Path((study, series, instance, frame)): Path<(String, String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let n = frame_list(&frame)?[0] as u32 - 1;
    let stored = pick(&state, &caller, instance_target(study, series, instance)).await?;
    let (png, view) = (wants_png(&headers, &params), viewport(&params, None));
    rendered_response(&state, stored, n, view, png).await
}

/// `GET .../instances/{instance}/thumbnail`.
pub async fn instance_thumbnail(
    State(state): State<WebState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let stored = pick(&state, &caller, instance_target(study, series, instance)).await?;
    let (png, view) = (
        wants_png(&headers, &params),
        viewport(&params, Some((128, 128))),
    );
    rendered_response(&state, stored, 0, view, png).await
}

/// `GET /studies/{study}/series/{series}/thumbnail`: its middle image.
pub async fn series_thumbnail(
    State(state): State<WebState>,
    Path((study, series)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study,
        series: Some(series),
        instance: None,
    };
    let stored = pick(&state, &caller, target).await?;
    let (png, view) = (
        wants_png(&headers, &params),
        viewport(&params, Some((128, 128))),
    );
    rendered_response(&state, stored, 0, view, png).await
}

/// `GET /studies/{study}/thumbnail`: its middle image.
pub async fn study_thumbnail(
    State(state): State<WebState>,
    Path(study): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    let target = Target {
        study,
        series: None,
        instance: None,
    };
    let stored = pick(&state, &caller, target).await?;
    let (png, view) = (
        wants_png(&headers, &params),
        viewport(&params, Some((128, 128))),
    );
    rendered_response(&state, stored, 0, view, png).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lists() {
        assert_eq!(frame_list("1,3, 2").unwrap(), vec![1, 3, 2]);
        assert!(frame_list("0").is_err());
        assert!(frame_list("a").is_err());
    }
}
