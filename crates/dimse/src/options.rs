//! Server options: AE title, limits, timeouts and who may connect.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Options of a DICOM server (the `[dicom]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerOptions {
    /// AE title of this server.
    pub ae_title: String,
    /// Refuse associations whose called AE title is not `ae_title`.
    pub require_called_ae_title: bool,
    /// Largest PDU this server receives, in bytes (offered to peers).
    pub max_pdu_length: u32,
    /// Associations served at once; more are rejected (transient, local
    /// limit). The peers of the allow-list (`access.allow`) have as many
    /// slots again, of their own, which anonymous peers cannot take.
    pub max_associations: usize,
    /// Seconds to wait for an A-ASSOCIATE-RQ after a connection (ARTIM).
    pub artim_timeout_secs: u64,
    /// Connections of one address that may wait for their A-ASSOCIATE-RQ at
    /// once; a newer one closes the oldest. Such connections hold no
    /// association slot.
    pub max_waiting_per_host: usize,
    /// Connections that may wait for their A-ASSOCIATE-RQ at once, overall.
    pub max_waiting: usize,
    /// Seconds without any PDU after which an association is aborted.
    pub idle_timeout_secs: u64,
    /// Seconds that stores in flight get to finish at shutdown.
    pub shutdown_grace_secs: u64,
    /// Also accept SOP classes that the DICOM dictionary does not know
    /// (vendors' private storage classes). Standard non-storage classes are
    /// never accepted for storage.
    pub accept_private_sop_classes: bool,
    /// Largest instance accepted by C-STORE, in bytes (counted once
    /// inflated for Deflated data sets). Larger ones are refused with A700
    /// and nothing of them is kept.
    pub max_instance_bytes: u64,
    /// Where C-MOVE may send, by AE title (`[dicom.destinations.AE]`).
    pub destinations: std::collections::BTreeMap<String, Destination>,
    /// Parallel associations a C-MOVE sends its instances over.
    pub move_associations: usize,
    /// Which calling AE titles may associate.
    pub access: AccessPolicy,
}

/// A C-MOVE destination: a workstation, a viewer, another archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Host name or address.
    pub host: String,
    /// Its DICOM port.
    pub port: u16,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            ae_title: "SANSFILM".into(),
            require_called_ae_title: false,
            max_pdu_length: 1024 * 1024,
            max_associations: 32,
            artim_timeout_secs: 10,
            max_waiting_per_host: 8,
            max_waiting: 256,
            idle_timeout_secs: 300,
            shutdown_grace_secs: 30,
            accept_private_sop_classes: true,
            max_instance_bytes: 4 << 30,
            destinations: Default::default(),
            move_associations: 2,
            access: AccessPolicy::default(),
        }
    }
}

impl ServerOptions {
    /// ARTIM timeout as a duration.
    pub fn artim_timeout(&self) -> Duration {
        Duration::from_secs(self.artim_timeout_secs.max(1))
    }

    /// Idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    /// Shutdown grace period as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Calling-AE access control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessPolicy {
    /// When true, any calling AE title is accepted; `allow` then only names
    /// the peers that have association slots of their own.
    pub accept_any: bool,
    /// The peers allowed when `accept_any` is false. An empty list with
    /// `accept_any = false` accepts anyone too, so that an archive with no
    /// configuration works; list at least one peer to restrict access.
    pub allow: Vec<AllowedPeer>,
}

/// One allowed peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedPeer {
    /// Calling AE title, compared exactly (trailing spaces ignored).
    pub ae_title: String,
    /// When set, the connection must also come from this IP address.
    #[serde(default)]
    pub host: Option<IpAddr>,
    /// May send instances (C-STORE).
    #[serde(default = "yes")]
    pub store: bool,
    /// May query the worklist and the archive (C-FIND).
    #[serde(default = "yes")]
    pub find: bool,
    /// May have instances sent to a destination (C-MOVE).
    #[serde(default = "yes", rename = "move")]
    pub move_: bool,
    /// May fetch instances on its association (C-GET).
    #[serde(default = "yes")]
    pub get: bool,
}

fn yes() -> bool {
    true
}

impl AllowedPeer {
    /// A peer allowed everything, from any host.
    pub fn new(ae_title: impl Into<String>) -> Self {
        AllowedPeer {
            ae_title: ae_title.into(),
            host: None,
            store: true,
            find: true,
            move_: true,
            get: true,
        }
    }
}

/// What a request asks to do, for the per-AE permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// C-STORE.
    Store,
    /// C-FIND of the Modality Worklist.
    FindWorklist,
    /// C-FIND of the archive (Query/Retrieve).
    Find,
    /// C-MOVE.
    Move,
    /// C-GET.
    Get,
}

