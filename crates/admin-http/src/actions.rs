//! The admin actions, as the API and the console both run them: each
//! calls the library function the `wharfd users` commands call, then
//! writes the audit log. The views here are what both front-ends show.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AdminState;
use ftp_server::accounts::admin::{self, home_of, AccountQuery, AdminError, NewAccount};
use ftp_server::accounts::operators::{self, AuditEntry};
use ftp_server::accounts::password::MAX_PASSWORD;
use ftp_server::accounts::{Account, AccountStatus};
use ftp_server::cluster::ClusterSession;
use ftp_server::events::{Event, EventKind};
use ftp_server::policy::Policy;
use ftp_server::quota::size::{format_size, parse_size};
use ftp_server::registrant_mail::Decision;
use ftp_server::storage::disk::disk_space;
use ftp_server::storage::StorageBackend;
use serde::Serialize;

/// Most accounts one page lists.
pub const MAX_PAGE: usize = 500;

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountView {
    pub name: String,
    pub status: &'static str,
    pub home: String,
    /// `null`: unlimited.
    pub quota_bytes: Option<u64>,
    pub used_bytes: u64,
    pub created_at: i64,
    pub registered_from: Option<String>,
}

impl AccountView {
    fn of(state: &AdminState, a: &Account) -> Self {
        AccountView {
            name: a.name.clone(),
            status: a.status.as_str(),
            home: home_of(&state.options, a).display().to_string(),
            quota_bytes: a.quota_bytes,
            used_bytes: a.used_bytes,
            created_at: a.created_at,
            registered_from: a.registered_from.clone(),
        }
    }
}

/// One page of accounts.
#[derive(Debug, Clone, Serialize)]
pub struct AccountPage {
    pub total: usize,
    pub offset: usize,
    pub accounts: Vec<AccountView>,
}

/// A quota as given: `500M`, `2G`, `none`.
pub fn quota(text: &str) -> Result<Option<u64>, ApiError> {
    parse_size(text).map_err(|e| ApiError::bad_request(format!("bad quota {text:?}: {e}")))
}

/// A status filter or change: `active`, `disabled`, `pending`.
pub fn account_status(text: &str) -> Result<AccountStatus, ApiError> {
    // `folder` marks a shared folder's ledger, never an account's status.
    AccountStatus::parse(text)
        .filter(|s| *s != AccountStatus::Folder)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "bad status {text:?}: use active, disabled or pending"
            ))
        })
}

/// Shows a quota: `1.0G`, `none`.
pub fn show_quota(q: Option<u64>) -> String {
    q.map_or_else(|| "none".to_string(), format_size)
}

pub(crate) async fn audit(
    state: &AdminState,
    who: &Caller,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    operators::audit(state.admins()?, &who.admin, action, target, &who.from()).await?;
    Ok(())
}

pub async fn list(state: &AdminState, query: &AccountQuery) -> Result<AccountPage, ApiError> {
    if query.limit.is_some_and(|l| l > MAX_PAGE) {
        return Err(ApiError::bad_request(format!("limit above {MAX_PAGE}")));
    }
    let (total, accounts) = admin::search(state.store.as_ref(), query).await?;
    Ok(AccountPage {
        total,
        offset: query.offset,
        accounts: accounts.iter().map(|a| AccountView::of(state, a)).collect(),
    })
}

/// An account with its own permissions and limits.
#[derive(Debug, Clone, Serialize)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: AccountView,
    /// Its own policy in the stored text form (empty: the server's).
    pub policy: String,
}

pub async fn show(state: &AdminState, name: &str) -> Result<AccountDetail, ApiError> {
    let account = admin::account(state.store.as_ref(), name).await?;
    let policy = state.store.policy(name).await?.to_text();
    Ok(AccountDetail {
        account: AccountView::of(state, &account),
        policy,
    })
}

pub async fn create(
    state: &AdminState,
    who: &Caller,
    name: &str,
    password: &str,
    quota_text: Option<&str>,
) -> Result<AccountView, ApiError> {
    let quota = match quota_text {
        Some(q) => quota(q)?,
        None => state.options.default_quota,
    };
    let new = NewAccount {
        name,
        password: password.as_bytes(),
        home: None,
        quota,
        reuse_home: false,
    };
    admin::add(state.store.as_ref(), &state.options, new).await?;
    audit(state, who, "accounts.create", name).await?;
    Ok(show(state, name).await?.account)
}

/// What an update changes; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct Update<'a> {
    pub quota: Option<&'a str>,
    pub password: Option<&'a str>,
    pub status: Option<&'a str>,
    pub policy: Option<&'a str>,
}

