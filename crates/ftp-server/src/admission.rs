//! Admission: an account whose credentials passed becomes a session's
//! [`FileService`], the same way for every front-end (FTP, FTPS, SFTP).
//! The account's limits ([`check_login`]: expiry, protocol, client
//! network) are checked here, after the credentials, so they tell a
//! stranger nothing; then its home is opened with the server's storage
//! and its usage and permissions are attached. The operator's pre-login
//! check, if any, is asked last, and the pre-upload check is attached.

use crate::accounts::{Account, LoginError};
use crate::folders;
use crate::listener::Shared;
use crate::policy::live::{LivePolicy, Rules};
use crate::policy::{check_login, Protocol, Refusal};
use crate::precheck::{CheckRequest, Verdict};
use crate::service::{FileService, Identity, Journal};
use crate::storage::backend::Root;
use std::net::SocketAddr;

/// An account admitted to a session.
#[derive(Debug)]
pub struct Admitted {
    pub user: String,
    pub files: FileService,
    /// How many sessions the account may have at once.
    pub max_sessions: usize,
}

/// Checks `account`'s limits for a login from `peer` over `protocol` and
/// opens its files.
pub async fn admit(
    shared: &Shared,
    account: Account,
    peer: SocketAddr,
    protocol: Protocol,
) -> Result<Admitted, LoginError> {
    let opts = &shared.options;
    let defaults = opts.policy_defaults();
    let store = shared.auth.store().clone();
    let layers = store.layers(&account.name).await?;
    check_login(&layers.login_limits(), peer.ip(), protocol, now_unix())
        .map_err(LoginError::Refused)?;
    let max_sessions = layers.max_sessions(&defaults).0;
    let home = account
        .home
        .clone()
        .unwrap_or_else(|| opts.default_home(&account.name));
    let storage = opts
        .storage
        .open(
            Root::Home {
                name: &account.name,
                dir: &home,
            },
            opts.durable_uploads,
            opts.backend_timeout,
        )
        .map_err(|e| {
            tracing::error!(error = %e, home = %home.display(), "home directory unusable");
            LoginError::Invalid
        })?;
    let usage = shared.quota.account(&account.name).await?;
    let who = Identity {
        user: account.name.clone(),
        anonymous: false,
        peer,
        protocol: protocol.name(),
    };
    // The operator's check is asked last: it may be slow, and it learns of
    // nobody whose own limits refuse them.
    if let Some(check) = &shared.checks.login {
        let request = CheckRequest::login(&account.name, peer.ip(), protocol.name());
        if let Verdict::Deny(reason) = check.ask(&request).await {
            return Err(LoginError::Refused(Refusal::Check(reason)));
        }
    }
    let mounts = folders::mount(
        &layers,
        opts,
        store.as_ref(),
        &shared.quota,
        storage.as_ref(),
    )
    .await;
    let rules = Rules::account(LivePolicy::new(store, &account.name, layers), defaults);
    let files = FileService::new(storage, Some(usage), who, journal(shared), rules)
        .with_mounts(mounts)
        .with_upload_check(shared.checks.upload.clone());
    Ok(Admitted {
        user: account.name,
        files,
        max_sessions,
    })
}

/// Where a session's transfers are recorded.
pub fn journal(shared: &Shared) -> Journal {
    Journal {
        metrics: shared.metrics.clone(),
        xferlog: shared.xferlog.clone(),
        events: shared.events.clone(),
        history: shared.history.clone(),
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
