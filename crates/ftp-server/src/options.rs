//! [`ServerOptions`]: every setting the server library takes, already
//! validated. The `wharfd` binary builds it from its config file,
//! environment and flags; a program embedding the library builds it
//! directly, starting from [`ServerOptions::new`].

use crate::accounts::auth::AuthSettings;
use crate::proxy::ProxyProtocol;
use crate::registration::RegistrationPolicy;
use crate::throttle::LockoutPolicy;
use crate::tls::TlsOptions;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// The default [`ServerOptions::backend_timeout`]: short enough that a
/// client hears about a stalled backend within 10 s, long enough for a
/// slow but working one.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(8);

/// Where anonymous sessions see the folder `anon_incoming`.
pub const ANON_INCOMING: &str = "/incoming";

/// The server's settings. Defaults follow `shared/SECURITY.md` and the
/// docs/configuration.md; each is documented where `wharfd --help` shows it.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The data directory: account database, `pub/`, `home/`.
    pub data_dir: PathBuf,
    /// Whether `anonymous`/`ftp` may log in (read-only, in `anon_root`).
    pub anonymous: bool,
    /// The anonymous root; `DATA/pub` by default.
    pub anon_root: PathBuf,
    /// A shared folder anonymous sessions may upload into (only: nothing
    /// there can be listed, read back or replaced) at [`ANON_INCOMING`].
    pub anon_incoming: Option<String>,
    /// `[registrant_mail]`: the relay that tells registrants the answer.
    pub registrant_mail: Option<crate::registrant_mail::RegistrantMail>,
    /// Text of the 220 greeting.
    pub banner: String,
    /// Ports to open passive listeners on; `None` lets the OS choose.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address to announce in 227 replies (for NAT); the control
    /// connection's local address otherwise.
    pub passive_address: Option<IpAddr>,
    /// Close a session idle this long between commands.
    pub idle_timeout: Duration,
    /// Time allowed to finish a line once its first byte arrived, before
    /// and after login (against slowloris).
    pub line_timeout_before_login: Duration,
    pub line_timeout_after_login: Duration,
    /// Time to wait for a data connection (PASV accept, PORT connect);
    /// also how long a passive listener stays open when no transfer
    /// command uses it.
    pub data_connect_timeout: Duration,
    /// A transfer that makes no progress this long is aborted.
    pub data_stall_timeout: Duration,
    /// Longest wait for a storage backend or the account store during a
    /// session (one operation, one upload write or commit, one read of a
    /// download); past it the client gets a 4xx reply. See
    /// [`crate::storage::bounded`].
    pub backend_timeout: Duration,
    /// Longest command line; longer ones get 500.
    pub max_line: usize,
    /// Overlong lines tolerated before the session is closed.
    pub max_overlong_lines: u32,
    /// Sessions at once, in all and per client address.
    pub max_sessions: usize,
    pub max_sessions_per_ip: usize,
    /// Passive listeners waiting for a connection at once from one client
    /// address, over all its sessions (425 past it). The default matches
    /// `max_sessions_per_ip`: one per session.
    pub max_passive_per_ip: usize,
    /// Failed logins in one session before it is closed with 421.
    pub max_login_failures: u32,
    /// Delay before answering a failed login.
    pub login_fail_delay: Duration,
    /// How long running transfers may go on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Where to append the xferlog-format transfer log, if anywhere.
    pub xferlog: Option<PathBuf>,
    /// How long the account store keeps the transfer history the admin
    /// console shows; zero keeps none.
    pub transfer_history: Duration,
    /// What `SITE REGISTER` does.
    pub registration: RegistrationPolicy,
    /// Shortest password a registration may choose.
    pub min_password_len: usize,
    /// Registrations one client address may make per hour.
    pub registrations_per_ip_per_hour: u32,
    /// Pending registrations past which new ones are refused.
    pub max_pending: u64,
    /// Quota of new accounts in bytes (`None`: unlimited).
    pub default_quota: Option<u64>,
    /// FTPS; `None` means no TLS (AUTH is answered 502).
    pub tls: Option<TlsOptions>,
    /// Lockout after failed logins, across sessions.
    pub lockout: LockoutPolicy,
    /// Password checking: Argon2 verifier threads and the cache of
    /// recently verified credentials ([`crate::accounts::credcache`]).
    pub auth: AuthSettings,
    /// Logged-in sessions one account may have at once.
    pub max_sessions_per_user: usize,
    /// Bandwidth per account, in bytes per second (`None`: unlimited).
    pub max_download_rate: Option<u64>,
    pub max_upload_rate: Option<u64>,
    /// The largest file an account may upload (`None`: no limit).
    pub max_file_size: Option<u64>,
    /// What accounts may do where they set nothing of their own.
    pub default_permissions: crate::policy::PermSet,
    /// Client networks the server accepts connections from at all.
    pub networks: crate::policy::NetRules,
    /// PROXY protocol on the control listeners (and passive data
    /// connections from the trusted proxies); `None`: off.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Where files are kept: the local filesystem or an object store.
    pub storage: crate::storage::StorageBackend,
    /// `fsync` every upload before publishing it, and its directory
    /// after, so an acknowledged upload survives a power cut.
    pub durable_uploads: bool,
    /// File hashes (HASH, XCRC…) computed at once, server-wide; a session
    /// computes one at a time.
    pub max_hash_jobs: usize,
    /// Where the SSH host keys of the SFTP listener live (made on first
    /// start); `DATA_DIR/ssh` by default.
    pub ssh_host_keys: PathBuf,
    /// Programs run for events (see [`crate::events`]).
    pub event_commands: Vec<EventCommand>,
    /// Mail sent for events.
    pub event_mails: Vec<EventMail>,
    /// HTTP endpoints events are POSTed to.
    pub event_webhooks: Vec<crate::events::webhook::EventWebhook>,
    /// Asked before a login is admitted (see [`crate::precheck`]).
    pub pre_login_check: Option<crate::precheck::CheckConfig>,
    /// Asked before an upload starts.
    pub pre_upload_check: Option<crate::precheck::CheckConfig>,
}

