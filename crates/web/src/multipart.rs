//! `multipart/related` bodies as strict clients parse them (OHIF's frame
//! reader among them): the body starts with the boundary line, each part's
//! header is spelled `Content-Type:`, the boundary is random for each
//! response, and parts are streamed as they are made.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;

/// One part: its content type and bytes.
pub struct Part {
    /// `Content-Type` of the part, parameters included.
    pub content_type: String,
    /// Its bytes.
    pub data: Bytes,
}

/// A random boundary (never found in binary data by chance: 32 hex digits
/// of randomness).
pub fn new_boundary() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b[..]);
    format!("sansfilm-{}", hex::encode(b))
}

/// The bytes that come before a part's data.
pub fn part_head(boundary: &str, content_type: &str) -> Bytes {
    Bytes::from(format!(
        "--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    ))
}

/// The bytes that end the body.
pub fn tail(boundary: &str) -> Bytes {
    Bytes::from(format!("--{boundary}--\r\n"))
}

/// A streamed multipart response: the producer sends parts into the channel
/// (a failure sent as `Err` ends the body with an error, which the client
/// sees as a broken transfer rather than a complete one).
pub fn stream_response(
    media_type: &str,
    boundary: String,
    mut parts: mpsc::Receiver<Result<Part, String>>,
) -> Response {
    let content_type = format!("multipart/related; type=\"{media_type}\"; boundary={boundary}");
    let stream = async_stream(
        move |tx: mpsc::Sender<Result<Bytes, std::io::Error>>| async move {
            while let Some(part) = parts.recv().await {
                match part {
                    Ok(part) => {
                        for chunk in [
                            part_head(&boundary, &part.content_type),
                            part.data,
                            Bytes::from_static(b"\r\n"),
                        ] {
                            if tx.send(Ok(chunk)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(why) => {
                        tracing::warn!("multipart response cut short: {why}");
                        let _ = tx.send(Err(std::io::Error::other(why))).await;
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(tail(&boundary))).await;
        },
    );
    let mut rsp = Response::new(Body::from_stream(stream));
    *rsp.status_mut() = StatusCode::OK;
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).expect("ASCII content type"),
    );
    rsp
}

/// A whole multipart body in memory (small responses: a few frames).
pub fn body(media_type: &str, parts: Vec<Part>) -> Response {
    let boundary = new_boundary();
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.data.len() + 128).sum());
    for p in &parts {
        out.extend_from_slice(&part_head(&boundary, &p.content_type));
        out.extend_from_slice(&p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&tail(&boundary));
    let mut rsp = Response::new(Body::from(out));
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!(
            "multipart/related; type=\"{media_type}\"; boundary={boundary}"
        ))
        .expect("ASCII content type"),
    );
    rsp
}

/// A stream fed by a task through a small channel (backpressure: the task
/// waits while the client is slow).
fn async_stream<F, Fut>(
    f: F,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    F: FnOnce(mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_are_framed_as_strict_readers_expect() {
        let rsp = body(
            "application/octet-stream",
            vec![Part {
                content_type: "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
                    .into(),
                data: Bytes::from_static(b"\x01\x02"),
            }],
        );
        let ct = rsp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
        assert!(ct.starts_with("multipart/related; type=\"application/octet-stream\""));
        let other = body("x", vec![]);
        assert_ne!(
            other.headers()[header::CONTENT_TYPE],
            rsp.headers()[header::CONTENT_TYPE],
            "a new boundary each time"
        );
        let bytes = axum::body::to_bytes(rsp.into_body(), 1 << 20)
            .await
            .unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n\x01\x02\r\n--{boundary}--\r\n"
        );
        assert_eq!(bytes, expected.as_bytes());
    }
}
