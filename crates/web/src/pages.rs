//! The small server-rendered pages around the viewer: login and logout of
//! practice users, a share link opened, a share code and PIN typed.
//!
//! Sessions are cookies: `HttpOnly` (no script reads them), `SameSite=Strict`
//! (no other site's form or link sends them, so the forms need no other
//! CSRF token), `Secure` when served over HTTPS.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::access::{Caller, Client, SESSION_COOKIE, cookie};
use crate::accounts::{CodeRefusal, Holder, Scope, Share};
use crate::error::{Error, blocking};
use crate::state::WebState;

/// Text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page with the common head.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{} — sansfilm</title><style>{STYLE}</style><body>{body}</body></html>",
        esc(title)
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}\
input,button{font-size:1rem;padding:.3rem}form.inline{display:inline}.err{color:#a00}.ok{color:#060}\
.health span{margin-right:1.5rem}img.thumb{width:64px;height:64px;object-fit:contain;background:#000}";

fn session_cookie(state: &WebState, token: &str, secs: i64) -> HeaderValue {
    let secure = if state.options().tls() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={secs}{secure}"
    ))
    .expect("ASCII cookie")
}

/// A redirect that sets the session cookie.
fn with_session(state: &WebState, token: &str, secs: i64, to: &str) -> Response {
    let mut rsp = Redirect::to(to).into_response();
    rsp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(state, token, secs));
    rsp
}

/// Only local paths are followed after a login (no open redirect).
fn local_path(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/".into(),
    }
}

fn login_form(next: &str, error: Option<&str>) -> Html<String> {
    let err = error
        .map(|e| format!("<p class=err>{}</p>", esc(e)))
        .unwrap_or_default();
    Html(page(
        "Log in",
        &format!(
            "<h1>sansfilm</h1>{err}<form method=post action=/login>\
             <input type=hidden name=next value=\"{}\">\
             <p><label>User <input name=user autocomplete=username required autofocus></label></p>\
             <p><label>Password <input name=password type=password autocomplete=current-password required></label></p>\
             <p><button type=submit>Log in</button></p></form>\
             <p><a href=/code>I have a code from my practice</a></p>",
            esc(next)
        ),
    ))
}

/// `GET /login`.
pub async fn login_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    login_form(&local_path(q.get("next")), None)
}

