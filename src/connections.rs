//! What the daemon's servers (HTTP, the bounce listener) let clients hold at once: a cap
//! over all connections and a cap per IP address (issue 12, point 7). Counting happens
//! at accept, before a byte is read, so a flood of idle connections costs at most the
//! caps in file descriptors and memory.
//!
//! When a cap is reached, a server either refuses the newcomer (the SMTP listener: a
//! sending MTA retries a `421`) or makes room by closing the oldest connection that is
//! not being answered (HTTP: idle, or still sending its headers). Evicting rather than
//! refusing is what keeps `/healthz` answerable when the flood comes from the same
//! address as the health check: the newest connection is the last to go, and a
//! connection with a request in hand is never closed to make room.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What happens to a newcomer when a cap is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// It is refused.
    Refuse,
    /// The oldest idle connection in the same scope (its IP, or all) is closed for it;
    /// it is refused only when every connection in that scope is busy.
    EvictOldestIdle,
}

/// The connections one server holds.
pub struct Connections {
    total: usize,
    per_ip: usize,
    when_full: WhenFull,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Ordered by admission: the first entry is the oldest.
    held: BTreeMap<u64, (IpAddr, Arc<Slot>)>,
    per_ip: HashMap<IpAddr, usize>,
    next: u64,
}

/// One connection's state as its server and the registry see it.
#[derive(Default)]
pub struct Slot {
    busy: AtomicUsize,
    evicted: Notify,
}

impl Slot {
    /// Marks the connection busy (a request is being answered) until the guard drops.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    /// Resolves when the connection was chosen to make room: its server closes it.
    pub async fn evicted(&self) {
        self.evicted.notified().await
    }
}

/// See [`Slot::busy`].
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's place; dropping it frees the place.
pub struct Held {
    id: u64,
    owner: Arc<Connections>,
    pub slot: Arc<Slot>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.owner.release(self.id);
    }
}

impl Connections {
    pub fn new(total: usize, per_ip: usize, when_full: WhenFull) -> Arc<Connections> {
        Arc::new(Connections { total, per_ip, when_full, inner: Mutex::default() })
    }

    /// A place for a connection from `ip`, or `None` when it must be refused.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        let full = if from_ip >= self.per_ip {
            Some(Some(ip))
        } else if inner.held.len() >= self.total {
            Some(None)
        } else {
            None
        };
        if let Some(scope) = full
            && (self.when_full == WhenFull::Refuse || !inner.evict_oldest_idle(scope))
        {
            return None;
        }
        let id = inner.next;
        inner.next += 1;
        let slot = Arc::new(Slot::default());
        inner.held.insert(id, (ip, slot.clone()));
        *inner.per_ip.entry(ip).or_default() += 1;
        Some(Held { id, owner: self.clone(), slot })
    }

    /// Connections held now.
    pub fn count(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).held.len()
    }

    fn release(&self, id: u64) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

impl Inner {
    /// Closes the oldest idle connection from `ip` (or from anywhere); false when every
    /// one is busy.
    fn evict_oldest_idle(&mut self, ip: Option<IpAddr>) -> bool {
        let victim = self
            .held
            .iter()
            .find(|(_, (from, slot))| ip.is_none_or(|ip| ip == *from) && slot.is_idle())
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.remove(id)) {
            Some(slot) => {
                // notify_one keeps the wake-up if the connection is not waiting yet.
                slot.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Slot>> {
        let (ip, slot) = self.held.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn refusing_caps_each_address_and_the_total() {
        let c = Connections::new(3, 2, WhenFull::Refuse);
        let a1 = c.admit(ip(1)).unwrap();
        let _a2 = c.admit(ip(1)).unwrap();
        assert!(c.admit(ip(1)).is_none(), "a third from one address");
        let _b1 = c.admit(ip(2)).unwrap();
        assert!(c.admit(ip(3)).is_none(), "a fourth in all");
        drop(a1);
        assert!(c.admit(ip(1)).is_some(), "a closed connection frees its place");
    }

    #[tokio::test]
    async fn when_full_the_oldest_idle_connection_makes_room_and_a_busy_one_never_does() {
        let c = Connections::new(10, 3, WhenFull::EvictOldestIdle);
        let oldest = c.admit(ip(1)).unwrap();
        let busy = c.admit(ip(1)).unwrap();
        let _answering = busy.slot.busy();
        let third = c.admit(ip(1)).unwrap();
        let _other = c.admit(ip(2)).unwrap();

        let newest = c.admit(ip(1)).expect("room is made");
        tokio::time::timeout(std::time::Duration::from_secs(1), oldest.slot.evicted()).await.expect("oldest evicted");
        assert_eq!(c.count(), 4);

        let _next = c.admit(ip(1)).expect("room is made again");
        tokio::time::timeout(std::time::Duration::from_secs(1), third.slot.evicted())
            .await
            .expect("then the next idle");
        let _busy_too = newest.slot.busy();
        let _next_busy = _next.slot.busy();
        assert!(c.admit(ip(1)).is_none(), "every connection from 127.0.0.1 is busy: refused");
        assert!(c.admit(ip(3)).is_some(), "another address is not affected");
        // The evicted ones' handles drop later without freeing a place twice.
        drop((oldest, third));
        assert_eq!(c.count(), 4);
    }
}
