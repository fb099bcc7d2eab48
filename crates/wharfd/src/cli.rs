//! The command line: `wharfd [serve] [OPTIONS]` and the `users` admin
//! commands. Every serve option can also be set in the TOML config file
//! and in a `WHARF_*` environment variable; flags beat the environment,
//! which beats the file.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Wharf FTP server.
///
/// With no command, `wharfd` serves: by default ./wharf-data on
/// 127.0.0.1:2121, anonymous read-only access to ./wharf-data/pub and
/// accounts in ./wharf-data/wharf.db. Add an account with
/// `wharfd users add NAME`.
#[derive(Debug, Parser)]
#[command(name = "wharfd", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the FTP server (the default).
    Serve(Box<ServeArgs>),
    /// Manage accounts in the account store.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage groups: permissions and limits that member accounts inherit.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Manage shared folders: directories mounted into several accounts'
    /// trees, with a quota of their own.
    #[command(subcommand)]
    Folders(FoldersCommand),
    /// Manage the admin console's operators, their API tokens and the
    /// audit log of their actions.
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Make TLS certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Show or rotate the SSH host keys of the SFTP listener.
    #[command(subcommand)]
    Hostkey(HostkeyCommand),
    /// Print the completion script for a shell, e.g.
    /// `wharfd completions bash > /etc/bash_completion.d/wharfd`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the wharfd(8) man page (roff), e.g. `wharfd manpage | man -l -`.
    #[command(hide = true)]
    Manpage,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Write a self-signed certificate and key (cert.pem, key.pem) for a
    /// quick start; clients must be told to trust it (curl --cacert).
    SelfSigned {
        /// Host name or IP address the certificate is for; repeatable
        /// [default: localhost, 127.0.0.1, ::1].
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Directory to write into [default: DATA/tls].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        location: Location,
    },
}

/// `wharfd admins …`.
#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Add an admin of the web console and API (not an FTP account); asks
    /// for the password unless --password-stdin.
    Add {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        location: Location,
    },
    /// List admins.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// Remove an admin and its API tokens.
    Remove {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Make an API token for scripts (Authorization: Bearer TOKEN); it is
    /// printed once and only its hash is kept.
    Token {
        name: String,
        /// read (look only) or admin (change things too).
        #[arg(long, value_name = "SCOPE", default_value = "read")]
        scope: String,
        #[command(flatten)]
        location: Location,
    },
    /// Turn on a TOTP second factor (RFC 6238: 6 digits, 30 s) for an
    /// admin: prints a new secret (base32) and its otpauth:// URI for an
    /// authenticator app; from then on the console's and the API's logins
    /// need a code as well as the password. Running it again replaces the
    /// secret.
    Totp {
        name: String,
        /// Turn the second factor off instead (logins need no code).
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        location: Location,
    },
    /// Show the audit log of admin actions, newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        location: Location,
    },
}

/// `wharfd hostkey …`.
#[derive(Debug, Subcommand)]
pub enum HostkeyCommand {
    /// Print the host keys' SHA256 fingerprints (making them if missing),
    /// to publish for users to check.
    Show {
        #[command(flatten)]
        location: Location,
    },
    /// Move the host keys aside (NAME.old-UNIX-TIME) and make new ones; a
    /// running server uses them after its restart. Clients will warn that
    /// the key changed: publish the new fingerprints first.
    Rotate {
        #[command(flatten)]
        location: Location,
    },
}