/// Why an association was refused by the access policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The calling AE title is not in the allow-list.
    UnknownCallingAe,
    /// The calling AE title is known but connects from another host.
    WrongHost,
    /// The called AE title is not this server's.
    WrongCalledAe,
}

impl AccessPolicy {
    /// Whether `calling_ae` connecting from `peer` is a peer of the
    /// allow-list (whatever `accept_any` says): it then gets association
    /// slots of its own.
    pub fn lists(&self, calling_ae: &str, peer: Option<IpAddr>) -> bool {
        let calling_ae = calling_ae.trim();
        self.allow.iter().any(|a| {
            a.ae_title.trim() == calling_ae
                && match (a.host, peer) {
                    (None, _) => true,
                    (Some(h), Some(p)) => same_ip(h, p),
                    (Some(_), None) => false,
                }
        })
    }

    /// Whether `calling_ae` from `peer` may do `op`. A peer of the
    /// allow-list has its flags; any other peer (there are others only when
    /// the list is empty or `accept_any` is set) may store and read the
    /// worklist, and may query and retrieve only with `accept_any`: a
    /// configuration that names nobody gives the images to nobody.
    pub fn permits(&self, calling_ae: &str, peer: Option<IpAddr>, op: Operation) -> bool {
        let calling_ae = calling_ae.trim();
        let listed = self.allow.iter().find(|a| {
            a.ae_title.trim() == calling_ae
                && match (a.host, peer) {
                    (None, _) => true,
                    (Some(h), Some(p)) => same_ip(h, p),
                    (Some(_), None) => false,
                }
        });
        match (listed, op) {
            (Some(a), Operation::Store) => a.store,
            (Some(a), Operation::FindWorklist | Operation::Find) => a.find,
            (Some(a), Operation::Move) => a.move_,
            (Some(a), Operation::Get) => a.get,
            (None, Operation::Store | Operation::FindWorklist) => true,
            (None, _) => self.accept_any,
        }
    }

    /// Whether any peer is accepted.
    pub fn is_open(&self) -> bool {
        self.accept_any || self.allow.is_empty()
    }

    /// Checks a calling AE title coming from `peer`.
    pub fn check(&self, calling_ae: &str, peer: Option<IpAddr>) -> Result<(), Refusal> {
        if self.is_open() {
            return Ok(());
        }
        let calling_ae = calling_ae.trim();
        let mut known = false;
        for allowed in self
            .allow
            .iter()
            .filter(|a| a.ae_title.trim() == calling_ae)
        {
            known = true;
            match (allowed.host, peer) {
                (None, _) => return Ok(()),
                (Some(h), Some(p)) if same_ip(h, p) => return Ok(()),
                _ => {}
            }
        }
        Err(if known {
            Refusal::WrongHost
        } else {
            Refusal::UnknownCallingAe
        })
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_with_host() {
        let policy = AccessPolicy {
            accept_any: false,
            allow: vec![
                AllowedPeer {
                    host: Some("10.0.0.5".parse().unwrap()),
                    ..AllowedPeer::new("CT01")
                },
                AllowedPeer::new("US01"),
            ],
        };
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(policy.check("CT01", ip("10.0.0.5")), Ok(()));
        assert_eq!(policy.check("CT01", ip("::ffff:10.0.0.5")), Ok(()));
        assert_eq!(
            policy.check("CT01", ip("10.0.0.6")),
            Err(Refusal::WrongHost)
        );
        assert_eq!(policy.check("US01 ", ip("10.9.9.9")), Ok(()));
        assert_eq!(
            policy.check("MR01", ip("10.0.0.5")),
            Err(Refusal::UnknownCallingAe)
        );
        assert!(AccessPolicy::default().check("ANY", None).is_ok());
    }

    #[test]
    fn permissions_per_operation() {
        let policy = AccessPolicy {
            accept_any: false,
            allow: vec![
                AllowedPeer {
                    move_: false,
                    get: false,
                    ..AllowedPeer::new("CT01")
                },
                AllowedPeer::new("WS01"),
            ],
        };
        assert!(policy.permits("CT01", None, Operation::Store));
        assert!(!policy.permits("CT01", None, Operation::Move));
        assert!(policy.permits("WS01", None, Operation::Move));
        // Nobody named: store and worklist for all, no query or retrieve.
        let open = AccessPolicy::default();
        assert!(open.permits("ANY", None, Operation::Store));
        assert!(open.permits("ANY", None, Operation::FindWorklist));
        assert!(!open.permits("ANY", None, Operation::Find));
        assert!(!open.permits("ANY", None, Operation::Move));
        let any = AccessPolicy {
            accept_any: true,
            allow: vec![],
        };
        assert!(any.permits("ANY", None, Operation::Get));
    }
}
