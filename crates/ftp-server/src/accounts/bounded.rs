//! [`BoundedStore`]: every call a serving process makes to its account
//! store answers within a limit (`backend_timeout`), so a stalled
//! database (a frozen PostgreSQL, a connection whose server stopped
//! answering) becomes an error the session answers: 421 for a login, 451
//! for an upload, exactly as when the database is down. The server wraps
//! its store once ([`crate::listener::Server::new`]); the admin commands
//! use the store directly.
//!
//! A call past its bound is dropped. A write whose request reached the
//! database may still be applied there when it comes back; the quota
//! ledger re-reads usage from the store, so the store stays the truth.

use super::board::{BoardSession, SessionBoard};
use super::{
    Account, AccountError, AccountStatus, AccountStore, GroupStore, Policy, Rejection,
    RejectionStore, SharedReservations,
};
use crate::policy::Group;
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An account store whose every call answers within `limit`.
#[derive(Debug)]
pub struct BoundedStore {
    inner: Arc<dyn AccountStore>,
    limit: Duration,
}

impl BoundedStore {
    pub fn wrap(inner: Arc<dyn AccountStore>, limit: Duration) -> Arc<dyn AccountStore> {
        Arc::new(BoundedStore { inner, limit })
    }

    async fn within<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, AccountError>>,
    ) -> Result<T, AccountError> {
        match tokio::time::timeout(self.limit, fut).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(limit = ?self.limit, what, store = %self.inner.describe(), "account store did not answer in time");
                Err(AccountError::Backend(format!(
                    "no answer within {:?}",
                    self.limit
                )))
            }
        }
    }

    fn board_inner(&self) -> Result<&dyn SessionBoard, AccountError> {
        self.inner
            .board()
            .ok_or_else(|| AccountError::Backend("store keeps no session board".into()))
    }

    fn shared(&self) -> Result<&dyn SharedReservations, AccountError> {
        self.inner
            .reservations()
            .ok_or_else(|| AccountError::Backend("store keeps no reservations".into()))
    }
}

#[async_trait]
impl SessionBoard for BoundedStore {
    fn instance(&self) -> &str {
        self.inner.board().map_or("", |b| b.instance())
    }

    async fn publish(
        &self,
        sessions: &[BoardSession],
        fresh_for: Duration,
    ) -> Result<Vec<u64>, AccountError> {
        let board = self.board_inner()?;
        self.within("publish sessions", board.publish(sessions, fresh_for))
            .await
    }

    async fn others(&self) -> Result<Vec<(String, BoardSession)>, AccountError> {
        let board = self.board_inner()?;
        self.within("list sessions", board.others()).await
    }

    async fn request_disconnect(&self, instance: &str, id: u64) -> Result<bool, AccountError> {
        let board = self.board_inner()?;
        self.within("disconnect", board.request_disconnect(instance, id))
            .await
    }
}

#[async_trait]
impl RejectionStore for BoundedStore {
    async fn reject(&self, name: &str, reason: &str, at: i64) -> Result<(), AccountError> {
        self.within("reject", self.inner.reject(name, reason, at))
            .await
    }

    async fn rejection(&self, name: &str) -> Result<Option<Rejection>, AccountError> {
        self.within("rejection", self.inner.rejection(name)).await
    }
}

#[async_trait]
impl GroupStore for BoundedStore {
    async fn groups(&self) -> Result<Vec<Group>, AccountError> {
        self.within("groups", self.inner.groups()).await
    }

    async fn create_group(&self, name: &str) -> Result<(), AccountError> {
        self.within("create_group", self.inner.create_group(name))
            .await
    }

    async fn remove_group(&self, name: &str) -> Result<(), AccountError> {
        self.within("remove_group", self.inner.remove_group(name))
            .await
    }

    async fn set_group_policy(&self, name: &str, policy: &Policy) -> Result<(), AccountError> {
        self.within(
            "set_group_policy",
            self.inner.set_group_policy(name, policy),
        )
        .await
    }

    async fn member_of(&self, account: &str) -> Result<Vec<Group>, AccountError> {
        self.within("member_of", self.inner.member_of(account))
            .await
    }

    async fn set_member_of(&self, account: &str, groups: &[String]) -> Result<(), AccountError> {
        self.within("set_member_of", self.inner.set_member_of(account, groups))
            .await
    }

    async fn group_members(&self, group: &str) -> Result<Vec<String>, AccountError> {
        self.within("group_members", self.inner.group_members(group))
            .await
    }
}