/// A mail sink as configured (see [`crate::events::mail`]).
#[derive(Debug, Clone)]
pub struct EventMail {
    pub target: crate::events::mail::MailTarget,
    pub filter: crate::events::filter::EventFilter,
    pub timeout: Duration,
}

/// A command sink as configured (see [`crate::events::command`]).
#[derive(Debug, Clone)]
pub struct EventCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub filter: crate::events::filter::EventFilter,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl ServerOptions {
    /// Defaults for a server whose data directory is `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        ServerOptions {
            anon_root: data_dir.join("pub"),
            anon_incoming: None,
            registrant_mail: None,
            ssh_host_keys: data_dir.join("ssh"),
            event_commands: Vec::new(),
            event_mails: Vec::new(),
            event_webhooks: Vec::new(),
            pre_login_check: None,
            pre_upload_check: None,
            data_dir,
            anonymous: true,
            banner: "Wharf FTP server ready.".into(),
            passive_ports: None,
            passive_address: None,
            idle_timeout: Duration::from_secs(900),
            line_timeout_before_login: Duration::from_secs(30),
            line_timeout_after_login: Duration::from_secs(60),
            data_connect_timeout: Duration::from_secs(60),
            data_stall_timeout: Duration::from_secs(300),
            backend_timeout: DEFAULT_BACKEND_TIMEOUT,
            max_line: 4096,
            max_overlong_lines: 3,
            max_sessions: 1000,
            max_sessions_per_ip: 20,
            max_passive_per_ip: 20,
            max_login_failures: 3,
            login_fail_delay: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            xferlog: None,
            transfer_history: Duration::from_secs(30 * 86400),
            registration: RegistrationPolicy::Approval,
            min_password_len: 8,
            registrations_per_ip_per_hour: 3,
            max_pending: 1000,
            durable_uploads: true,
            max_hash_jobs: 2,
            default_quota: Some(1 << 30),
            tls: None,
            lockout: LockoutPolicy::default(),
            auth: AuthSettings::default(),
            max_sessions_per_user: 10,
            max_download_rate: None,
            max_upload_rate: None,
            max_file_size: None,
            default_permissions: crate::policy::PermSet::ALL,
            networks: crate::policy::NetRules::default(),
            proxy_protocol: None,
            storage: crate::storage::StorageBackend::Local,
        }
    }

    /// The limits and permissions of accounts that set none of their own.
    pub fn policy_defaults(&self) -> crate::policy::Defaults {
        crate::policy::Defaults {
            permissions: self.default_permissions,
            max_sessions: self.max_sessions_per_user,
            upload_rate: self.max_upload_rate,
            download_rate: self.max_download_rate,
            max_file_size: self.max_file_size,
        }
    }

    /// The account database file.
    pub fn account_db(&self) -> PathBuf {
        self.data_dir.join("wharf.db")
    }

    /// Where an account's home is when none was set for it.
    pub fn default_home(&self, name: &str) -> PathBuf {
        self.data_dir.join("home").join(name)
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(range) = &self.passive_ports {
            if range.start() > range.end() || *range.start() == 0 {
                return Err(format!(
                    "passive port range {}-{} is empty or starts at 0",
                    range.start(),
                    range.end()
                ));
            }
        }
        if self.max_line < 512 {
            return Err("max_line must be at least 512 bytes (RFC 959 paths need room)".into());
        }
        if self.max_sessions == 0 || self.max_sessions_per_ip == 0 {
            return Err("session limits must be at least 1".into());
        }
        if self.max_hash_jobs == 0 {
            return Err("max_hash_jobs must be at least 1".into());
        }
        if self.auth.threads == 0 || self.auth.threads > crate::accounts::verifier::MAX_THREADS {
            return Err(format!(
                "password_check_threads must be between 1 and {}",
                crate::accounts::verifier::MAX_THREADS
            ));
        }
        if self.auth.cache.enabled
            && (self.auth.cache.ttl.is_zero() || self.auth.cache.capacity == 0)
        {
            return Err(
                "credential_cache_ttl and credential_cache_size must be at least 1 (or set credential_cache = false)"
                    .into(),
            );
        }
        if self.backend_timeout.is_zero() {
            return Err("backend_timeout must be at least 1 second".into());
        }
        if self.max_passive_per_ip == 0 {
            return Err(
                "max_passive_per_ip must be at least 1 (PASV/EPSV needs a listener)".into(),
            );
        }
        Ok(())
    }
}