/// Where the config file and the data directory are; shared by all commands.
#[derive(Debug, Args, Clone)]
pub struct Location {
    /// TOML config file (settings: see docs/configuration.md or wharfd.toml(5)).
    #[arg(long, short = 'c', env = "WHARF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: account store, pub/ and home/ [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Account store: a SQLite file path, or postgres://USER:PASSWORD@HOST:PORT/DB
    /// to share accounts, registrations and quota usage between instances
    /// [default: DATA/wharf.db].
    #[arg(long, env = "WHARF_ACCOUNTS", value_name = "PATH|URL")]
    pub accounts: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub location: Location,
    #[command(flatten)]
    pub storage: crate::storage::StorageArgs,
    /// Address to listen on, IPv4 or [IPv6]:port; repeat for several
    /// [default: 127.0.0.1:2121].
    #[arg(
        long,
        env = "WHARF_LISTEN",
        value_name = "ADDR:PORT",
        value_delimiter = ','
    )]
    pub listen: Vec<String>,
    /// Ports for passive data connections, e.g. 50000-50100 [default: any].
    #[arg(long, env = "WHARF_PASSIVE_PORTS", value_name = "LO-HI")]
    pub passive_ports: Option<String>,
    /// Address announced in PASV replies, for servers behind NAT or a load
    /// balancer (each instance its own, or the balancer's).
    #[arg(long, env = "WHARF_PASSIVE_ADDRESS", value_name = "IP")]
    pub passive_address: Option<String>,
    /// Expect a PROXY protocol (v1 or v2) header on connections from the
    /// --proxy-from addresses, and use the client address it names.
    #[arg(long, env = "WHARF_PROXY_PROTOCOL", requires = "proxy_from")]
    pub proxy_protocol: bool,
    /// Load balancers trusted to send PROXY headers, e.g.
    /// 10.0.0.5/32,10.0.1.0/24 (needs --proxy-protocol).
    #[arg(long, env = "WHARF_PROXY_FROM", value_name = "CIDR,...")]
    pub proxy_from: Option<String>,
    /// Refuse anonymous logins.
    #[arg(long, env = "WHARF_NO_ANONYMOUS")]
    pub no_anonymous: bool,
    /// Directory anonymous users see [default: DATA/pub].
    #[arg(long, env = "WHARF_ANON_ROOT", value_name = "DIR")]
    pub anon_root: Option<PathBuf>,
    /// Let anonymous sessions upload (only) into this shared folder, seen
    /// at /incoming: nothing there can be listed, read back or replaced
    /// anonymously; its quota bounds them all (see `wharfd folders`).
    #[arg(long, env = "WHARF_ANON_INCOMING", value_name = "FOLDER")]
    pub anon_incoming: Option<String>,
    /// Close sessions idle this many seconds [default: 900].
    #[arg(long, env = "WHARF_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Most sessions at once [default: 1000].
    #[arg(long, env = "WHARF_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Most sessions at once from one client address [default: 20].
    #[arg(long, env = "WHARF_MAX_SESSIONS_PER_IP", value_name = "N")]
    pub max_sessions_per_ip: Option<usize>,
    /// Verify every password login with Argon2, never from the cache of
    /// recently verified credentials (see docs/hardening.md).
    #[arg(long, env = "WHARF_NO_CREDENTIAL_CACHE")]
    pub no_credential_cache: bool,
    /// Delay before answering a failed login, in milliseconds [default: 1000].
    #[arg(long, env = "WHARF_LOGIN_FAIL_DELAY_MS", value_name = "MS")]
    pub login_fail_delay_ms: Option<u64>,
    /// Append an xferlog-format line per transfer to FILE.
    #[arg(long, env = "WHARF_XFERLOG", value_name = "FILE")]
    pub xferlog: Option<PathBuf>,
    /// Days the account store keeps the transfer history the admin
    /// console and `/api/transfers` show; 0 keeps none [default: 30].
    #[arg(long, env = "WHARF_TRANSFER_HISTORY_DAYS", value_name = "DAYS")]
    pub transfer_history_days: Option<u64>,
    /// What SITE REGISTER does: off, approval (accounts wait for
    /// `wharfd users approve`) or open [default: approval].
    #[arg(long, env = "WHARF_REGISTRATION", value_name = "POLICY")]
    pub registration: Option<String>,
    /// Quota of new accounts, e.g. 500M, 2G or none [default: 1G].
    #[arg(long, env = "WHARF_DEFAULT_QUOTA", value_name = "SIZE")]
    pub default_quota: Option<String>,
    /// PEM certificate chain: turns on FTPS (AUTH TLS on every listener;
    /// a PROT P data connection must resume the control connection's TLS
    /// session, and a client offering ALPN without "ftp" is refused).
    #[arg(
        long,
        env = "WHARF_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "WHARF_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Also listen for implicit FTPS (TLS from the first byte) here; repeatable.
    #[arg(
        long,
        env = "WHARF_IMPLICIT_LISTEN",
        value_name = "ADDR:PORT",
        value_delimiter = ','
    )]
    pub implicit_listen: Vec<String>,
    /// Also serve SFTP (SSH) here, e.g. 127.0.0.1:2222; repeatable
    /// [default: off]. Host keys are made on first start in DATA/ssh.
    #[arg(
        long,
        env = "WHARF_SFTP_LISTEN",
        value_name = "ADDR:PORT",
        value_delimiter = ','
    )]
    pub sftp_listen: Vec<String>,
    /// Require TLS for account logins and their data connections (PROT P);
    /// anonymous may stay plain.
    #[arg(long, env = "WHARF_REQUIRE_TLS")]
    pub require_tls: bool,
    /// Serve Prometheus metrics (GET /metrics) and GET /health here [default: off].
    #[arg(long, env = "WHARF_METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// Serve the admin API (/api/), the web console (/console/), /metrics
    /// and /health here, e.g. 127.0.0.1:8080; HTTPS with --tls-cert when
    /// FTPS is configured. Add an admin with `wharfd admins add NAME`
    /// [default: off].
    #[arg(long, env = "WHARF_ADMIN_LISTEN", value_name = "ADDR:PORT")]
    pub admin_listen: Option<String>,
    /// Also serve a public registration page on --admin-listen (/register,
    /// and /register/status where a registrant sees pending, approved or
    /// rejected), with SITE REGISTER's rules, limits and approval flow; no
    /// admin login needed. Needs --admin-listen and --registration
    /// approval or open [default: off].
    #[arg(long, env = "WHARF_PUBLIC_REGISTER")]
    pub public_register: bool,
    /// Per-account download limit in bytes per second, e.g. 10M [default: none].
    #[arg(long, env = "WHARF_MAX_DOWNLOAD_RATE", value_name = "SIZE")]
    pub max_download_rate: Option<String>,
    /// Per-account upload limit in bytes per second, e.g. 10M [default: none].
    #[arg(long, env = "WHARF_MAX_UPLOAD_RATE", value_name = "SIZE")]
    pub max_upload_rate: Option<String>,
    /// On SIGTERM/SIGINT, let running transfers finish for up to this many
    /// seconds before closing them [default: 30].
    #[arg(long, env = "WHARF_SHUTDOWN_GRACE", value_name = "SECS")]
    pub shutdown_grace: Option<u64>,
    /// Started as root: bind the listeners, load the certificate, then run
    /// as this user (its uids, its group, no capabilities) before any
    /// client is accepted. The data directory must belong to it. Started
    /// as another non-root user, wharfd refuses to start [default: none].
    #[arg(long, env = "WHARF_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// The group for --user [default: the user's primary group].
    #[arg(long, env = "WHARF_GROUP", value_name = "NAME")]
    pub group: Option<String>,
    /// Log filter, e.g. info, debug, ftp_server=trace [default: info].
    #[arg(long, env = "WHARF_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log lines as text, or as one JSON object per line (`timestamp`,
    /// `level`, `message` and the event's fields) [default: text].
    #[arg(long, env = "WHARF_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<crate::config::LogFormat>,
}

