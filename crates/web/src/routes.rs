//! The web server's routes: DICOMweb under `/dicom-web`, the pages, the
//! viewer's files at the root of the same origin.

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::WebState;
use crate::{frames, pages, practice, qido, stow, viewer, wado};

/// The DICOMweb resources (PS3.18), relative to `/dicom-web`.
fn dicomweb() -> Router<WebState> {
    const I: &str = "/studies/{study}/series/{series}/instances/{instance}";
    Router::new()
        .route("/studies", get(qido::studies).post(stow::store))
        .route("/series", get(qido::all_series))
        .route("/instances", get(qido::all_instances))
        .route(
            "/studies/{study}",
            get(wado::study).post(stow::store_in_study),
        )
        .route("/studies/{study}/metadata", get(wado::study_metadata))
        .route("/studies/{study}/series", get(qido::study_series))
        .route("/studies/{study}/instances", get(qido::study_instances))
        .route("/studies/{study}/thumbnail", get(frames::study_thumbnail))
        .route("/studies/{study}/series/{series}", get(wado::series))
        .route(
            "/studies/{study}/series/{series}/metadata",
            get(wado::series_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/thumbnail",
            get(frames::series_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/instances",
            get(qido::series_instances),
        )
        .route(I, get(wado::instance))
        .route(&format!("{I}/metadata"), get(wado::instance_metadata))
        .route(&format!("{I}/rendered"), get(frames::instance_rendered))
        .route(&format!("{I}/thumbnail"), get(frames::instance_thumbnail))
        .route(&format!("{I}/frames/{{frames}}"), get(frames::frames))
        .route(
            &format!("{I}/frames/{{frame}}/rendered"),
            get(frames::frame_rendered),
        )
        .route(&format!("{I}/bulkdata/{{tag}}"), get(wado::bulkdata))
        .fallback(wado::not_found)
}

/// Every route, with the cross-origin isolation headers the viewer's
/// volume views need (COOP, COEP; everything is same-origin).
pub fn router(state: WebState) -> Router {
    let mut app = Router::new()
        .nest("/dicom-web", dicomweb())
        .route("/", get(practice::home))
        .route("/shared", get(practice::home))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/share/{token}", get(pages::share_link))
        .route("/code", get(pages::code_page).post(pages::code))
        .route("/practice/share", post(practice::share))
        .route("/practice/studies/{name}", get(practice::download))
        .route("/app-config.js", get(viewer::app_config))
        .route("/viewer", get(viewer::viewer_page))
        .route("/viewer/{*rest}", get(viewer::viewer_page));
    if let Some(dir) = state.options().viewer_dir.clone() {
        app = app.fallback_service(ServeDir::new(dir).precompressed_gzip());
    }
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    app.layer(header("cross-origin-opener-policy", "same-origin"))
        .layer(header("cross-origin-embedder-policy", "require-corp"))
        .layer(header("cross-origin-resource-policy", "same-origin"))
        .layer(header("x-content-type-options", "nosniff"))
        .layer(header("referrer-policy", "no-referrer"))
        .with_state(state)
}
