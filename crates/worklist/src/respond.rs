//! Answers: an entry cut to the keys a query asks for, in the device's shape.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

use crate::normalize::{to_ascii, to_latin1, truncate_chars};
use crate::profile::{AeProfile, Charset};

/// The answer to `identifier` from `entry` (a full worklist data set): every
/// requested key comes back, filled from the entry or empty, sequences item by
/// item; then the profile's extra keys, character set, case and lengths.
pub fn answer(
    entry: &InMemDicomObject,
    identifier: &InMemDicomObject,
    profile: &AeProfile,
) -> InMemDicomObject {
    let mut out = project(entry, identifier);
    for keyword in &profile.always_return {
        if let Some(tag) =
            StandardDataDictionary
                .by_name(keyword)
                .and_then(|e| match e.tag_range() {
                    dicom_core::dictionary::TagRange::Single(t) => Some(t),
                    _ => None,
                })
            && out.get(tag).is_none()
            && let Some(e) = entry.get(tag)
        {
            out.put(e.clone());
        }
    }
    shape_text(&mut out, profile);
    match profile.charset.term() {
        Some(term) => {
            out.put(DataElement::new(
                tags::SPECIFIC_CHARACTER_SET,
                VR::CS,
                PrimitiveValue::from(term),
            ));
        }
        None => {
            out.remove_element(tags::SPECIFIC_CHARACTER_SET);
        }
    }
    out
}

fn project(entry: &InMemDicomObject, query: &InMemDicomObject) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    for q in query.iter() {
        let tag = q.tag();
        if tag == tags::SPECIFIC_CHARACTER_SET || tag.element() == 0 {
            continue;
        }
        match (q.value(), entry.get(tag)) {
            (Value::Sequence(qs), Some(e)) => {
                let items: Vec<InMemDicomObject> = match (qs.items().first(), e.items()) {
                    (Some(template), Some(items)) => {
                        items.iter().map(|i| project(i, template)).collect()
                    }
                    (None, Some(items)) => items.to_vec(),
                    _ => vec![],
                };
                out.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
            }
            (Value::Sequence(_), None) => {
                out.put(DataElement::new(
                    tag,
                    VR::SQ,
                    DataSetSequence::<InMemDicomObject>::empty(),
                ));
            }
            (_, Some(e)) if !matches!(e.value(), Value::Sequence(_)) => {
                out.put(e.clone());
            }
            _ => {
                // Asked for and unknown here: returned empty, with the
                // dictionary's VR when the query's is UN.
                let vr = match (q.vr(), StandardDataDictionary.by_tag(tag).map(|d| d.vr())) {
                    (VR::UN, Some(VirtualVr::Exact(v))) => v,
                    (vr, _) => vr,
                };
                out.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
            }
        }
    }
    out
}

fn is_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC
    )
}

fn shape_text(obj: &mut InMemDicomObject, profile: &AeProfile) {
    let tags: Vec<_> = obj.iter().map(|e| e.tag()).collect();
    for tag in tags {
        let Some(e) = obj.get(tag) else { continue };
        let vr = e.vr();
        if let Value::Sequence(seq) = e.value() {
            let items: Vec<InMemDicomObject> = seq
                .items()
                .iter()
                .map(|i| {
                    let mut i = i.clone();
                    shape_text(&mut i, profile);
                    i
                })
                .collect();
            obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
            continue;
        }
        if !is_text(vr) {
            continue;
        }
        let Ok(text) = e.to_str() else { continue };
        if text.is_empty() {
            continue;
        }
        let mut t = match profile.charset {
            Charset::Utf8 => text.to_string(),
            Charset::Latin1 => to_latin1(&text),
            Charset::Ascii => to_ascii(&text),
        };
        if profile.uppercase {
            t = t.to_uppercase();
        }
        if let Some(max) = profile.max_length.get(vr.to_string()) {
            t = t
                .split('\\')
                .map(|v| truncate_chars(v, *max))
                .collect::<Vec<_>>()
                .join("\\");
        }
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(t)));
    }
}