/// `wharfd users keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add public keys read from standard input: OpenSSH lines, as in
    /// ~/.ssh/id_ed25519.pub or an authorized_keys file (no options).
    Add {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// List an account's keys: fingerprint, type and comment.
    List {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Remove the key with this SHA256: fingerprint or comment.
    Remove {
        name: String,
        /// The key's SHA256:… fingerprint (from `keys list`) or its comment.
        key: String,
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an active account; asks for the password unless --password-stdin.
    Add {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Home directory [default: DATA/home/NAME].
        #[arg(long, value_name = "DIR")]
        home: Option<PathBuf>,
        /// Quota, e.g. 500M, 2G or none [default: the configured default_quota].
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        /// Give the account the files its home already holds (left by an
        /// earlier account of that name), recounting its usage from them.
        /// Without it, a home that holds anything is refused.
        #[arg(long)]
        reuse_home: bool,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// Set a new password.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        location: Location,
    },
    /// Stop an account from logging in (its files stay).
    Disable {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Let a disabled account log in again.
    Enable {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// List registrations waiting for approval, with when and from where.
    Pending {
        #[command(flatten)]
        location: Location,
    },
    /// Approve a pending registration and create its home.
    Approve {
        name: String,
        /// Quota, e.g. 500M, 2G or none [default: as registered].
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        /// Give the account the files its home already holds (left by an
        /// earlier account of that name), recounting its usage from them.
        /// Without it, a home that holds anything is refused.
        #[arg(long)]
        reuse_home: bool,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
    /// Reject a pending registration (the account is removed; its
    /// registrant learns the reason with SITE REGSTATUS for 30 days).
    Reject {
        name: String,
        /// Why, as the registrant will read it.
        #[arg(long, default_value = "rejected by the operator")]
        reason: String,
        #[command(flatten)]
        location: Location,
    },
    /// Change a quota (running sessions see it at their next upload).
    Quota {
        name: String,
        /// New quota, e.g. 500M, 2G or none.
        size: String,
        #[command(flatten)]
        location: Location,
    },
    /// Set what an account may do, everywhere or under one path.
    ///
    /// The rule with the longest matching path wins, then the account's
    /// own set, then the server's default. Running sessions see the change
    /// within a second.
    #[command(
        after_help = "Permissions: list, download, upload (new files), overwrite, append \
(APPE and resumed uploads), delete, rename, mkdir, rmdir, chmod (reserved). \
Examples:\n  wharfd users perms alice --read-only\n  wharfd users perms alice --upload-only --path /incoming\n  \
wharfd users perms alice list,download,upload --path /archive\n  wharfd users perms alice default --path /archive"
    )]
    Perms(PermsArgs),
    /// Set an account's limits: sessions, rates, file size, protocols,
    /// expiry, networks.
    ///
    /// Each takes `default` to fall back to the server's setting again.
    /// Running sessions see the change within a second; expiry, protocols
    /// and networks are checked at login.
    Set(SetArgs),
    /// Show an account's effective permissions and limits, and where each
    /// comes from.
    Show {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Show or set the groups an account belongs to.
    ///
    /// The account inherits each setting it does not set itself from the
    /// first of its groups that sets it; path rules of all its groups apply
    /// (the longest matching path wins, the account's own on a tie).
    #[command(
        after_help = "Examples:\n  wharfd users groups alice staff,uploaders\n  wharfd users groups alice\n  wharfd users groups alice none"
    )]
    Groups {
        name: String,
        /// Comma list of groups, first (primary) to last, replacing the
        /// account's; `none` to leave them all. Without it: show them.
        #[arg(value_name = "GROUP,...|none")]
        groups: Option<String>,
        #[command(flatten)]
        location: Location,
    },
    /// Mount a shared folder into the account's tree (see `wharfd folders`).
    Mount(MountArgs),
    /// Unmount the shared folder at a virtual path (and its rule there).
    Unmount(UnmountArgs),
    /// Manage an account's SSH public keys, for SFTP logins by key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Recompute usage from the files on disk (or in the bucket, with
    /// --storage s3://...).
    Recount {
        /// The account to recount.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Recount every account.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
    /// Remove an account; its home is moved aside to DATA/removed/
    ///
    /// Its home, if under DATA/home, is moved aside to
    /// DATA/removed/NAME.UNIX-TIME (an empty one is deleted), so a later
    /// account of that name starts empty; a home elsewhere or shared with
    /// another account stays, and so do its objects on S3 storage (the
    /// name is then refused until they are gone, or --reuse-home is given).
    Remove {
        name: String,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
}

/// A command about one group or folder, by name.
#[derive(Debug, Args)]
pub struct Named {
    pub name: String,
    #[command(flatten)]
    pub location: Location,
}

/// `wharfd groups …`.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Add an empty group (then: wharfd groups perms/set, wharfd users groups).
    Add(Named),
    /// List groups with their member counts.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// Show a group's permissions and limits, and its members.
    Show(Named),
    /// Set what members may do, everywhere or under one path (as
    /// `wharfd users perms`; an account's own setting beats its group's).
    Perms(PermsArgs),
    /// Set members' limits (as `wharfd users set`; an account's own
    /// setting beats its group's).
    Set(SetArgs),
    /// Mount a shared folder into every member's tree.
    Mount(MountArgs),
    /// Unmount the shared folder at a virtual path (and its rule there).
    Unmount(UnmountArgs),
    /// Remove a group; its members stop inheriting from it.
    Remove {
        name: String,
        /// Remove it even if accounts are still members.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        location: Location,
    },
}

/// `wharfd folders …`.
#[derive(Debug, Subcommand)]
pub enum FoldersCommand {
    /// Add a shared folder over a directory (made if missing).
    #[command(
        after_help = "Examples:\n  wharfd folders add team --dir /srv/wharf/team --quota 10G\n  \
wharfd users mount alice team /team\n  wharfd groups mount staff team /team --read-only"
    )]
    Add {
        name: String,
        /// The directory that holds its files (absolute).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The quota all its users share, e.g. 10G or none [default: none].
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        #[command(flatten)]
        location: Location,
    },
    /// List folders with their usage, quota and directory.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// Show a folder and where it is mounted.
    Show(Named),
    /// Change a folder's quota (running sessions see it at their next upload).
    Quota {
        name: String,
        /// New quota, e.g. 500M, 2G or none.
        size: String,
        #[command(flatten)]
        location: Location,
    },
    /// Recompute a folder's usage from the files in its directory.
    Recount(Named),
    /// Remove a folder (its files stay in its directory).
    Remove {
        name: String,
        /// Remove it even if accounts or groups still mount it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        location: Location,
    },
}

/// `wharfd users|groups mount`.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// The account or group.
    pub name: String,
    /// The shared folder (see: wharfd folders list).
    pub folder: String,
    /// Where it appears, e.g. /team (not /).
    #[arg(value_name = "VPATH")]
    pub at: String,
    /// Permissions there and below: all, read-only, upload-only or a
    /// comma list [default: as the path's parent].
    #[arg(long, value_name = "PERMS", conflicts_with_all = ["read_only", "upload_only"])]
    pub perms: Option<String>,
    /// Shortcut for --perms read-only.
    #[arg(long, conflicts_with = "upload_only")]
    pub read_only: bool,
    /// Shortcut for --perms upload-only (a shared drop box).
    #[arg(long)]
    pub upload_only: bool,
    #[command(flatten)]
    pub location: Location,
}

