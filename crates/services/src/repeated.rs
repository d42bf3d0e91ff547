//! Repeated identical failures from one source, recorded once with a count.
//!
//! Ten thousand junk frames on the HL7 port made ten thousand audit records
//! in seconds: the trail is not to be flooded, yet every failure must stay
//! visible. The first failure of a kind from an address is recorded as it
//! comes; identical ones within the next [`WINDOW`] are only counted; the
//! count, with the times of the first and last, is recorded as one more
//! event when a failure of that kind comes after the window, or when the
//! service stops. "Identical" means same address, same ACK code, same
//! message type and the same reason once its numbers and quoted values are
//! blanked (a flood of "invalid segment ID \"X1\"" varies only there).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use sansfilm_audit::{AuditEvent, AuditLog};

/// How long identical failures are counted before the next is recorded.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Most kinds of failure followed at once; past it, failures are recorded
/// one by one again (nothing is lost, the flood is then only not folded).
const MAX_KINDS: usize = 10_000;

/// Folds repeated failures before they reach the audit log.
#[derive(Debug)]
pub struct RepeatedFailures {
    log: AuditLog,
    window: Duration,
    kinds: Mutex<HashMap<String, Tally>>,
}

#[derive(Debug)]
struct Tally {
    since: Instant,
    /// Failures after the recorded one.
    more: u64,
    first: SystemTime,
    last: SystemTime,
    event: AuditEvent,
}

impl RepeatedFailures {
    /// Folds failures over `window` before appending them to `log`.
    pub fn new(log: AuditLog, window: Duration) -> Self {
        RepeatedFailures {
            log,
            window,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// A failure from `source`: appended (and durable) when it is the first
    /// of its kind in the window, counted otherwise. `kind` says what makes
    /// failures identical besides the address (see [`fold_key`]).
    pub fn record(
        &self,
        source: IpAddr,
        kind: &str,
        event: AuditEvent,
    ) -> sansfilm_audit::Result<()> {
        let key = format!("{source} {}", fold_key(kind));
        let now = Instant::now();
        let mut due = vec![];
        let append_this = {
            let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
            // Windows that ended: their counts are recorded now.
            kinds.retain(|_, t| {
                let open = now.duration_since(t.since) < self.window;
                if !open && t.more > 0 {
                    due.push(summary(t));
                }
                open
            });
            match kinds.get_mut(&key) {
                Some(t) => {
                    t.more += 1;
                    t.last = SystemTime::now();
                    false
                }
                None => {
                    if kinds.len() < MAX_KINDS {
                        let at = SystemTime::now();
                        kinds.insert(
                            key,
                            Tally {
                                since: now,
                                more: 0,
                                first: at,
                                last: at,
                                event: event.clone(),
                            },
                        );
                    }
                    true
                }
            }
        };
        if append_this {
            due.push(event);
        }
        if due.is_empty() {
            return Ok(());
        }
        self.log.append_all(due).map(|_| ())
    }

    /// Records the counts still open (at shutdown).
    pub fn flush(&self) {
        let due: Vec<AuditEvent> = {
            let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
            kinds
                .drain()
                .filter(|(_, t)| t.more > 0)
                .map(|(_, t)| summary(&t))
                .collect()
        };
        if !due.is_empty()
            && let Err(e) = self.log.append_all(due)
        {
            tracing::error!("cannot record the counts of repeated failures: {e}");
        }
    }
}

impl Drop for RepeatedFailures {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The event that stands for the failures counted after the recorded one.
fn summary(t: &Tally) -> AuditEvent {
    let mut e = t.event.clone();
    e.detail = format!(
        "repeated {} more times from {} to {}: {}",
        t.more,
        rfc3339(t.first),
        rfc3339(t.last),
        t.event.detail
    );
    e
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A failure's reason with its variable parts blanked: runs of digits become
/// `#`, and the text stops at the first quote.
///
/// ```
/// use sansfilm_services::repeated::fold_key;
/// assert_eq!(fold_key("AR segment 12 cannot be parsed (byte 4031)"), "AR segment # cannot be parsed (byte #)");
/// assert_eq!(fold_key("invalid segment ID \"X1\""), "invalid segment ID ");
/// ```
pub fn fold_key(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_digits = false;
    for c in reason.chars() {
        if c == '"' {
            break;
        }
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}