#[async_trait]
impl AccountStore for BoundedStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn reservations(&self) -> Option<&dyn SharedReservations> {
        self.inner
            .reservations()
            .map(|_| self as &dyn SharedReservations)
    }

    fn admins(&self) -> Option<&dyn super::AdminStore> {
        self.inner.admins()
    }

    fn board(&self) -> Option<&dyn SessionBoard> {
        self.inner.board().map(|_| self as &dyn SessionBoard)
    }

    fn transfers(&self) -> Option<&dyn super::TransferStore> {
        self.inner.transfers()
    }

    async fn ping(&self) -> Result<(), AccountError> {
        self.within("ping", self.inner.ping()).await
    }

    async fn close(&self) {
        if tokio::time::timeout(self.limit, self.inner.close())
            .await
            .is_err()
        {
            tracing::warn!(limit = ?self.limit, "account store did not close in time");
        }
    }

    async fn find(&self, name: &str) -> Result<Option<Account>, AccountError> {
        self.within("find", self.inner.find(name)).await
    }

    async fn create(&self, account: &Account) -> Result<(), AccountError> {
        self.within("create", self.inner.create(account)).await
    }

    async fn list(&self) -> Result<Vec<Account>, AccountError> {
        self.within("list", self.inner.list()).await
    }

    async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), AccountError> {
        self.within(
            "set_password_hash",
            self.inner.set_password_hash(name, hash),
        )
        .await
    }

    async fn set_status(&self, name: &str, status: AccountStatus) -> Result<(), AccountError> {
        self.within("set_status", self.inner.set_status(name, status))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), AccountError> {
        self.within("remove", self.inner.remove(name)).await
    }

    async fn set_quota(&self, name: &str, quota: Option<u64>) -> Result<(), AccountError> {
        self.within("set_quota", self.inner.set_quota(name, quota))
            .await
    }

    async fn add_used(&self, name: &str, delta: i64) -> Result<u64, AccountError> {
        self.within("add_used", self.inner.add_used(name, delta))
            .await
    }

    async fn set_used(&self, name: &str, used: u64) -> Result<(), AccountError> {
        self.within("set_used", self.inner.set_used(name, used))
            .await
    }

    async fn policy(&self, name: &str) -> Result<Policy, AccountError> {
        self.within("policy", self.inner.policy(name)).await
    }

    async fn set_policy(&self, name: &str, policy: &Policy) -> Result<(), AccountError> {
        self.within("set_policy", self.inner.set_policy(name, policy))
            .await
    }

    async fn ssh_keys(&self, name: &str) -> Result<String, AccountError> {
        self.within("ssh_keys", self.inner.ssh_keys(name)).await
    }

    async fn set_ssh_keys(&self, name: &str, keys: &str) -> Result<(), AccountError> {
        self.within("set_ssh_keys", self.inner.set_ssh_keys(name, keys))
            .await
    }

    async fn count_pending(&self) -> Result<u64, AccountError> {
        self.within("count_pending", self.inner.count_pending())
            .await
    }
}

#[async_trait]
impl SharedReservations for BoundedStore {
    async fn reserve(&self, name: &str, bytes: u64) -> Result<bool, AccountError> {
        self.within("reserve", self.shared()?.reserve(name, bytes))
            .await
    }

    async fn settle(&self, name: &str, reserved: u64, delta: i64) -> Result<u64, AccountError> {
        self.within("settle", self.shared()?.settle(name, reserved, delta))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that never answers.
    #[derive(Debug)]
    struct Frozen;

    #[async_trait]
    impl RejectionStore for Frozen {
        async fn reject(&self, _: &str, _: &str, _: i64) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn rejection(&self, _: &str) -> Result<Option<Rejection>, AccountError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl GroupStore for Frozen {
        async fn groups(&self) -> Result<Vec<Group>, AccountError> {
            std::future::pending().await
        }
        async fn create_group(&self, _: &str) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn remove_group(&self, _: &str) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn set_group_policy(&self, _: &str, _: &Policy) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn member_of(&self, _: &str) -> Result<Vec<Group>, AccountError> {
            std::future::pending().await
        }
        async fn set_member_of(&self, _: &str, _: &[String]) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn group_members(&self, _: &str) -> Result<Vec<String>, AccountError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl AccountStore for Frozen {
        fn describe(&self) -> String {
            "frozen".into()
        }
        async fn find(&self, _: &str) -> Result<Option<Account>, AccountError> {
            std::future::pending().await
        }
        async fn create(&self, _: &Account) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn list(&self) -> Result<Vec<Account>, AccountError> {
            std::future::pending().await
        }
        async fn set_password_hash(&self, _: &str, _: &str) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn set_status(&self, _: &str, _: AccountStatus) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn remove(&self, _: &str) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn policy(&self, _: &str) -> Result<Policy, AccountError> {
            std::future::pending().await
        }
        async fn set_policy(&self, _: &str, _: &Policy) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn set_quota(&self, _: &str, _: Option<u64>) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn add_used(&self, _: &str, _: i64) -> Result<u64, AccountError> {
            std::future::pending().await
        }
        async fn set_used(&self, _: &str, _: u64) -> Result<(), AccountError> {
            std::future::pending().await
        }
        async fn count_pending(&self) -> Result<u64, AccountError> {
            std::future::pending().await
        }
        async fn ssh_keys(&self, _: &str) -> Result<String, AccountError> {
            std::future::pending().await
        }
        async fn set_ssh_keys(&self, _: &str, _: &str) -> Result<(), AccountError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_frozen_store_is_an_error_at_the_limit() {
        let limit = Duration::from_secs(8);
        let store = BoundedStore::wrap(Arc::new(Frozen), limit);
        assert!(store.reservations().is_none());
        let start = tokio::time::Instant::now();
        assert!(matches!(
            store.find("ann").await,
            Err(AccountError::Backend(_))
        ));
        assert_eq!(start.elapsed(), limit);
    }
}
