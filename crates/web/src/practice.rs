//! The practice page (`/`): today's and recent studies with patient,
//! modality, description, number of images, a thumbnail, links to open one
//! in the viewer or download it as a zip of DICOM files, and a button that
//! makes a share code for the referring physician; a search by patient
//! name, ID and date; the archive's health at a glance. Server-rendered,
//! no script. A share holder of a patient's studies sees this list for that
//! patient only (`/shared`), without the practice's buttons.

use std::collections::HashMap;
use std::io::Write;

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sansfilm_archive::{Level, Query as IndexQuery};

use crate::access::{Caller, Client};
use crate::accounts::Scope;
use crate::error::{Error, Result, blocking};
use crate::pages::{esc, page};
use crate::state::WebState;
use crate::wado::{Target, locate};

/// Studies listed at most.
const LISTED: usize = 50;

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn date(d: &str) -> String {
    if d.len() == 8 {
        format!("{}/{}/{}", &d[6..8], &d[4..6], &d[..4])
    } else {
        d.to_string()
    }
}

/// `GET /` (users) and `GET /shared` (share holders of a patient).
pub async fn home(
    State(state): State<WebState>,
    caller: std::result::Result<Caller, Error>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(caller) = caller else {
        return Redirect::to("/login").into_response();
    };
    match render_home(state, caller, q).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render_home(
    state: WebState,
    caller: Caller,
    q: HashMap<String, String>,
) -> Result<String> {
    let mut identifier = InMemDicomObject::new_empty();
    for (key, tag, vr) in [
        ("name", tags::PATIENT_NAME, VR::PN),
        ("id", tags::PATIENT_ID, VR::LO),
        ("date", tags::STUDY_DATE, VR::DA),
    ] {
        if let Some(v) = q.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            let v = if vr == VR::PN && !v.contains('*') {
                format!("{v}*")
            } else {
                v.to_string()
            };
            identifier.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
    }
    let mut conditions = sansfilm_dicom::matching::conditions(&identifier)
        .map_err(|e| Error::BadRequest(e.comment))?;
    conditions.extend(caller.restriction());
    let st = state.clone();
    let (studies, health) = blocking(move || {
        let studies = st.archive().index().query_newest_first(&IndexQuery {
            level: Level::Study,
            conditions,
            offset: 0,
            limit: LISTED,
        })?;
        Ok((studies, health(&st)?))
    })
    .await?;
    let is_user = matches!(caller, Caller::User(_));
    let mut rows = String::new();
    for s in &studies {
        let uid = text(s, tags::STUDY_INSTANCE_UID);
        let u = esc(&uid);
        let share = if is_user {
            format!(
                "<form class=inline method=post action=/practice/share>\
                 <input type=hidden name=study value=\"{u}\"><button type=submit>Share</button></form>"
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td><img class=thumb loading=lazy alt=\"\" src=\"/dicom-web/studies/{u}/thumbnail\"></td>\
             <td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><a href=\"/viewer?StudyInstanceUIDs={u}\">Open</a> · <a href=\"/practice/studies/{u}.zip\">Download</a> {share}</td></tr>",
            esc(&text(s, tags::PATIENT_NAME).replace('^', " ")),
            esc(&text(s, tags::PATIENT_ID)),
            esc(&date(&text(s, tags::STUDY_DATE))),
            esc(&text(s, tags::MODALITIES_IN_STUDY).replace('\\', ", ")),
            esc(&text(s, tags::STUDY_DESCRIPTION)),
            esc(&text(s, tags::NUMBER_OF_STUDY_RELATED_INSTANCES)),
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=7>No study found.</td></tr>".into();
    }
    let who = match &caller {
        Caller::User(u) => format!("{} ({})", esc(&u.name), u.role.as_str()),
        Caller::Share(s) => format!("shared with you until {}", expiry(s.expires_at)),
    };
    let search = if is_user {
        format!(
            "<form method=get action=/><input name=name placeholder=\"Patient name\" value=\"{}\"> \
             <input name=id placeholder=\"Patient ID\" value=\"{}\"> \
             <input name=date placeholder=\"YYYYMMDD or range a-b\" value=\"{}\"> <button>Search</button></form>",
            esc(q.get("name").map(String::as_str).unwrap_or("")),
            esc(q.get("id").map(String::as_str).unwrap_or("")),
            esc(q.get("date").map(String::as_str).unwrap_or("")),
        )
    } else {
        String::new()
    };
    let health = if is_user { health } else { String::new() };
    Ok(page(
        "Studies",
        &format!(
            "<h1>sansfilm</h1><p>{who} <form class=inline method=post action=/logout><button>Log out</button></form></p>\
             {health}{search}<table><thead><tr><th></th><th>Patient</th><th>Date</th><th>Modality</th>\
             <th>Description</th><th>Images</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        ),
    ))
}

fn expiry(t: i64) -> String {
    let days = (t - crate::accounts::now()) / 86_400;
    format!("{days} more days")
}

/// The health line: studies and instances, compression, disk.
fn health(state: &WebState) -> Result<String> {
    let counts = state.archive().index().counts()?;
    let compressed: i64 = state.archive().index().read(|c| {
        c.query_row(
            "SELECT count(*) FROM instances WHERE original_size IS NOT NULL",
            [],
            |r| r.get(0),
        )
    })?;
    let disk = disk_use(state.archive().layout().root());
    let verify = match state.archive().last_verify() {
        Some(v) => {
            let days = (crate::accounts::now() - v.at) / 86_400;
            let class = if v.problems > 0 || days > 7 {
                "err"
            } else {
                "ok"
            };
            format!(
                "<span class={class}>last verify {days} days ago: {} instances, {} problems</span>",
                v.checked, v.problems
            )
        }
        None => "<span class=err>never verified: run <code>sansfilm verify</code></span>".into(),
    };
    let backups = backups(state.archive().layout().root());
    Ok(format!(
        "<p class=health><span>{} studies, {} images</span><span>{} compressed</span>{disk}\
         {verify}{backups}</p>",
        counts.studies, counts.instances, compressed
    ))
}

/// Each backup target's last snapshot, from `last-backup.json`; a week
/// and a day without one is flagged (a removable disk missed its turn).
fn backups(data_dir: &std::path::Path) -> String {
    let state = sansfilm_backup::state::load(data_dir);
    if state.is_empty() {
        return "<span class=err>no backup yet: <code>sansfilm backup</code></span>".into();
    }
    let now = crate::accounts::now();
    state
        .iter()
        .map(|(target, last)| {
            let days = sansfilm_backup::state::age_days(last.at, now);
            let class = if last.problems > 0 || days > 8 {
                "err"
            } else {
                "ok"
            };
            format!(
                "<span class={class}>backup {} {days} days ago: {} images</span>",
                crate::pages::esc(target),
                last.objects
            )
        })
        .collect()
}

fn disk_use(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return String::new();
    };
    // SAFETY: statvfs(3) on a NUL-terminated path into a zeroed struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return String::new();
    }
    let total = s.f_blocks as f64 * s.f_frsize as f64;
    let free = s.f_bavail as f64 * s.f_frsize as f64;
    format!(
        "<span>disk {:.0} % used, {:.1} GB free</span>",
        100.0 * (1.0 - free / total.max(1.0)),
        free / 1e9
    )
}

/// `POST /practice/share`: a share of a study, its link and code shown once.
pub async fn share(
    State(state): State<WebState>,
    caller: Caller,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    let user = caller.require_user()?.clone();
    let study = form
        .get("study")
        .cloned()
        .ok_or_else(|| Error::BadRequest("which study?".into()))?;
    caller.check_study(&state, &study).await?;
    let days = form
        .get("days")
        .and_then(|d| d.parse().ok())
        .unwrap_or(state.options().share_days);
    let st = state.clone();
    let s = study.clone();
    let new = blocking(move || {
        let new = st
            .accounts()
            .create_share(Scope::Study(s.clone()), days, &user.name)?;
        crate::audit::share_changed(
            &st,
            &user.name,
            "share created",
            new.share.id,
            &format!("study {s}"),
        )?;
        Ok(new)
    })
    .await?;
    let link = format!("{}/share/{}", origin(&state, &headers), new.token);
    Ok(Html(page(
        "Share",
        &format!(
            "<h1>Shared for {days} days</h1><p>Link: <a href=\"{l}\">{l}</a></p>\
             <p>Or, printed on the report: code <b>{}</b>, PIN <b>{}</b>, at {}/code</p>\
             <p>These are shown only now. <a href=/>Back</a></p>",
            esc(&new.code),
            esc(&new.pin),
            esc(&origin(&state, &headers)),
            l = esc(&link)
        ),
    ))
    .into_response())
}

/// The origin browsers reach this server at.
pub fn origin(state: &WebState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.options().public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.options().tls() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `GET /practice/studies/{study}.zip`: the study's files as stored, in a
/// zip (stored, not deflated: the images are compressed already), written
/// to a scratch file then streamed.
pub async fn download(
    State(state): State<WebState>,
    Path(name): Path<String>,
    caller: Caller,
    client: Client,
) -> Result<Response> {
    let study = name
        .strip_suffix(".zip")
        .ok_or_else(|| Error::NotFound("studies are downloaded as STUDY_UID.zip".into()))?
        .to_string();
    let target = Target {
        study: study.clone(),
        series: None,
        instance: None,
    };
    let instances = locate(&state, &caller, &target).await?;
    let st = state.clone();
    let s = study.clone();
    let file = blocking(move || {
        crate::audit::read(&st, &caller, client, "download", &s, "", instances.len())?;
        let tmp = tempfile::NamedTempFile::new_in(st.archive().layout().tmp())
            .map_err(|e| Error::Io(st.archive().layout().tmp(), e))?;
        let mut zip =
            zip::ZipWriter::new(tmp.reopen().map_err(|e| Error::Io(tmp.path().into(), e))?);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (n, i) in instances.iter().enumerate() {
            let bytes = st.archive().objects().get(&i.key()?)?;
            zip.start_file(format!("{:04}_{}.dcm", n + 1, i.sop_instance_uid), options)
                .map_err(|e| Error::Internal(format!("zip: {e}")))?;
            zip.write_all(&bytes)
                .map_err(|e| Error::Io(tmp.path().into(), e))?;
        }
        zip.finish()
            .map_err(|e| Error::Internal(format!("zip: {e}")))?;
        Ok(tmp)
    })
    .await?;
    // The scratch file is removed once opened: the open handle keeps it
    // until the body is sent.
    let handle = tokio::fs::File::from_std(
        file.reopen()
            .map_err(|e| Error::Io(file.path().into(), e))?,
    );
    drop(file);
    let stream = tokio_util::io::ReaderStream::new(handle);
    let mut rsp = Response::new(Body::from_stream(stream));
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    rsp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{study}.zip\""))
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(rsp)
}
