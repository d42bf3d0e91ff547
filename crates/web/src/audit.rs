//! What the web services write to the audit trail: logins (User
//! Authentication), share codes tried, shares made and revoked, queries
//! (QIDO-RS), studies read (metadata and retrieval: DICOM Instances
//! Transferred, with the share's number when a share holder reads) and
//! instances stored (STOW-RS). Frames, thumbnails and renderings read
//! after a study's metadata are not recorded one by one.
//!
//! Queries, reads and stores are recorded before they are answered (a
//! blocking append on the caller's blocking thread); failed logins and
//! codes without waiting, so that a flood of them cannot slow the server.

use sansfilm_audit::AuditEvent;
use sansfilm_audit::event::{Action, EventKind, Outcome};

use crate::access::{Caller, Client};
use crate::error::{Error, Result};
use crate::state::WebState;

fn host() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "sansfilm".into())
}

fn caller_participant(event: AuditEvent, caller: &Caller, client: Client) -> AuditEvent {
    event
        .participant(caller.name(), client.addr.ip().to_string(), true)
        .participant("SANSFILM-WEB", host(), false)
}

/// A login (or a failed one), by form, HTTP Basic or share code.
pub fn login(state: &WebState, who: &str, client: Client, ok: bool, how: &str) {
    let Some(log) = state.audit() else { return };
    let event = AuditEvent::new(
        EventKind::UserAuthentication,
        "login",
        Action::Execute,
        if ok {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
    )
    .participant(who, client.addr.ip().to_string(), true)
    .participant("SANSFILM-WEB", host(), false)
    .detail(format!(
        "{how}: {}",
        if ok { "accepted" } else { "refused" }
    ));
    if ok {
        if let Err(e) = log.append(event) {
            tracing::error!("cannot audit a login: {e}");
        }
    } else {
        log.append_detached(event);
    }
}

/// A logout.
pub fn logout(state: &WebState, caller: &Caller, client: Client) {
    let Some(log) = state.audit() else { return };
    let event = AuditEvent::new(
        EventKind::UserAuthentication,
        "logout",
        Action::Execute,
        Outcome::Success,
    );
    log.append_detached(caller_participant(event, caller, client));
}

/// A share made or revoked (`what`: "share created", "share revoked").
pub fn share_changed(
    state: &WebState,
    by: &str,
    what: &str,
    share_id: i64,
    scope: &str,
) -> Result<()> {
    let Some(log) = state.audit() else {
        return Ok(());
    };
    let event = AuditEvent::new(
        EventKind::SecurityAlert,
        what,
        Action::Execute,
        Outcome::Success,
    )
    .participant(by, "", true)
    .participant("SANSFILM-WEB", host(), false)
    .detail(format!("share #{share_id}: {scope}"));
    log.append(event)
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("cannot audit: {e}")))
}

/// A QIDO-RS query, recorded before it is answered.
pub fn query(
    state: &WebState,
    caller: &Caller,
    client: Client,
    keys: &str,
    answers: usize,
) -> Result<()> {
    let Some(log) = state.audit() else {
        return Ok(());
    };
    let event = AuditEvent::new(
        EventKind::Query,
        "QIDO-RS",
        Action::Execute,
        Outcome::Success,
    )
    .query(keys.to_string())
    .detail(format!("{answers} answers{}", share_note(caller)));
    log.append(caller_participant(event, caller, client))
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("cannot audit the query: {e}")))
}

/// A study read (metadata or instances), recorded before it is answered.
pub fn read(
    state: &WebState,
    caller: &Caller,
    client: Client,
    what: &str,
    study_uid: &str,
    patient_id: &str,
    instances: usize,
) -> Result<()> {
    let Some(log) = state.audit() else {
        return Ok(());
    };
    let event = AuditEvent::new(
        EventKind::InstancesTransferred,
        what,
        Action::Read,
        Outcome::Success,
    )
    .patient(patient_id)
    .study(study_uid)
    .instances(u32::try_from(instances).unwrap_or(u32::MAX))
    .detail(format!("WADO-RS{}", share_note(caller)));
    log.append(caller_participant(event, caller, client))
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("cannot audit the read: {e}")))
}

/// Instances stored by STOW-RS (recorded once they are durable, before the
/// answer).
pub fn stored(
    state: &WebState,
    caller: &Caller,
    client: Client,
    study_uids: &[String],
    stored: usize,
    failed: usize,
) -> Result<()> {
    let Some(log) = state.audit() else {
        return Ok(());
    };
    let mut event = AuditEvent::new(
        EventKind::InstancesTransferred,
        "STOW-RS",
        Action::Create,
        if failed == 0 {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
    )
    .instances(u32::try_from(stored).unwrap_or(u32::MAX))
    .detail(format!("{stored} stored, {failed} failed"));
    for uid in study_uids {
        event = event.study(uid.clone());
    }
    log.append(caller_participant(event, caller, client))
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("cannot audit the store: {e}")))
}

fn share_note(caller: &Caller) -> String {
    caller
        .share()
        .map(|s| format!(" (share #{})", s.id))
        .unwrap_or_default()
}
