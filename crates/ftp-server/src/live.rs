//! [`LiveSessions`]: the registry of logged-in sessions, FTP and SFTP,
//! that the admin console lists and disconnects. A session registers at
//! login and holds the [`Registration`]; dropping it (the session ending,
//! however it ends) takes the entry out. Disconnecting cancels the
//! session's token, which its protocol front-end watches. An FTP session
//! also shows its running transfer ([`Registration::transfer`]): the
//! byte counter the transfer loop keeps anyway, read when listed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// A running transfer as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferInfo {
    pub path: String,
    pub upload: bool,
    /// Bytes moved so far.
    pub bytes: u64,
    /// Bytes per second since it started.
    pub rate: u64,
}

#[derive(Debug)]
struct Transfer {
    path: String,
    upload: bool,
    progress: Arc<AtomicU64>,
    started: Instant,
}

impl Transfer {
    fn info(&self) -> TransferInfo {
        let bytes = self.progress.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        TransferInfo {
            path: self.path.clone(),
            upload: self.upload,
            bytes,
            rate: (bytes as f64 / secs) as u64,
        }
    }
}

/// One logged-in session as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: u64,
    pub user: String,
    pub peer: SocketAddr,
    /// `ftp`, `ftps` or `sftp`.
    pub protocol: &'static str,
    /// Whether the control connection (or the SSH transport) is encrypted.
    pub tls: bool,
    /// Login time, seconds since the Unix epoch.
    pub since: i64,
    /// The transfer running now, if any.
    pub transfer: Option<TransferInfo>,
}

#[derive(Debug)]
struct Entry {
    info: SessionInfo,
    stop: CancellationToken,
    transfer: Option<Transfer>,
}

/// The registry; one per server.
#[derive(Debug, Default)]
pub struct LiveSessions {
    next: AtomicU64,
    entries: Mutex<BTreeMap<u64, Entry>>,
}

/// A session's place in the registry, held while it is logged in.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<LiveSessions>,
    id: u64,
    stop: CancellationToken,
}

impl Registration {
    /// Resolves when an operator disconnects this session.
    pub async fn disconnected(&self) {
        self.stop.cancelled().await
    }

    /// Shows a transfer of `path` whose loop counts its bytes in
    /// `progress`, until the returned guard is dropped.
    pub fn transfer(&self, path: String, upload: bool, progress: Arc<AtomicU64>) -> Showing {
        if let Some(e) = self.registry.lock().get_mut(&self.id) {
            e.transfer = Some(Transfer {
                path,
                upload,
                progress: progress.clone(),
                started: Instant::now(),
            });
        }
        Showing {
            registry: self.registry.clone(),
            id: self.id,
            progress,
        }
    }

    /// The token an operator's disconnect cancels, for loops that watch
    /// it without holding the registration.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// A transfer shown in the registry; dropping it clears it, unless a
/// later transfer of the session (an SFTP client reads and writes several
/// files at once) took its place.
#[derive(Debug)]
pub struct Showing {
    registry: Arc<LiveSessions>,
    id: u64,
    progress: Arc<AtomicU64>,
}

impl Showing {
    /// Counts `n` more bytes moved.
    pub fn add(&self, n: u64) {
        self.progress.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for Showing {
    fn drop(&mut self) {
        if let Some(e) = self.registry.lock().get_mut(&self.id) {
            if e.transfer
                .as_ref()
                .is_some_and(|t| Arc::ptr_eq(&t.progress, &self.progress))
            {
                e.transfer = None;
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl LiveSessions {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        // A panic elsewhere never leaves the map half-changed.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session that just logged in; `stop` is cancelled when an
    /// operator disconnects it.
    pub fn register(
        self: &Arc<Self>,
        user: &str,
        peer: SocketAddr,
        protocol: &'static str,
        tls: bool,
        stop: CancellationToken,
    ) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let info = SessionInfo {
            id,
            user: user.to_string(),
            peer,
            protocol,
            tls,
            since: crate::accounts::operators::unix_now(),
            transfer: None,
        };
        self.lock().insert(
            id,
            Entry {
                info,
                stop: stop.clone(),
                transfer: None,
            },
        );
        Registration {
            registry: self.clone(),
            id,
            stop,
        }
    }

    /// Every logged-in session, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.lock()
            .values()
            .map(|e| SessionInfo {
                transfer: e.transfer.as_ref().map(Transfer::info),
                ..e.info.clone()
            })
            .collect()
    }

    /// How many sessions are logged in.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Tells session `id` to close; `false` if there is no such session.
    pub fn disconnect(&self, id: u64) -> bool {
        match self.lock().get(&id) {
            Some(e) => {
                e.stop.cancel();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn register_list_disconnect_and_drop() {
        let live = Arc::new(LiveSessions::default());
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let a = live.register("alice", peer, "ftp", false, CancellationToken::new());
        let b = live.register("bob", peer, "sftp", true, CancellationToken::new());
        let list = live.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].user, "alice");
        assert_eq!(list[1].protocol, "sftp");
        assert_eq!(list[0].transfer, None);
        let progress = Arc::new(AtomicU64::new(0));
        {
            let _showing = a.transfer("/big.iso".into(), false, progress.clone());
            progress.store(4096, Ordering::Relaxed);
            let t = live.list()[0].transfer.clone().unwrap();
            assert_eq!(
                (t.path.as_str(), t.upload, t.bytes),
                ("/big.iso", false, 4096)
            );
        }
        assert_eq!(live.list()[0].transfer, None);
        // Two at once: the later one is shown; the earlier one ending does
        // not hide it, and bytes counted through the guard show.
        let first = a.transfer("/one".into(), true, Arc::default());
        let second = a.transfer("/two".into(), false, Arc::default());
        second.add(100);
        drop(first);
        let t = live.list()[0].transfer.clone().unwrap();
        assert_eq!((t.path.as_str(), t.bytes), ("/two", 100));
        drop(second);
        assert_eq!(live.list()[0].transfer, None);
        assert!(live.disconnect(list[1].id));
        b.disconnected().await;
        assert!(!live.disconnect(9999));
        drop(a);
        drop(b);
        assert_eq!(live.count(), 0);
    }
}