/// `POST /login`.
pub async fn login(
    State(state): State<WebState>,
    client: Client,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let next = local_path(form.get("next"));
    let user = form.get("user").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    if state.client_blocked(client.addr.ip()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(&next, Some("Too many failed attempts: wait a few minutes.")),
        )
            .into_response();
    }
    let accounts = state.accounts().clone();
    let (u, p) = (user.clone(), password);
    let checked = blocking(move || accounts.check_login(&u, &p)).await;
    match checked {
        Ok(Some(found)) => {
            crate::audit::login(&state, &user, client, true, "login form");
            let secs = i64::from(state.options().session_hours) * 3600;
            let accounts = state.accounts().clone();
            match blocking(move || accounts.open_session(&Holder::User(found), secs)).await {
                Ok(token) => with_session(&state, &token, secs, &next),
                Err(e) => e.into_response(),
            }
        }
        Ok(None) => {
            state.client_failed(client.addr.ip());
            crate::audit::login(&state, &user, client, false, "login form");
            (
                StatusCode::UNAUTHORIZED,
                login_form(&next, Some("Wrong user name or password.")),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<WebState>,
    client: Client,
    caller: std::result::Result<Caller, Error>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE).map(str::to_string) {
        let accounts = state.accounts().clone();
        let _ = blocking(move || accounts.close_session(&token)).await;
    }
    if let Ok(c) = &caller {
        crate::audit::logout(&state, c, client);
    }
    with_session(&state, "", 0, "/login")
}

/// Where a share holder goes: the viewer on the shared study, or the
/// patient's studies.
fn share_home(share: &Share) -> String {
    match &share.scope {
        Scope::Study(uid) => format!("/viewer?StudyInstanceUIDs={uid}"),
        Scope::Patient(_) => "/shared".into(),
    }
}

async fn open_share(state: &WebState, share: Share, client: Client, how: &str) -> Response {
    crate::audit::login(state, &format!("share #{}", share.id), client, true, how);
    let secs = (share.expires_at - crate::accounts::now()).clamp(60, 12 * 3600);
    let home = share_home(&share);
    let accounts = state.accounts().clone();
    match blocking(move || accounts.open_session(&Holder::Share(share), secs)).await {
        Ok(token) => with_session(state, &token, secs, &home),
        Err(e) => e.into_response(),
    }
}

/// `GET /share/{token}`: a share link opened.
pub async fn share_link(
    State(state): State<WebState>,
    Path(token): Path<String>,
    client: Client,
) -> Response {
    if state.client_blocked(client.addr.ip()) {
        return Error::TooManyRequests("too many failed attempts from this address".into())
            .into_response();
    }
    let accounts = state.accounts().clone();
    let t = token.clone();
    match blocking(move || accounts.share_by_token(&t)).await {
        Ok(Some(share)) if share.is_open(crate::accounts::now()) => {
            open_share(&state, share, client, "share link").await
        }
        Ok(Some(share)) => {
            crate::audit::login(
                &state,
                &format!("share #{}", share.id),
                client,
                false,
                "share link: expired or revoked",
            );
            (
                StatusCode::FORBIDDEN,
                Html(page("Link closed", "<p class=err>This link has expired or was withdrawn. Ask the practice for a new one.</p>")),
            )
                .into_response()
        }
        Ok(None) => {
            state.client_failed(client.addr.ip());
            crate::audit::login(&state, "unknown share", client, false, "share link");
            (
                StatusCode::UNAUTHORIZED,
                Html(page(
                    "Unknown link",
                    "<p class=err>This link is not known.</p>",
                )),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn code_form(error: Option<&str>) -> Html<String> {
    let err = error
        .map(|e| format!("<p class=err>{}</p>", esc(e)))
        .unwrap_or_default();
    Html(page(
        "Open a shared study",
        &format!(
            "<h1>Images shared with you</h1>{err}<form method=post action=/code>\
             <p><label>Code <input name=code autocomplete=off required autofocus placeholder=XXXXX-XXXXX></label></p>\
             <p><label>PIN <input name=pin inputmode=numeric autocomplete=off required></label></p>\
             <p><button type=submit>Open</button></p></form>"
        ),
    ))
}

/// `GET /code`.
pub async fn code_page() -> Html<String> {
    code_form(None)
}

/// `POST /code`: a short code and its PIN; wrong attempts are limited per
/// code (the share locks) and per client address.
pub async fn code(
    State(state): State<WebState>,
    client: Client,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if state.client_blocked(client.addr.ip()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            code_form(Some(
                "Too many failed attempts from here: wait a few minutes.",
            )),
        )
            .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let pin = form.get("pin").cloned().unwrap_or_default();
    let accounts = state.accounts().clone();
    match blocking(move || accounts.share_by_code(&code, &pin)).await {
        Ok(Ok(share)) => open_share(&state, share, client, "share code").await,
        Ok(Err(refusal)) => {
            state.client_failed(client.addr.ip());
            crate::audit::login(
                &state,
                "share code",
                client,
                false,
                &format!("share code: {refusal:?}"),
            );
            let (status, msg) = match refusal {
                CodeRefusal::Wrong => (StatusCode::UNAUTHORIZED, "Wrong code or PIN."),
                CodeRefusal::Locked => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many wrong PINs for this code: it is locked for 15 minutes.",
                ),
                CodeRefusal::Closed => (
                    StatusCode::FORBIDDEN,
                    "This code has expired or was withdrawn. Ask the practice for a new one.",
                ),
            };
            (status, code_form(Some(msg))).into_response()
        }
        Err(e) => e.into_response(),
    }
}
