//! The viewer: OHIF's prebuilt files (`dist/` of npm's `@ohif/app`, fetched
//! by `scripts/fetch-viewer.sh`, never committed) served at the root of the
//! same origin as `/dicom-web`, so no CORS is needed, with an
//! `app-config.js` of our own that points OHIF at this server: series-level
//! metadata, frames fetched with `transfer-syntax=*` (as stored, decoded in
//! the browser), thumbnails drawn from frames.
//!
//! `/viewer` needs a login or a share session; a study opens from
//! `/viewer?StudyInstanceUIDs=UID`. The viewer's own files carry no patient
//! data and are served to anyone (the login page needs none of them).

use std::path::{Path, PathBuf};

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::access::Caller;
use crate::state::WebState;

/// OHIF's configuration for this server.
pub const APP_CONFIG: &str = r#"window.config = {
  routerBasename: '/',
  showStudyList: false,
  extensions: [],
  modes: [],
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  defaultDataSourceName: 'sansfilm',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'sansfilm',
      configuration: {
        friendlyName: 'sansfilm',
        name: 'sansfilm',
        wadoUriRoot: window.location.origin + '/dicom-web',
        qidoRoot: window.location.origin + '/dicom-web',
        wadoRoot: window.location.origin + '/dicom-web',
        qidoSupportsIncludeField: true,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
"#;

/// `GET /app-config.js`.
pub async fn app_config() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_CONFIG,
    )
        .into_response()
}

/// The viewer's `index.html`, when it is installed.
fn index_of(dir: &Path) -> Option<PathBuf> {
    let index = dir.join("index.html");
    index.is_file().then_some(index)
}

/// `GET /viewer` (and OHIF's other client-side routes): the viewer's page
/// for a logged-in user or a share holder, the login page otherwise.
pub async fn viewer_page(
    State(state): State<WebState>,
    uri: OriginalUri,
    caller: Result<Caller, crate::Error>,
) -> Response {
    if caller.is_err() {
        let next = uri.0.to_string();
        let to = format!(
            "/login?next={}",
            percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
        );
        return Redirect::to(&to).into_response();
    }
    let Some(index) = state.options().viewer_dir.as_deref().and_then(index_of) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(
                "<!doctype html><meta charset=utf-8><title>sansfilm</title>\
                 <p>The viewer is not installed: run <code>scripts/fetch-viewer.sh</code> \
                 and set <code>[web] viewer_dir</code>.</p>",
            ),
        )
            .into_response();
    };
    match tokio::fs::read(&index).await {
        Ok(html) => {
            let mut rsp = Html(html).into_response();
            rsp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            rsp
        }
        Err(e) => crate::Error::Io(index, e).into_response(),
    }
}
