//! What a WADO-RS client accepts: the `Accept` header's media types and
//! their `type` and `transfer-syntax` parameters (PS3.18 8.7), and the
//! `accept` query parameter browsers use.

use axum::http::{HeaderMap, header};

/// Explicit VR Little Endian: the default transfer syntax of
/// `application/dicom` and of uncompressed bulk data (PS3.18 8.7.3).
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// One acceptable representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptable {
    /// `type/subtype`, lower case (for multipart, the `type` parameter's).
    pub media_type: String,
    /// The `transfer-syntax` parameter: `Some("*")` for any, a UID, or none
    /// given.
    pub transfer_syntax: Option<String>,
}

/// The representations a request accepts, in its order; `*/*` or none
/// given: an empty list (anything).
pub fn acceptable(headers: &HeaderMap, query_accept: Option<&str>) -> Vec<Acceptable> {
    let values: Vec<String> = match query_accept {
        Some(q) => vec![q.to_string()],
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect(),
    };
    let mut out = vec![];
    for value in &values {
        for item in split_media_ranges(value) {
            // Read leniently by hand: OHIF leaves `type=application/octet-stream`
            // unquoted, which strict parsers (the `mime` crate) refuse.
            let mut pieces = item.split(';').map(str::trim);
            let essence = pieces.next().unwrap_or("").to_ascii_lowercase();
            let params: Vec<(String, String)> = pieces
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_string(),
                    )
                })
                .collect();
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let media_type = if essence.starts_with("multipart/") {
                match param("type") {
                    Some(t) => t.to_ascii_lowercase(),
                    None => continue,
                }
            } else {
                essence
            };
            if media_type == "*/*" || media_type.is_empty() {
                continue;
            }
            out.push(Acceptable {
                media_type,
                transfer_syntax: param("transfer-syntax"),
            });
        }
    }
    out
}

/// A media type's essence (lower case) and its parameters (names lower
/// case, quotes removed). Read leniently by hand: OHIF leaves
/// `type=application/octet-stream` unquoted, which strict parsers refuse.
pub fn media_type_parts(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = value.split(';').map(str::trim);
    let essence = pieces.next().unwrap_or("").to_ascii_lowercase();
    let params = pieces
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect();
    (essence, params)
}

/// Splits an Accept value at the commas that separate media ranges (not
/// those inside quoted parameters).
fn split_media_ranges(value: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// The transfer syntax to send an object stored in `stored` to a client
/// accepting `accepts` as `media_type` (`application/dicom`,
/// `application/octet-stream`...): the stored one for `transfer-syntax=*`
/// or when asked for by name; Explicit VR Little Endian (decoded) when the
/// client names it, names none, or says nothing at all; `None` when
/// nothing the client accepts can be made.
pub fn choose_syntax(accepts: &[Acceptable], media_type: &str, stored: &str) -> Option<String> {
    let relevant: Vec<&Acceptable> = accepts
        .iter()
        .filter(|a| a.media_type == media_type || a.media_type.ends_with("/*"))
        .collect();
    if accepts.is_empty() {
        return Some(default_for(media_type, stored));
    }
    for a in relevant {
        match a.transfer_syntax.as_deref() {
            Some("*") => return Some(stored.to_string()),
            Some(ts) if ts == stored => return Some(stored.to_string()),
            Some(ts) if sansfilm_codec::transcode::is_native(ts) && ts != "1.2.840.10008.1.2.2" => {
                return Some(ts.to_string());
            }
            Some(_) => continue,
            None => return Some(default_for(media_type, stored)),
        }
    }
    None
}

fn default_for(_media_type: &str, _stored: &str) -> String {
    EXPLICIT_LE.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn ohif_frames_and_dicomweb_client_instances() {
        // OHIF's header, `type` unquoted.
        let a = acceptable(
            &headers("multipart/related; type=application/octet-stream; transfer-syntax=*"),
            None,
        );
        assert_eq!(a[0].media_type, "application/octet-stream");
        assert_eq!(
            choose_syntax(&a, "application/octet-stream", "1.2.840.10008.1.2.4.80").as_deref(),
            Some("1.2.840.10008.1.2.4.80")
        );
        let a = acceptable(
            &headers("multipart/related; type=\"application/dicom\""),
            None,
        );
        assert_eq!(
            choose_syntax(&a, "application/dicom", "1.2.840.10008.1.2.4.80").as_deref(),
            Some(EXPLICIT_LE)
        );
        let a = acceptable(
            &headers(
                "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90, multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2",
            ),
            None,
        );
        assert_eq!(a.len(), 2);
        assert_eq!(
            choose_syntax(&a, "application/dicom", "1.2.840.10008.1.2.4.80").as_deref(),
            Some("1.2.840.10008.1.2")
        );
        let a = acceptable(
            &headers(
                "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90",
            ),
            None,
        );
        assert_eq!(
            choose_syntax(&a, "application/dicom", "1.2.840.10008.1.2.4.80"),
            None
        );
        assert_eq!(
            choose_syntax(&[], "application/dicom", "1.2.840.10008.1.2.4.80").as_deref(),
            Some(EXPLICIT_LE)
        );
        assert!(acceptable(&headers("*/*"), None).is_empty());
    }
}