pub async fn update(
    state: &AdminState,
    who: &Caller,
    name: &str,
    change: Update<'_>,
) -> Result<AccountDetail, ApiError> {
    // Everything is checked before anything changes.
    let quota = change.quota.map(quota).transpose()?;
    let new_status = change.status.map(account_status).transpose()?;
    if new_status == Some(AccountStatus::Pending) {
        return Err(ApiError::bad_request(
            "an account cannot be made pending; use active or disabled",
        ));
    }
    if let Some(p) = change.password {
        if p.is_empty() {
            return Err(AdminError::EmptyPassword.into());
        }
        if p.len() > MAX_PASSWORD {
            return Err(AdminError::PasswordTooLong.into());
        }
    }
    let policy = change
        .policy
        .map(|p| {
            Policy::from_text(p).map_err(|e| ApiError::bad_request(format!("bad policy: {e}")))
        })
        .transpose()?;
    show(state, name).await?;
    let store = state.store.as_ref();
    if let Some(q) = quota {
        store.set_quota(name, q).await?;
        audit(state, who, "accounts.quota", name).await?;
    }
    if let Some(p) = change.password {
        admin::set_password(store, name, p.as_bytes()).await?;
        audit(state, who, "accounts.password", name).await?;
    }
    if let Some(s) = new_status {
        store.set_status(name, s).await?;
        let action = match s {
            AccountStatus::Disabled => "accounts.disable",
            _ => "accounts.enable",
        };
        audit(state, who, action, name).await?;
    }
    if let Some(p) = policy {
        store.set_policy(name, &p).await?;
        audit(state, who, "accounts.policy", name).await?;
    }
    show(state, name).await
}

pub async fn remove(state: &AdminState, who: &Caller, name: &str) -> Result<(), ApiError> {
    admin::remove(state.store.as_ref(), &state.options, name).await?;
    audit(state, who, "accounts.remove", name).await
}

pub async fn pending(state: &AdminState) -> Result<Vec<AccountView>, ApiError> {
    let query = AccountQuery {
        status: Some(AccountStatus::Pending),
        ..AccountQuery::default()
    };
    Ok(list(state, &query).await?.accounts)
}

/// Mails the registrant of `name` the decision, if it gave an address and
/// `[registrant_mail]` is configured, in the background (the answer to
/// the operator does not wait for the relay); the outcome is logged.
fn mail_registrant(state: &AdminState, name: &str, contact: Option<String>, decision: Decision) {
    let (Some(relay), Some(contact)) = (state.options.registrant_mail.clone(), contact) else {
        return;
    };
    let name = name.to_string();
    let decision = match decision {
        Decision::Approved => None,
        Decision::Rejected(reason) => Some(reason.to_string()),
    };
    tokio::spawn(async move {
        let told = match &decision {
            None => relay.tell(&name, &contact, Decision::Approved).await,
            Some(reason) => {
                relay
                    .tell(&name, &contact, Decision::Rejected(reason))
                    .await
            }
        };
        match told {
            Ok(()) => tracing::info!(account = %name, %contact, "registrant told by mail"),
            Err(e) => {
                tracing::warn!(account = %name, %contact, error = %e, "registrant not mailed")
            }
        }
    });
}

pub async fn approve(
    state: &AdminState,
    who: &Caller,
    name: &str,
    quota_text: Option<&str>,
) -> Result<AccountView, ApiError> {
    let q = quota_text.map(quota).transpose()?;
    let contact = state.store.find(name).await?.and_then(|a| a.contact);
    let done = admin::approve(state.store.as_ref(), &state.options, name, q, false).await?;
    audit(state, who, "registrations.approve", name).await?;
    mail_registrant(state, name, contact, Decision::Approved);
    state.events.emit(
        Event::new(EventKind::RegistrationApproved)
            .account(name)
            .reason(format!(
                "approved with a quota of {}",
                show_quota(done.quota)
            )),
    );
    Ok(show(state, name).await?.account)
}

pub async fn reject(
    state: &AdminState,
    who: &Caller,
    name: &str,
    reason: &str,
) -> Result<(), ApiError> {
    if reason.len() > 500 {
        return Err(ApiError::bad_request("reason longer than 500 bytes"));
    }
    let target = if reason.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {reason}")
    };
    let reason = if reason.is_empty() {
        "rejected by the operator"
    } else {
        reason
    };
    let rejected = admin::reject(state.store.as_ref(), name, reason).await?;
    audit(state, who, "registrations.reject", &target).await?;
    mail_registrant(state, name, rejected.contact, Decision::Rejected(reason));
    state.events.emit(
        Event::new(EventKind::RegistrationRejected)
            .account(name)
            .reason(reason),
    );
    Ok(())
}

/// A live session as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// The session's number within its instance.
    pub id: u64,
    /// The instance that holds it.
    pub instance: String,
    /// Held by the instance answering.
    pub local: bool,
    pub user: String,
    pub client: String,
    pub protocol: String,
    pub tls: bool,
    pub since: i64,
    /// The transfer running now (for SFTP, the file opened last that is
    /// still open); `null` when there is none.
    pub transfer: Option<TransferView>,
}

