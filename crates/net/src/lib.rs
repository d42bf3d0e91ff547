//! Connection gating shared by the sansfilm servers.
//!
//! A server's slots (associations, HL7 connections) belong to peers that have
//! said who they are. A TCP connection that has not yet done so — no
//! A-ASSOCIATE-RQ, no MLLP frame — waits at a [`Gate`] instead: at most
//! `per_host` such connections per source address and `total` overall. When
//! a new one comes over either limit, the *oldest* waiting one of that
//! address (or overall) is told to close. Connections that send nothing
//! ("slowloris") therefore cannot lock anyone out: a real peer sends its
//! request right after connecting and is through the gate long before
//! newer connections could push it out, and it never competes with them for
//! a slot.
//!
//! - [`Gate`]: the waiting room; [`Gate::enter`] gives a [`Ticket`].
//! - [`Ticket`]: leaves the gate when dropped (the peer identified itself, or
//!   the connection ended); [`Ticket::evicted`] completes when a newer
//!   connection pushed this one out.
//!
//! # Example
//!
//! ```
//! use sansfilm_net::Gate;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let gate = Gate::new(2, 100);
//! let host: std::net::IpAddr = "10.0.0.9".parse().unwrap();
//! let first = gate.enter(host);
//! let _second = gate.enter(host);
//! let _third = gate.enter(host); // over 2 for this host: the first is evicted
//! first.evicted().await;
//! assert_eq!(gate.waiting(), 2);
//! # }
//! ```

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The waiting room of connections that have not identified themselves.
/// Cheap to clone; clones share the room.
#[derive(Clone, Debug)]
pub struct Gate {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    per_host: usize,
    total: usize,
    room: Mutex<Room>,
}

#[derive(Debug, Default)]
struct Room {
    next_id: u64,
    /// Oldest first.
    waiting: VecDeque<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    id: u64,
    host: IpAddr,
    evict: CancellationToken,
}

impl Gate {
    /// A gate letting `per_host` connections of one address, and `total`
    /// overall, wait at once (each at least 1).
    pub fn new(per_host: usize, total: usize) -> Gate {
        Gate {
            shared: Arc::new(Shared {
                per_host: per_host.max(1),
                total: total.max(1),
                room: Mutex::new(Room::default()),
            }),
        }
    }

    /// Lets a new connection from `host` wait; the oldest waiting one of
    /// that host, or overall, is evicted when a limit is passed.
    pub fn enter(&self, host: IpAddr) -> Ticket {
        let mut room = self.room();
        room.next_id += 1;
        let id = room.next_id;
        let evict = CancellationToken::new();
        room.waiting.push_back(Waiting {
            id,
            host,
            evict: evict.clone(),
        });
        let of_host = room.waiting.iter().filter(|w| w.host == host).count();
        if of_host > self.shared.per_host
            && let Some(i) = room.waiting.iter().position(|w| w.host == host)
        {
            let old = room.waiting.remove(i).expect("position is in range");
            tracing::warn!(%host, waiting = of_host - 1, "connection that sent nothing closed: \
                newer ones from the same address are waiting");
            old.evict.cancel();
        }
        if room.waiting.len() > self.shared.total
            && let Some(old) = room.waiting.pop_front()
        {
            tracing::warn!(host = %old.host, total = self.shared.total,
                "connection that sent nothing closed: too many connections waiting");
            old.evict.cancel();
        }
        Ticket {
            gate: self.clone(),
            id,
            evict,
        }
    }

    /// Connections waiting now.
    pub fn waiting(&self) -> usize {
        self.room().waiting.len()
    }

    fn room(&self) -> std::sync::MutexGuard<'_, Room> {
        self.shared.room.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's place at the [`Gate`]; dropping it leaves the gate.
#[derive(Debug)]
pub struct Ticket {
    gate: Gate,
    id: u64,
    evict: CancellationToken,
}

impl Ticket {
    /// Completes when a newer connection evicted this one: close it.
    pub async fn evicted(&self) {
        self.evict.cancelled().await
    }

    /// Whether this connection was evicted.
    pub fn is_evicted(&self) -> bool {
        self.evict.is_cancelled()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut room = self.gate.room();
        if let Some(i) = room.waiting.iter().position(|w| w.id == self.id) {
            room.waiting.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_oldest_of_a_host_is_evicted_others_stay() {
        let gate = Gate::new(2, 10);
        let a1 = gate.enter(ip("10.0.0.1"));
        let b1 = gate.enter(ip("10.0.0.2"));
        let a2 = gate.enter(ip("10.0.0.1"));
        assert!(!a1.is_evicted());
        let a3 = gate.enter(ip("10.0.0.1"));
        assert!(a1.is_evicted());
        assert!(!a2.is_evicted() && !a3.is_evicted() && !b1.is_evicted());
        assert_eq!(gate.waiting(), 3);
        drop(a2);
        assert_eq!(gate.waiting(), 2);
        drop(a1); // already gone from the room
        assert_eq!(gate.waiting(), 2);
    }

    #[test]
    fn the_oldest_overall_is_evicted_past_the_total() {
        let gate = Gate::new(5, 3);
        let t: Vec<_> = (1..=4)
            .map(|i| gate.enter(ip(&format!("10.0.0.{i}"))))
            .collect();
        assert!(t[0].is_evicted());
        assert!(t[1..].iter().all(|t| !t.is_evicted()));
        assert_eq!(gate.waiting(), 3);
    }

    #[test]
    fn a_ticket_leaves_the_room_when_dropped() {
        let gate = Gate::new(1, 1);
        for _ in 0..100 {
            let t = gate.enter(ip("10.0.0.1"));
            assert!(!t.is_evicted());
        }
        assert_eq!(gate.waiting(), 0);
    }
}
