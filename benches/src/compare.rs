//! Element-by-element comparison of data sets.
//!
//! Peers may re-encode what they send (group lengths dropped, sequence lengths
//! made undefined), so "stored unchanged" is checked on element values, not on
//! bytes: every element of one data set must be in the other with the same VR
//! and value. Group length elements and trailing padding are ignored.

use std::path::Path;

use dicom_core::value::Value;
use dicom_object::InMemDicomObject;

/// Compares the data sets of two Part 10 files; `Err` says where they differ.
pub fn same_dataset(a: &Path, b: &Path) -> Result<(), String> {
    let a = dicom_object::open_file(a).map_err(|e| format!("{}: {e}", a.display()))?;
    let b = dicom_object::open_file(b).map_err(|e| format!("{}: {e}", b.display()))?;
    compare(&a, &b, "")
}

fn significant(obj: &InMemDicomObject) -> Vec<&dicom_object::mem::InMemElement> {
    obj.iter()
        .filter(|e| {
            e.header().tag.element() != 0x0000 && e.header().tag != dicom_core::Tag(0xFFFC, 0xFFFC)
        })
        .collect()
}

fn compare(a: &InMemDicomObject, b: &InMemDicomObject, path: &str) -> Result<(), String> {
    let ea = significant(a);
    let eb = significant(b);
    if ea.len() != eb.len() {
        return Err(format!("{path}: {} elements versus {}", ea.len(), eb.len()));
    }
    for (x, y) in ea.iter().zip(eb.iter()) {
        let tag = x.header().tag;
        let here = format!("{path}{tag}");
        if tag != y.header().tag {
            return Err(format!("{here}: tag {} versus {}", tag, y.header().tag));
        }
        match (x.value(), y.value()) {
            (Value::Sequence(sa), Value::Sequence(sb)) => {
                if sa.items().len() != sb.items().len() {
                    return Err(format!("{here}: item count differs"));
                }
                for (i, (ia, ib)) in sa.items().iter().zip(sb.items()).enumerate() {
                    compare(ia, ib, &format!("{here}[{i}]."))?;
                }
            }
            (Value::PixelSequence(pa), Value::PixelSequence(pb)) => {
                if pa.fragments() != pb.fragments() {
                    return Err(format!("{here}: pixel fragments differ"));
                }
            }
            (Value::Primitive(pa), Value::Primitive(pb)) => {
                if pa.to_bytes() != pb.to_bytes() && pa.to_str() != pb.to_str() {
                    return Err(format!("{here}: values differ"));
                }
            }
            _ => return Err(format!("{here}: value kinds differ")),
        }
    }
    Ok(())
}

/// Whether two Part 10 files hold the same data set bytes after their meta
/// groups (for files dicom-rs cannot fully parse, like a truncated one).
pub fn same_dataset_bytes(a: &Path, b: &Path) -> bool {
    let body = |p: &Path| -> Option<Vec<u8>> {
        let bytes = std::fs::read(p).ok()?;
        let (_, offset) = sansfilm_dicom::part10::read_meta(&bytes[..]).ok()?;
        Some(bytes[offset as usize..].to_vec())
    };
    matches!((body(a), body(b)), (Some(x), Some(y)) if x == y)
}