/// Every instance's sessions, and why some may be missing.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsView {
    /// The instance answering.
    pub instance: String,
    pub sessions: Vec<SessionView>,
    /// Set when other instances' sessions could not be read.
    pub unreachable: Option<String>,
}

/// A running transfer.
#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub path: String,
    /// `upload` or `download` (listings count as downloads).
    pub direction: &'static str,
    pub bytes: u64,
    pub bytes_per_second: u64,
}

impl From<ClusterSession> for SessionView {
    fn from(c: ClusterSession) -> Self {
        let s = c.session;
        SessionView {
            id: s.id,
            instance: c.instance,
            local: c.local,
            user: s.user,
            client: s.peer,
            protocol: s.protocol,
            tls: s.tls,
            since: s.since,
            transfer: s.transfer.map(|t| TransferView {
                path: t.path,
                direction: if t.upload { "upload" } else { "download" },
                bytes: t.bytes,
                bytes_per_second: t.rate,
            }),
        }
    }
}

pub async fn sessions(state: &AdminState) -> SessionsView {
    let view = state.cluster.sessions().await;
    SessionsView {
        instance: state.cluster.instance().to_string(),
        sessions: view.sessions.into_iter().map(SessionView::from).collect(),
        unreachable: view.unreachable,
    }
}

/// Disconnects session `id` of `instance` (the answering one when
/// `None`); another instance closes it at its next heartbeat.
pub async fn disconnect(
    state: &AdminState,
    who: &Caller,
    instance: Option<&str>,
    id: u64,
) -> Result<(), ApiError> {
    if !state.cluster.disconnect(instance, id).await? {
        return Err(ApiError::not_found(format!("no live session {id}")));
    }
    let target = match instance {
        Some(i) if i != state.cluster.instance() => format!("{id}@{i}"),
        _ => id.to_string(),
    };
    audit(state, who, "sessions.disconnect", &target).await
}

/// One account's space.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub name: String,
    pub used_bytes: u64,
    pub quota_bytes: Option<u64>,
}

pub async fn usage(state: &AdminState) -> Result<Vec<Usage>, ApiError> {
    let (_, accounts) = admin::search(state.store.as_ref(), &AccountQuery::default()).await?;
    Ok(accounts
        .into_iter()
        .filter(|a| a.status != AccountStatus::Pending)
        .map(|a| Usage {
            name: a.name,
            used_bytes: a.used_bytes,
            quota_bytes: a.quota_bytes,
        })
        .collect())
}

/// The server at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub sessions: usize,
    pub accounts: usize,
    pub pending: usize,
    pub registration: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub healthy: bool,
    /// The disk the data directory is on; `null` with object storage, or
    /// when it cannot be read.
    pub disk: Option<DiskView>,
}

/// A file system's size and free space.
#[derive(Debug, Clone, Serialize)]
pub struct DiskView {
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// The disk the local backend writes to (the data directory's).
async fn disk(state: &AdminState) -> Option<DiskView> {
    if !matches!(state.options.storage, StorageBackend::Local) {
        return None;
    }
    let dir = state.options.data_dir.clone();
    match tokio::task::spawn_blocking(move || disk_space(&dir)).await {
        Ok(Ok(d)) => Some(DiskView {
            total_bytes: d.total_bytes,
            free_bytes: d.free_bytes,
        }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the data directory's disk space");
            None
        }
        Err(_) => None,
    }
}

pub async fn status(state: &AdminState) -> Result<Status, ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    let (_, accounts) = admin::search(state.store.as_ref(), &AccountQuery::default()).await?;
    let pending = accounts
        .iter()
        .filter(|a| a.status == AccountStatus::Pending)
        .count();
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        sessions: state.cluster.sessions().await.sessions.len(),
        accounts: accounts.len() - pending,
        pending,
        registration: state.options.registration.to_string(),
        bytes_in: state.metrics.bytes_in.load(Relaxed),
        bytes_out: state.metrics.bytes_out.load(Relaxed),
        healthy: state.health.check().await.0,
        disk: disk(state).await,
    })
}

/// An audit line as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    pub at: i64,
    pub admin: String,
    pub action: String,
    pub target: String,
    pub client: String,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            at: e.at,
            admin: e.admin,
            action: e.action,
            target: e.target,
            client: e.client,
        }
    }
}

pub async fn audit_log(
    state: &AdminState,
    offset: u64,
    limit: u64,
) -> Result<Vec<AuditView>, ApiError> {
    if limit > MAX_PAGE as u64 {
        return Err(ApiError::bad_request(format!("limit above {MAX_PAGE}")));
    }
    Ok(state
        .admins()?
        .audit_list(offset, limit)
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect())
}
