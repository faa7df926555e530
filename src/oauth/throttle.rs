//! Failure throttles: after a few failed attempts for one subject (a user
//! name, a client id) from one address, each further attempt from that
//! address must wait, twice as long each time, up to a cap.
//!
//! Keyed by subject *and* address, so an attacker elsewhere cannot lock the
//! real user or client out; the same rule applies whether or not the subject
//! exists, so the throttle reveals nothing. Counters live in memory on each
//! replica (the per-address rate limits bound what spreading out can gain).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most entries kept before old ones are swept.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    blocked_until: i64,
    last_failure: i64,
}

/// Counts failures per (subject, address).
#[derive(Debug)]
pub struct FailureThrottle {
    free: u32,
    max_delay: i64,
    entries: Mutex<HashMap<(String, IpAddr), Entry>>,
}

impl FailureThrottle {
    /// `free` failures are free; then waits of 1, 2, 4 … seconds, at most
    /// `max_delay`. `free == 0` turns the throttle off.
    pub fn new(free: u32, max_delay: i64) -> Self {
        Self {
            free,
            max_delay: max_delay.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(subject: &str, ip: IpAddr) -> (String, IpAddr) {
        (subject.to_ascii_lowercase(), ip)
    }

    /// `Some(seconds)` when the next attempt must wait that long.
    pub fn check(&self, subject: &str, ip: IpAddr, now: i64) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(&Self::key(subject, ip))?;
        (entry.blocked_until > now).then(|| u64::try_from(entry.blocked_until - now).unwrap_or(1))
    }

    /// Records a failed attempt.
    pub fn failed(&self, subject: &str, ip: IpAddr, now: i64) {
        if self.free == 0 {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let horizon = now - self.max_delay * 4;
            entries.retain(|_, e| e.blocked_until > now || e.last_failure > horizon);
        }
        let entry = entries.entry(Self::key(subject, ip)).or_insert(Entry {
            failures: 0,
            blocked_until: 0,
            last_failure: now,
        });
        // A long quiet spell forgives old failures.
        if now - entry.last_failure > self.max_delay * 4 {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures > self.free {
            let exponent = (entry.failures - self.free - 1).min(30);
            let delay = (1_i64 << exponent).min(self.max_delay);
            entry.blocked_until = now + delay;
        }
    }

    /// Forgets the failures after a success.
    pub fn succeeded(&self, subject: &str, ip: IpAddr) {
        if self.free == 0 {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(&Self::key(subject, ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn waits_double_after_the_free_failures_and_cap() {
        let t = FailureThrottle::new(3, 60);
        for _ in 0..3 {
            assert_eq!(t.check("alice", A, 0), None);
            t.failed("alice", A, 0);
        }
        assert_eq!(t.check("alice", A, 0), None, "three failures are free");
        t.failed("alice", A, 0);
        assert_eq!(t.check("alice", A, 0), Some(1));
        t.failed("alice", A, 1);
        assert_eq!(
            t.check("ALICE", A, 1),
            Some(2),
            "names are case-insensitive"
        );
        for _ in 0..20 {
            t.failed("alice", A, 10);
        }
        assert_eq!(t.check("alice", A, 10), Some(60), "capped");
        assert_eq!(t.check("alice", A, 70), None, "released after the wait");
        assert_eq!(
            t.check("alice", B, 10),
            None,
            "another address is not affected"
        );
        assert_eq!(
            t.check("bob", A, 10),
            None,
            "another subject is not affected"
        );
        t.succeeded("alice", A);
        t.failed("alice", A, 71);
        assert_eq!(t.check("alice", A, 71), None, "success resets the count");
    }

    #[test]
    fn zero_free_failures_turns_it_off() {
        let t = FailureThrottle::new(0, 60);
        for _ in 0..100 {
            t.failed("x", A, 0);
        }
        assert_eq!(t.check("x", A, 0), None);
    }
}
