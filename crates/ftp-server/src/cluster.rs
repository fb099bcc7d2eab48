//! [`Cluster`]: the live sessions the admin console shows and disconnects,
//! of every instance. This instance's come straight from its
//! [`LiveSessions`]; when several instances share a PostgreSQL store, the
//! others' come from the store's [`SessionBoard`], where each instance
//! publishes its own every [`HEARTBEAT`] ([`Cluster::heartbeat`]) and
//! picks up the disconnects other instances asked of it.
//!
//! A published list counts for [`FRESH_FOR`] (three heartbeats): an
//! instance that stops (killed, cut off from the database) drops out of
//! every console within that time, and its rows go with its lease.

use crate::accounts::board::{hostname, BoardSession, BoardTransfer};
use crate::accounts::{AccountError, AccountStore};
use crate::live::{LiveSessions, SessionInfo};
use std::sync::Arc;
use std::time::Duration;

/// How often an instance publishes its sessions and collects disconnects.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a publication is listed without a newer one.
pub const FRESH_FOR: Duration = Duration::from_secs(6);

/// Every instance's sessions; one per server.
#[derive(Debug)]
pub struct Cluster {
    live: Arc<LiveSessions>,
    store: Arc<dyn AccountStore>,
    instance: String,
}

/// A session and the instance that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSession {
    pub instance: String,
    /// Held by this instance (its transfer figures are live, not a
    /// heartbeat old).
    pub local: bool,
    pub session: BoardSession,
}

/// What a console lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// This instance's sessions first, then the others', oldest first.
    pub sessions: Vec<ClusterSession>,
    /// Why other instances' sessions are missing, when the store did not
    /// answer.
    pub unreachable: Option<String>,
}

impl From<SessionInfo> for BoardSession {
    fn from(s: SessionInfo) -> Self {
        BoardSession {
            id: s.id,
            user: s.user,
            peer: s.peer.to_string(),
            protocol: s.protocol.to_string(),
            tls: s.tls,
            since: s.since,
            transfer: s.transfer.map(|t| BoardTransfer {
                path: t.path,
                upload: t.upload,
                bytes: t.bytes,
                rate: t.rate,
            }),
        }
    }
}

impl Cluster {
    /// The cluster of this instance's `live` sessions and, when `store`
    /// keeps a board, the other instances'.
    pub fn new(live: Arc<LiveSessions>, store: Arc<dyn AccountStore>) -> Self {
        let instance = match store.board() {
            Some(board) => board.instance().to_string(),
            None => hostname(),
        };
        Cluster {
            live,
            store,
            instance,
        }
    }

    /// This instance's name: its lease in a shared store, else the host.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// This instance's registry.
    pub fn live(&self) -> &Arc<LiveSessions> {
        &self.live
    }

    /// Whether other instances may hold sessions.
    pub fn shared(&self) -> bool {
        self.store.board().is_some()
    }

    /// Every instance's sessions.
    pub async fn sessions(&self) -> ClusterView {
        let mut view = ClusterView {
            sessions: self
                .live
                .list()
                .into_iter()
                .map(|s| ClusterSession {
                    instance: self.instance.clone(),
                    local: true,
                    session: s.into(),
                })
                .collect(),
            unreachable: None,
        };
        if let Some(board) = self.store.board() {
            match board.others().await {
                Ok(others) => {
                    view.sessions
                        .extend(
                            others
                                .into_iter()
                                .map(|(instance, session)| ClusterSession {
                                    instance,
                                    local: false,
                                    session,
                                }),
                        )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the other instances' sessions");
                    view.unreachable = Some(e.to_string());
                }
            }
        }
        view
    }

    /// Disconnects session `id` of `instance` (this one when `None`):
    /// at once here, at that instance's next heartbeat elsewhere. `false`
    /// when there is no such session.
    pub async fn disconnect(&self, instance: Option<&str>, id: u64) -> Result<bool, AccountError> {
        match (instance, self.store.board()) {
            (None, _) => Ok(self.live.disconnect(id)),
            (Some(i), _) if i == self.instance => Ok(self.live.disconnect(id)),
            (Some(i), Some(board)) => board.request_disconnect(i, id).await,
            (Some(_), None) => Ok(false),
        }
    }

    /// Publishes this instance's sessions every [`HEARTBEAT`] and carries
    /// out the disconnects asked of it, while the server runs; returns at
    /// once when the store keeps no board.
    pub async fn heartbeat(self: Arc<Self>) {
        let Some(board) = self.store.board() else {
            return;
        };
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let sessions: Vec<BoardSession> = self
                .live
                .list()
                .into_iter()
                .map(BoardSession::from)
                .collect();
            match board.publish(&sessions, FRESH_FOR).await {
                Ok(kills) => {
                    if failing {
                        tracing::info!("publishing live sessions to the account store again");
                        failing = false;
                    }
                    for id in kills {
                        if self.live.disconnect(id) {
                            tracing::info!(
                                session = id,
                                "disconnected at another instance's request"
                            );
                        }
                    }
                }
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot publish live sessions; other instances' consoles will not list them");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::SqliteStore;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn a_single_instance_lists_and_disconnects_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("a.db")).await.unwrap());
        let live = Arc::new(LiveSessions::default());
        let cluster = Arc::new(Cluster::new(live.clone(), store));
        assert!(!cluster.shared());
        let peer = "127.0.0.1:40000".parse().unwrap();
        let reg = live.register("ann", peer, "ftps", true, CancellationToken::new());
        let view = cluster.sessions().await;
        assert_eq!(view.unreachable, None);
        assert_eq!(view.sessions.len(), 1);
        let s = &view.sessions[0];
        assert!(s.local);
        assert_eq!(s.instance, cluster.instance());
        assert_eq!(
            (
                s.session.user.as_str(),
                s.session.protocol.as_str(),
                s.session.peer.as_str()
            ),
            ("ann", "ftps", "127.0.0.1:40000")
        );
        // Another instance's name finds nothing without a board.
        assert!(!cluster
            .disconnect(Some("elsewhere"), s.session.id)
            .await
            .unwrap());
        let here = cluster.instance().to_string();
        assert!(cluster.disconnect(Some(&here), s.session.id).await.unwrap());
        reg.disconnected().await;
        assert!(!cluster.disconnect(None, 999).await.unwrap());
        // Without a board the heartbeat has nothing to do.
        tokio::time::timeout(Duration::from_secs(1), cluster.clone().heartbeat())
            .await
            .unwrap();
    }
}