/// `wharfd users|groups unmount`.
#[derive(Debug, Args)]
pub struct UnmountArgs {
    /// The account or group.
    pub name: String,
    /// The virtual path the folder is mounted at.
    #[arg(value_name = "VPATH")]
    pub at: String,
    #[command(flatten)]
    pub location: Location,
}

/// `wharfd users perms`.
#[derive(Debug, Args)]
pub struct PermsArgs {
    pub name: String,
    /// all, none, read-only, upload-only, a comma list of permissions,
    /// or default (the server's; with --path, remove that path's rule).
    #[arg(
        value_name = "PERMS",
        required_unless_present_any = ["read_only", "upload_only"],
        conflicts_with_all = ["read_only", "upload_only"]
    )]
    pub perms: Option<String>,
    /// Shortcut for list,download.
    #[arg(long, conflicts_with = "upload_only")]
    pub read_only: bool,
    /// A drop box: upload new files only; nothing can be listed,
    /// downloaded or overwritten.
    #[arg(long)]
    pub upload_only: bool,
    /// Set the rule for this virtual path (e.g. /incoming) and
    /// everything below it, instead of the account's own set.
    #[arg(long, value_name = "VPATH")]
    pub path: Option<String>,
    #[command(flatten)]
    pub location: Location,
}

