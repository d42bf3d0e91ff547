//! WADO-RS metadata (PS3.18 10.4.1.1.2): DICOM JSON of each instance's
//! attributes, bulk data (pixel data, large binary values) given as
//! BulkDataURI rather than inline.
//!
//! A viewer asks for a series' metadata each time it opens a study; a
//! 1,000-instance series must not mean 1,000 files opened per request.
//! The series document is built once (the headers read up to the pixel
//! data), kept gzip-compressed in memory under a budget (least recently
//! used out first), and served as it is to clients that take gzip. It is
//! keyed by the series' version: a digest of its instances' index rows (row
//! id and object key), so a new instance, a deleted one or a compressed
//! replacement (a new key) makes a new document.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Mutex;

use bytes::Bytes;
use dicom_core::Tag;
use dicom_core::header::{HasLength, Header};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use sansfilm_archive::{Archive, StoredInstance};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Binary values longer than this (bytes) go by BulkDataURI.
const INLINE_MAX: usize = 1024;

/// Series metadata documents, gzip, by series.
pub struct MetadataCache {
    budget: u64,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    bytes: u64,
    tick: u64,
}

struct Entry {
    version: String,
    gz: Bytes,
    used: u64,
}

impl MetadataCache {
    /// A cache of at most `budget` bytes (compressed).
    pub fn new(budget: u64) -> MetadataCache {
        MetadataCache {
            budget,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn get(&self, series: &str, version: &str) -> Option<Bytes> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        let e = lru.entries.get_mut(series)?;
        if e.version != version {
            return None;
        }
        e.used = tick;
        Some(e.gz.clone())
    }

    fn put(&self, series: &str, version: String, gz: Bytes) {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if gz.len() as u64 > self.budget {
            return;
        }
        lru.tick += 1;
        let tick = lru.tick;
        if let Some(old) = lru.entries.remove(series) {
            lru.bytes -= old.gz.len() as u64;
        }
        lru.bytes += gz.len() as u64;
        lru.entries.insert(
            series.to_string(),
            Entry {
                version,
                gz,
                used: tick,
            },
        );
        while lru.bytes > self.budget {
            let Some(oldest) = lru
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = lru.entries.remove(&oldest) {
                lru.bytes -= e.gz.len() as u64;
            }
        }
    }
}

/// The version of a series: a digest of its instances' rows.
fn version_of(instances: &[StoredInstance]) -> String {
    let mut h = Sha256::new();
    for i in instances {
        h.update(i.id.to_le_bytes());
        h.update(i.path.to_string_lossy().as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Where an instance's resources are: `{base}/studies/S/series/SE/instances/I`.
fn instance_url(base: &str, study: &str, series: &str, sop: &str) -> String {
    format!("{base}/studies/{study}/series/{series}/instances/{sop}")
}

/// The DICOM JSON of one stored instance, bulk data by URI.
pub fn instance_json(
    archive: &Archive,
    stored: &StoredInstance,
    base: &str,
    study: &str,
    series: &str,
) -> Result<Value> {
    let key = stored.key()?;
    let local = archive.objects().local(&key)?;
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(local.path())
        .map_err(|e| Error::Internal(format!("{key}: {e}")))?;
    let url = instance_url(base, study, series, &stored.sop_instance_uid);
    let mut dataset = (*obj).clone();
    let mut bulk: Vec<(Tag, &'static str)> = vec![];
    let big: Vec<Tag> = dataset
        .iter()
        .filter(|e| {
            matches!(
                e.vr(),
                dicom_core::VR::OB
                    | dicom_core::VR::OW
                    | dicom_core::VR::OD
                    | dicom_core::VR::OF
                    | dicom_core::VR::OL
                    | dicom_core::VR::OV
                    | dicom_core::VR::UN
            ) && e.length().0 as usize > INLINE_MAX
        })
        .map(|e| e.tag())
        .collect();
    for tag in big {
        let vr = dataset.get(tag).map(|e| e.vr().to_string()).unwrap_or("OB");
        dataset.remove_element(tag);
        bulk.push((tag, vr));
    }
    let mut json = dicom_json::to_value(&dataset)
        .map_err(|e| Error::Internal(format!("DICOM JSON of {key}: {e}")))?;
    let map = json
        .as_object_mut()
        .ok_or_else(|| Error::Internal("DICOM JSON is not an object".into()))?;
    for (tag, vr) in bulk {
        let t = format!("{:04X}{:04X}", tag.group(), tag.element());
        map.insert(
            t.clone(),
            serde_json::json!({ "vr": vr, "BulkDataURI": format!("{url}/bulkdata/{t}") }),
        );
    }
    if dataset.get(tags::ROWS).is_some() {
        let bits = dataset
            .get(tags::BITS_ALLOCATED)
            .and_then(|e| e.to_int::<u16>().ok())
            .unwrap_or(16);
        let native = sansfilm_codec::transcode::is_native(&stored.transfer_syntax);
        let vr = if native && bits > 8 { "OW" } else { "OB" };
        map.insert(
            "7FE00010".into(),
            serde_json::json!({ "vr": vr, "BulkDataURI": format!("{url}/bulkdata/7FE00010") }),
        );
    }
    map.insert(
        "00083002".into(),
        serde_json::json!({ "vr": "UI", "Value": [stored.transfer_syntax] }),
    );
    Ok(json)
}

/// The metadata of a series as a gzip-compressed JSON array, from the cache
/// when the series has not changed.
pub fn series_document(
    archive: &Archive,
    cache: &MetadataCache,
    base: &str,
    study: &str,
    series: &str,
) -> Result<(Bytes, usize)> {
    let instances = first_versions(archive.index().series_instances(series)?);
    if instances.is_empty() {
        return Err(Error::NotFound(format!(
            "no series {series} in study {study}"
        )));
    }
    let version = format!("{}:{base}", version_of(&instances));
    if let Some(gz) = cache.get(series, &version) {
        return Ok((gz, instances.len()));
    }
    let mut docs = Vec::with_capacity(instances.len());
    for i in &instances {
        docs.push(instance_json(archive, i, base, study, series)?);
    }
    let json = serde_json::to_vec(&docs).map_err(|e| Error::Internal(e.to_string()))?;
    let gz = Bytes::from(gzip(&json)?);
    cache.put(series, version, gz.clone());
    Ok((gz, instances.len()))
}

/// One version of each SOP instance (the first stored), as retrieval gives.
pub fn first_versions(instances: Vec<StoredInstance>) -> Vec<StoredInstance> {
    let mut seen = std::collections::HashSet::new();
    instances
        .into_iter()
        .filter(|i| seen.insert(i.sop_instance_uid.clone()))
        .collect()
}

/// gzip at a fast level (metadata compresses tenfold even so).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map_err(|e| Error::Internal(format!("gzip: {e}")))
}

/// The bytes of a gzip document.
pub fn gunzip(gz: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .map_err(|e| Error::Internal(format!("gunzip: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_to_its_budget_and_knows_versions() {
        let c = MetadataCache::new(100);
        c.put("a", "v1".into(), Bytes::from(vec![0; 60]));
        assert!(c.get("a", "v1").is_some());
        assert!(c.get("a", "v2").is_none(), "another version is a miss");
        c.put("b", "v1".into(), Bytes::from(vec![0; 60]));
        assert!(c.get("a", "v1").is_none(), "the least recently used went");
        assert!(c.get("b", "v1").is_some());
        c.put("huge", "v1".into(), Bytes::from(vec![0; 500]));
        assert!(c.get("huge", "v1").is_none());
        assert_eq!(gunzip(&gzip(b"[1,2]").unwrap()).unwrap(), b"[1,2]");
    }
}
