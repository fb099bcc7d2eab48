//! [`Rules`]: the permissions and limits a file service applies, kept
//! current. An account's policy (with its groups') is read from the account store at login
//! and re-read when the copy a session holds is older than
//! [`POLICY_TTL`]: an operator's change reaches running sessions within a
//! second, and a busy session costs the store at most one small read per
//! second instead of one per command. (The quota ledger reads the store on
//! every upload; permissions are checked on every command, listings and
//! SIZE included, hence the short cache.) A policy that cannot be read
//! refuses the command (451), never allows it.

use super::{Defaults, Layers, PermSet, Policy};
use crate::accounts::AccountStore;
use crate::storage::StorageError;
use ftp_proto::VirtualPath;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How old a session's copy of its account's policy may be.
pub const POLICY_TTL: Duration = Duration::from_secs(1);

/// What a file service may do: fixed permissions or an account's policy,
/// over the server's defaults.
#[derive(Debug, Clone)]
pub struct Rules {
    source: RuleSource,
    defaults: Defaults,
}

#[derive(Debug, Clone)]
enum RuleSource {
    /// A policy that never changes (anonymous sessions).
    Fixed(Arc<Layers>),
    Account(Arc<LivePolicy>),
}

/// An account's policy as a session sees it; see the module documentation.
#[derive(Debug)]
pub struct LivePolicy {
    store: Arc<dyn AccountStore>,
    name: String,
    cached: Mutex<(Instant, Arc<Layers>)>,
}

impl LivePolicy {
    /// Starts from `first`, the policy read at login.
    pub fn new(store: Arc<dyn AccountStore>, name: &str, first: Layers) -> Self {
        LivePolicy {
            store,
            name: name.to_string(),
            cached: Mutex::new((Instant::now(), Arc::new(first))),
        }
    }

    /// The policy, re-read from the store if the copy is stale.
    async fn current(&self) -> Result<Arc<Layers>, StorageError> {
        if let Ok(cached) = self.cached.lock() {
            if cached.0.elapsed() < POLICY_TTL {
                return Ok(cached.1.clone());
            }
        }
        let fresh = Arc::new(self.store.layers(&self.name).await.map_err(|e| {
            tracing::error!(account = %self.name, error = %e, "cannot read the account's permissions");
            StorageError::Backend("cannot check permissions right now; try again later".into())
        })?);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = (Instant::now(), fresh.clone());
        }
        Ok(fresh)
    }
}

impl Rules {
    /// `policy`, for good, over the server's defaults.
    pub fn fixed(policy: Policy, defaults: Defaults) -> Self {
        Rules {
            source: RuleSource::Fixed(Arc::new(Layers::alone(policy))),
            defaults,
        }
    }

    /// An account's policy over the server's defaults.
    pub fn account(live: LivePolicy, defaults: Defaults) -> Self {
        Rules {
            source: RuleSource::Account(Arc::new(live)),
            defaults,
        }
    }

    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// The permissions at `path`.
    pub async fn at(&self, path: &VirtualPath) -> Result<PermSet, StorageError> {
        match &self.source {
            RuleSource::Fixed(layers) => Ok(layers.permissions_at(&self.defaults, path).0),
            RuleSource::Account(live) => {
                let policy = live.current().await?;
                Ok(policy.permissions_at(&self.defaults, path).0)
            }
        }
    }

    /// The account's current policy over its groups' (or the fixed one).
    pub async fn policy(&self) -> Result<Arc<Layers>, StorageError> {
        match &self.source {
            RuleSource::Fixed(layers) => Ok(layers.clone()),
            RuleSource::Account(live) => live.current().await,
        }
    }
}