/// `wharfd users set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    pub name: String,
    /// Logged-in sessions at once.
    #[arg(long, value_name = "N|unlimited|default")]
    pub max_sessions: Option<String>,
    /// Upload rate of all its sessions together, e.g. 500K, 2M.
    #[arg(long, value_name = "RATE|unlimited|default")]
    pub upload_rate: Option<String>,
    /// Download rate of all its sessions together, e.g. 500K, 2M.
    #[arg(long, value_name = "RATE|unlimited|default")]
    pub download_rate: Option<String>,
    /// The largest file an upload may leave (552 past it), e.g. 100M.
    #[arg(long, value_name = "SIZE|unlimited|default")]
    pub max_file_size: Option<String>,
    /// The only protocols it may log in with: ftp, ftps, sftp.
    #[arg(long, value_name = "LIST|default")]
    pub protocols: Option<String>,
    /// The last day (UTC) it may log in.
    #[arg(long, value_name = "YYYY-MM-DD|never")]
    pub expires: Option<String>,
    /// Client networks it may log in from (replaces the list).
    #[arg(long, value_name = "CIDR,...|none")]
    pub allow_from: Option<String>,
    /// Client networks it may not log in from (replaces the list).
    #[arg(long, value_name = "CIDR,...|none")]
    pub deny_from: Option<String>,
    /// FTP commands it may not use, e.g. SITE,DELE,MFMT (550 "Not
    /// permitted"; USER, PASS and QUIT always work).
    #[arg(long, value_name = "VERB,...|none|default")]
    pub deny_commands: Option<String>,
    #[command(flatten)]
    pub location: Location,
}
