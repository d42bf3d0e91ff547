//! Who is calling, for every request that touches patient data: a practice
//! user (a login session cookie, or HTTP Basic credentials for scripts and
//! DICOMweb clients: over HTTPS, or from this machine), or the holder of a
//! share (its session cookie), who sees that share's study or patient only.
//! Nothing else gets through: no anonymous access to any DICOMweb route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use sansfilm_archive::{Level, Query};
use sansfilm_dicom::matching::{Condition, Matcher};
use sha2::{Digest, Sha256};

use crate::accounts::{Holder, Role, Scope, Share, User};
use crate::error::{Error, Result, blocking};
use crate::state::WebState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sansfilm_session";

/// Whoever made the request, once identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A practice user.
    User(User),
    /// The holder of a share.
    Share(Share),
}

/// The network side of a request.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The peer's address.
    pub addr: SocketAddr,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<crate::tls::TlsPeer>>()
                    .map(|c| c.0.0)
            })
            .ok_or_else(|| Error::Internal("no peer address (serve with connect info)".into()))?;
        Ok(Client { addr })
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<WebState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self> {
        let client = Client::from_request_parts(parts, state).await?;
        if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
            let (accounts, token) = (state.accounts().clone(), token.to_string());
            match blocking(move || accounts.session(&token)).await? {
                Some(Holder::User(u)) => return Ok(Caller::User(u)),
                Some(Holder::Share(s)) => return Ok(Caller::Share(s)),
                None => {}
            }
        }
        let basic = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "));
        if let Some(basic) = basic {
            return basic_user(state, client, basic).await.map(Caller::User);
        }
        Err(Error::Unauthorized(
            "log in first, or open a share link".into(),
        ))
    }
}

/// The user of HTTP Basic credentials.
async fn basic_user(state: &WebState, client: Client, basic: &str) -> Result<User> {
    if !state.options().tls() && !client.addr.ip().is_loopback() {
        return Err(Error::Unauthorized(
            "HTTP Basic credentials are taken over HTTPS only, or from this machine".into(),
        ));
    }
    if state.client_blocked(client.addr.ip()) {
        return Err(Error::TooManyRequests(
            "too many failed attempts from this address; wait a while".into(),
        ));
    }
    let key = hex::encode(Sha256::digest(basic.as_bytes()));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::Unauthorized("malformed Basic credentials".into()))?;
    let (name, password) = decoded
        .split_once(':')
        .ok_or_else(|| Error::Unauthorized("malformed Basic credentials".into()))?;
    // Checked a moment ago, and the user's password is still the one that
    // matched: no argon2 again. A changed password, a role changed or a
    // user removed shows at once.
    let (accounts, n) = (state.accounts().clone(), name.to_string());
    let stored = blocking(move || accounts.stored_hash(&n)).await?;
    if let (Some(cached), Some((role, hash))) = (state.basic_cached(&key), &stored)
        && cached == *hash
    {
        return Ok(User {
            name: name.to_string(),
            role: *role,
        });
    }
    let (accounts, n, p) = (
        state.accounts().clone(),
        name.to_string(),
        password.to_string(),
    );
    match blocking(move || accounts.check_login(&n, &p)).await? {
        Some(user) => {
            if let Some((_, hash)) = stored {
                state.remember_basic(key, hash);
            }
            Ok(user)
        }
        None => {
            state.client_failed(client.addr.ip());
            crate::audit::login(state, name, client, false, "HTTP Basic");
            Err(Error::Unauthorized("wrong user name or password".into()))
        }
    }
}

impl Caller {
    /// For the audit trail and the log: `dr.martin` or `share #12`.
    pub fn name(&self) -> String {
        match self {
            Caller::User(u) => u.name.clone(),
            Caller::Share(s) => format!("share #{}", s.id),
        }
    }

    /// The share, when a share holder calls.
    pub fn share(&self) -> Option<&Share> {
        match self {
            Caller::Share(s) => Some(s),
            Caller::User(_) => None,
        }
    }

    /// Refused unless an administrator calls.
    pub fn require_admin(&self) -> Result<()> {
        match self {
            Caller::User(User {
                role: Role::Admin, ..
            }) => Ok(()),
            _ => Err(Error::Forbidden("administrators only".into())),
        }
    }

    /// Refused unless a practice user calls (not a share holder).
    pub fn require_user(&self) -> Result<&User> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Share(_) => Err(Error::Forbidden("practice users only".into())),
        }
    }

    /// The conditions every query of this caller carries: none for a user,
    /// the share's study or patient for a share holder.
    pub fn restriction(&self) -> Vec<Condition> {
        match self.share().map(|s| &s.scope) {
            None => vec![],
            Some(Scope::Study(uid)) => vec![Condition::uid(tags::STUDY_INSTANCE_UID, uid.clone())],
            Some(Scope::Patient(id)) => vec![Condition {
                tag: tags::PATIENT_ID,
                vr: VR::LO,
                matcher: Matcher::Single(id.clone()),
            }],
        }
    }

    /// Refused (as not found: a share holder learns nothing of other
    /// studies) unless this caller may see study `study_uid`.
    pub async fn check_study(&self, state: &WebState, study_uid: &str) -> Result<()> {
        let restriction = self.restriction();
        if restriction.is_empty() {
            return Ok(());
        }
        let mut conditions = restriction;
        conditions.push(Condition::uid(tags::STUDY_INSTANCE_UID, study_uid));
        let archive = state.archive().clone();
        let found = blocking(move || {
            Ok(archive.index().query(&Query {
                level: Level::Study,
                conditions,
                offset: 0,
                limit: 1,
            })?)
        })
        .await?;
        if found.is_empty() {
            return Err(Error::NotFound(format!("no study {study_uid}")));
        }
        Ok(())
    }
}
