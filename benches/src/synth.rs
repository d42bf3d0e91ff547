//! Distinct instances made from one real file.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

/// A fresh UID under the 2.25 (UUID-derived) root, unique per call.
pub fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let pid = std::process::id() as u128;
    // 2.25 followed by a decimal integer below 2^128, as PS3.5 B.2 requires.
    let value = (nanos << 40) ^ (pid << 20) ^ n;
    format!("2.25.{value}")
}

/// Writes `n` copies of `template` into `out_dir`, each with its own SOP
/// Instance UID and Instance Number, all in one new study and series.
/// Returns the paths written.
pub fn write_distinct_copies(template: &Path, out_dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(out_dir).expect("create output directory");
    let mut obj = dicom_object::open_file(template).expect("open template");
    let study = new_uid();
    let series = new_uid();
    obj.put(DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(study.as_str()),
    ));
    obj.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(series.as_str()),
    ));
    (0..n)
        .map(|i| {
            let uid = new_uid();
            obj.put(DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(uid.as_str()),
            ));
            obj.put(DataElement::new(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::from((i + 1).to_string()),
            ));
            obj.update_meta(|m| m.media_storage_sop_instance_uid = uid.clone());
            let path = out_dir.join(format!("{:05}.dcm", i + 1));
            obj.write_to_file(&path).expect("write copy");
            path
        })
        .collect()
}

/// Writes a multi-frame instance of `frames` copies of the template's frame
/// (Multi-frame Grayscale Word Secondary Capture), to test large transfers.
pub fn write_multiframe(template: &Path, out: &Path, frames: u32) -> PathBuf {
    let mut obj = dicom_object::open_file(template).expect("open template");
    let pixels = obj
        .element(tags::PIXEL_DATA)
        .expect("template has pixel data")
        .to_bytes()
        .expect("native pixel data")
        .into_owned();
    let mut all = Vec::with_capacity(pixels.len() * frames as usize);
    for _ in 0..frames {
        all.extend_from_slice(&pixels);
    }
    let class =
        dicom_dictionary_std::uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE;
    let uid = new_uid();
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(class),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid.as_str()),
    ));
    obj.put(DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(new_uid()),
    ));
    obj.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(new_uid()),
    ));
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from(frames.to_string()),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(all),
    ));
    obj.update_meta(|m| {
        m.media_storage_sop_class_uid = class.to_string();
        m.media_storage_sop_instance_uid = uid.clone();
    });
    obj.write_to_file(out).expect("write multi-frame");
    out.to_path_buf()
}
