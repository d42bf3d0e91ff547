//! `sansfilm find`, `sansfilm move` and `sansfilm get`: Query/Retrieve as a
//! client.

use std::process::ExitCode;

use anyhow::Context;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, TagRange, VirtualVr};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags, uids};
use dicom_object::InMemDicomObject;
use sansfilm_dimse::client::ClientOptions;
use sansfilm_dimse::status;
use sansfilm_dimse::{client_get, client_query};

/// Keys returned when `find` is given none, per level.
fn default_keys(level: &str) -> &'static [&'static str] {
    match level {
        "PATIENT" => &[
            "PatientID",
            "PatientName",
            "PatientBirthDate",
            "NumberOfPatientRelatedStudies",
        ],
        "SERIES" => &[
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "Modality",
            "SeriesNumber",
            "SeriesDescription",
            "NumberOfSeriesRelatedInstances",
        ],
        "IMAGE" => &[
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "SOPClassUID",
            "InstanceNumber",
        ],
        _ => &[
            "PatientID",
            "PatientName",
            "StudyDate",
            "StudyDescription",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
            "StudyInstanceUID",
        ],
    }
}

/// An identifier from `Keyword=Value` pairs (a keyword alone asks for it).
fn identifier(level: &str, keys: &[String]) -> anyhow::Result<InMemDicomObject> {
    let mut obj = InMemDicomObject::from_element_iter([DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(level),
    )]);
    let mut pairs: Vec<(String, String)> = keys
        .iter()
        .map(|k| match k.split_once('=') {
            Some((key, value)) => (key.trim().to_string(), value.to_string()),
            None => (k.trim().to_string(), String::new()),
        })
        .collect();
    if pairs.is_empty() {
        pairs = default_keys(level)
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
    }
    for (keyword, value) in pairs {
        let entry = StandardDataDictionary.by_name(&keyword).with_context(|| {
            format!("-k {keyword}: not a DICOM keyword (e.g. PatientName, StudyDate)")
        })?;
        let TagRange::Single(tag) = entry.tag_range() else {
            anyhow::bail!("-k {keyword}: not a single attribute");
        };
        let vr = match entry.vr() {
            VirtualVr::Exact(vr) => vr,
            _ => VR::LO,
        };
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    Ok(obj)
}

fn options(aet: &str, called: &str) -> ClientOptions {
    ClientOptions {
        calling_ae: aet.into(),
        called_ae: called.into(),
        ..Default::default()
    }
}

/// `sansfilm find`: prints one line per answer, `Keyword=value` pairs.
#[tokio::main]
pub async fn find(
    aet: &str,
    called: &str,
    level: &str,
    patient_root: bool,
    keys: &[String],
    host: &str,
    port: u16,
) -> anyhow::Result<ExitCode> {
    let level = level.to_ascii_uppercase();
    let id = identifier(&level, keys)?;
    let model = if patient_root {
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
    } else {
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
    };
    let (answers, final_status) =
        client_query::find(&format!("{host}:{port}"), &options(aet, called), model, &id).await?;
    for answer in &answers {
        let fields: Vec<String> = answer
            .iter()
            .filter(|e| {
                e.header().tag != tags::QUERY_RETRIEVE_LEVEL
                    && e.header().tag != tags::SPECIFIC_CHARACTER_SET
            })
            .map(|e| {
                let name = StandardDataDictionary
                    .by_tag(e.header().tag)
                    .map(|d| d.alias().to_string())
                    .unwrap_or_else(|| e.header().tag.to_string());
                let value = e.to_str().map(|v| v.trim().to_string()).unwrap_or_default();
                format!("{name}={value}")
            })
            .collect();
        println!("{}", fields.join("  "));
    }
    eprintln!(
        "{} answers; final status {final_status:04X} {}",
        answers.len(),
        status::describe(final_status)
    );
    Ok(if final_status == status::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm move`: asks the server to send a study to `destination`.
#[tokio::main]
pub async fn move_study(
    aet: &str,
    called: &str,
    study: &str,
    destination: &str,
    host: &str,
    port: u16,
) -> anyhow::Result<ExitCode> {
    let id = identifier("STUDY", &[format!("StudyInstanceUID={study}")])?;
    let outcome = client_query::move_to(
        &format!("{host}:{port}"),
        &options(aet, called),
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        &id,
        destination,
    )
    .await?;
    println!(
        "C-MOVE to {destination}: {:04X} {}; {} sent, {} failed{}",
        outcome.status,
        status::describe(outcome.status),
        outcome.counts.completed,
        outcome.counts.failed,
        outcome
            .comment
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    for uid in &outcome.failed_uids {
        println!("FAILED {uid}");
    }
    Ok(if outcome.status == status::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sansfilm get`: fetches a study with C-GET into `out`.
#[tokio::main]
pub async fn get_study(
    aet: &str,
    called: &str,
    study: &str,
    out: &std::path::Path,
    uncompressed: bool,
    host: &str,
    port: u16,
) -> anyhow::Result<ExitCode> {
    let address = format!("{host}:{port}");
    let options = options(aet, called);
    // The study's own classes first, when the archive says them (SOP
    // Classes in Study); then those a practice commonly holds.
    let mut classes: Vec<String> = vec![];
    let id = identifier(
        "STUDY",
        &[
            format!("StudyInstanceUID={study}"),
            "SOPClassesInStudy".into(),
        ],
    )?;
    let model = uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND;
    if let Ok((answers, _)) = client_query::find(&address, &options, model, &id).await {
        for a in &answers {
            if let Some(v) = a
                .get(tags::SOP_CLASSES_IN_STUDY)
                .and_then(|e| e.to_str().ok())
            {
                classes.extend(v.split('\\').map(|c| c.trim().to_string()));
            }
        }
    }
    for c in client_get::COMMON_STORAGE_CLASSES {
        if !classes.iter().any(|k| k == c) {
            classes.push(c.to_string());
        }
    }
    classes.retain(|c| !c.is_empty());
    let request = client_get::GetRequest {
        model: uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET.into(),
        storage_classes: classes,
        native_only: uncompressed,
        out_dir: out.to_path_buf(),
    };
    let id = identifier("STUDY", &[format!("StudyInstanceUID={study}")])?;
    let outcome = client_get::get(&address, &options, &request, &id).await?;
    println!(
        "C-GET: {:04X} {}; {} received into {}, {} failed{}",
        outcome.status,
        status::describe(outcome.status),
        outcome.received.len(),
        out.display(),
        outcome.counts.failed,
        outcome
            .comment
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    for uid in &outcome.failed_uids {
        println!("FAILED {uid}");
    }
    for (uid, why) in &outcome.not_kept {
        println!("NOT KEPT {uid}: {why}");
    }
    if outcome.received.is_empty() {
        eprintln!("no instance of study {study} came: is the Study Instance UID right?");
    }
    Ok(
        if outcome.status == status::SUCCESS
            && outcome.not_kept.is_empty()
            && !outcome.received.is_empty()
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}
