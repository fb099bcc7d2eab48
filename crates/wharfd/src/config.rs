//! Turns the config file, the environment and the flags into one
//! validated [`ServerOptions`] plus the addresses to listen on. Flags and
//! environment arrive through clap (which already puts flags above the
//! environment); the file fills in what neither set.

use crate::check_config::CheckTable;
use crate::cli::{Location, ServeArgs};
use crate::event_config::{EventCommandConfig, EventMailConfig, EventWebhookConfig};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::StoreLocation;
use ftp_server::policy::{NetRules, PermSet};
use ftp_server::proxy::{parse_cidr_list, Cidr, ProxyProtocol};
use ftp_server::quota::size::parse_size;
use ftp_server::registration::RegistrationPolicy;
use ftp_server::tls::TlsOptions;
use ftp_server::ServerOptions;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:2121";
pub const DEFAULT_DATA: &str = "./wharf-data";
/// The longest transfer history a store keeps, in days.
const MAX_HISTORY_DAYS: u64 = 3650;

/// The config file. Every key is optional; see docs/configuration.md.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<PathBuf>,
    pub accounts: Option<String>,
    pub accounts_lease: Option<u64>,
    pub proxy_protocol: Option<bool>,
    pub proxy_from: Option<Vec<String>>,
    pub proxy_header_timeout: Option<u64>,
    pub listen: Option<Vec<String>>,
    pub anonymous: Option<bool>,
    pub anon_root: Option<PathBuf>,
    pub anon_incoming: Option<String>,
    pub banner: Option<String>,
    pub passive_ports: Option<String>,
    pub passive_address: Option<String>,
    pub idle_timeout: Option<u64>,
    pub data_connect_timeout: Option<u64>,
    pub data_stall_timeout: Option<u64>,
    pub backend_timeout: Option<u64>,
    pub max_line: Option<usize>,
    pub max_sessions: Option<usize>,
    pub max_sessions_per_ip: Option<usize>,
    pub max_passive_per_ip: Option<usize>,
    pub max_login_failures: Option<u32>,
    pub login_fail_delay_ms: Option<u64>,
    pub shutdown_grace: Option<u64>,
    pub durable_uploads: Option<bool>,
    pub max_hash_jobs: Option<usize>,
    pub xferlog: Option<PathBuf>,
    pub transfer_history_days: Option<u64>,
    pub log: Option<String>,
    pub registration: Option<String>,
    pub min_password_len: Option<usize>,
    pub registrations_per_ip_per_hour: Option<u32>,
    pub max_pending: Option<u64>,
    pub default_quota: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub implicit_listen: Option<Vec<String>>,
    pub sftp_listen: Option<Vec<String>>,
    pub ssh_host_keys: Option<PathBuf>,
    /// `[[event_command]]` tables: programs run for events.
    pub event_command: Option<Vec<EventCommandConfig>>,
    /// `[[event_mail]]` tables: mail sent for events.
    pub event_mail: Option<Vec<EventMailConfig>>,
    /// `[[event_webhook]]` tables: HTTP endpoints events are POSTed to.
    pub event_webhook: Option<Vec<EventWebhookConfig>>,
    /// `[pre_login_check]`: asked before a login is admitted.
    pub pre_login_check: Option<CheckTable>,
    /// `[pre_upload_check]`: asked before an upload starts.
    pub pre_upload_check: Option<CheckTable>,
    /// `[registrant_mail]`: the relay that tells registrants the answer.
    pub registrant_mail: Option<crate::registrant_mail::RegistrantMailConfig>,
    pub require_tls: Option<bool>,
    pub tls_require_protected_data: Option<bool>,
    pub tls_require_session_reuse: Option<bool>,
    pub metrics_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub public_register: Option<bool>,
    pub max_download_rate: Option<String>,
    pub max_upload_rate: Option<String>,
    pub max_sessions_per_user: Option<usize>,
    pub max_file_size: Option<String>,
    pub default_permissions: Option<String>,
    pub allow_from: Option<Vec<String>>,
    pub deny_from: Option<Vec<String>>,
    pub lockout_failures: Option<u32>,
    pub lockout_address_failures: Option<u32>,
    pub lockout_window: Option<u64>,
    pub lockout_duration: Option<u64>,
    pub credential_cache: Option<bool>,
    pub credential_cache_ttl: Option<u64>,
    pub credential_cache_size: Option<usize>,
    pub password_check_threads: Option<usize>,
    pub storage: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_allow_http: Option<bool>,
    pub s3_virtual_hosted: Option<bool>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub log_format: Option<LogFormat>,
}

impl FileConfig {
    /// The quota new accounts get: flag/env, then file, then 1 GiB.
    pub fn default_quota(&self, flag: Option<&String>) -> Result<Option<u64>> {
        match flag.or(self.default_quota.as_ref()) {
            Some(text) => parse_size(text).map_err(anyhow::Error::msg),
            None => Ok(ServerOptions::new(".").default_quota),
        }
    }
}

impl FileConfig {
    /// Applies the file's account defaults and network rules to `o`: what
    /// accounts get where they set nothing of their own (`wharfd users
    /// show` reports these as the server's defaults).
    pub fn apply_account_defaults(&self, o: &mut ServerOptions) -> Result<()> {
        let size = |text: Option<&String>| -> Result<Option<u64>> {
            text.map_or(Ok(None), |t| parse_size(t).map_err(anyhow::Error::msg))
        };
        o.max_download_rate = size(self.max_download_rate.as_ref())?;
        o.max_upload_rate = size(self.max_upload_rate.as_ref())?;
        o.max_file_size = size(self.max_file_size.as_ref())?;
        o.max_sessions_per_user = self
            .max_sessions_per_user
            .unwrap_or(o.max_sessions_per_user);
        if let Some(text) = &self.default_permissions {
            o.default_permissions = PermSet::parse(text).context("default_permissions")?;
        }
        let nets = |list: &Option<Vec<String>>, key: &str| -> Result<Vec<Cidr>> {
            list.iter()
                .flatten()
                .map(|c| {
                    c.parse()
                        .map_err(anyhow::Error::msg)
                        .context(key.to_string())
                })
                .collect()
        };
        o.networks = NetRules {
            allow: nets(&self.allow_from, "allow_from")?,
            deny: nets(&self.deny_from, "deny_from")?,
        };
        Ok(())
    }

    pub fn load(location: &Location) -> Result<FileConfig> {
        let Some(path) = &location.config else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The data directory: flag/env, then file, then the default.
pub fn data_dir(location: &Location, file: &FileConfig) -> PathBuf {
    location
        .data
        .clone()
        .or_else(|| file.data.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers: `timestamp`, `level`,
    /// `message` and the event's own fields (`peer`, `user`, `path`, …).
    Json,
}

/// Everything `serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    pub options: ServerOptions,
    pub listen: Vec<SocketAddr>,
    pub implicit_listen: Vec<SocketAddr>,
    pub sftp_listen: Vec<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
    /// The admin API and web console (with /metrics and /health).
    pub admin_listen: Option<SocketAddr>,
    /// The public registration page on `admin_listen`.
    pub public_register: bool,
    pub log: String,
    pub log_format: LogFormat,
    pub accounts: StoreLocation,
    /// Lease of a serving instance in a shared account store.
    pub accounts_lease: Duration,
    /// The user (and group) to drop root to.
    pub user: Option<String>,
    pub group: Option<String>,
}

pub fn resolve(args: &ServeArgs) -> Result<ServeConfig> {
    let file = FileConfig::load(&args.location)?;
    let mut o = ServerOptions::new(data_dir(&args.location, &file));
    o.anon_root = args
        .anon_root
        .clone()
        .or(file.anon_root.clone())
        .unwrap_or_else(|| o.data_dir.join("pub"));
    o.anonymous = !args.no_anonymous && file.anonymous.unwrap_or(true);
    o.anon_incoming = args.anon_incoming.clone().or(file.anon_incoming.clone());
    if let Some(banner) = &file.banner {
        o.banner = banner.clone();
    }
    if let Some(range) = args.passive_ports.as_ref().or(file.passive_ports.as_ref()) {
        o.passive_ports = Some(parse_port_range(range)?);
    }
    if let Some(ip) = args
        .passive_address
        .as_ref()
        .or(file.passive_address.as_ref())
    {
        let ip: IpAddr = ip
            .parse()
            .with_context(|| format!("passive address {ip:?} is not an IP address"))?;
        if !ip.is_ipv4() {
            bail!("passive address {ip} must be IPv4 (PASV replies carry IPv4 only)");
        }
        o.passive_address = Some(ip);
    }
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file).map_or(default, Duration::from_secs)
    };
    o.idle_timeout = secs(args.idle_timeout, file.idle_timeout, o.idle_timeout);
    o.data_connect_timeout = secs(None, file.data_connect_timeout, o.data_connect_timeout);
    o.data_stall_timeout = secs(None, file.data_stall_timeout, o.data_stall_timeout);
    o.backend_timeout = secs(None, file.backend_timeout, o.backend_timeout);
    o.shutdown_grace = secs(args.shutdown_grace, file.shutdown_grace, o.shutdown_grace);
    if let Some(ms) = args.login_fail_delay_ms.or(file.login_fail_delay_ms) {
        o.login_fail_delay = Duration::from_millis(ms);
    }
    o.max_line = file.max_line.unwrap_or(o.max_line);
    o.storage = crate::storage::resolve(&args.storage, &file)?;
    o.max_sessions = args
        .max_sessions
        .or(file.max_sessions)
        .unwrap_or(o.max_sessions);
    o.max_sessions_per_ip = args
        .max_sessions_per_ip
        .or(file.max_sessions_per_ip)
        .unwrap_or(o.max_sessions_per_ip);
    o.max_passive_per_ip = file.max_passive_per_ip.unwrap_or(o.max_passive_per_ip);
    o.max_login_failures = file.max_login_failures.unwrap_or(o.max_login_failures);
    o.xferlog = args.xferlog.clone().or(file.xferlog.clone());
    if let Some(days) = args.transfer_history_days.or(file.transfer_history_days) {
        if days > MAX_HISTORY_DAYS {
            anyhow::bail!(
                "transfer_history_days {days}: at most {MAX_HISTORY_DAYS} (ten years); 0 keeps no history"
            );
        }
        o.transfer_history = Duration::from_secs(days * 86400);
    }
    o.durable_uploads = file.durable_uploads.unwrap_or(o.durable_uploads);
    o.max_hash_jobs = file.max_hash_jobs.unwrap_or(o.max_hash_jobs);
    if let Some(policy) = args.registration.as_ref().or(file.registration.as_ref()) {
        o.registration = policy.parse().map_err(anyhow::Error::msg)?;
    }
    o.min_password_len = file.min_password_len.unwrap_or(o.min_password_len);
    o.registrations_per_ip_per_hour = file
        .registrations_per_ip_per_hour
        .unwrap_or(o.registrations_per_ip_per_hour);
    o.max_pending = file.max_pending.unwrap_or(o.max_pending);
    o.default_quota = file.default_quota(args.default_quota.as_ref())?;
    file.apply_account_defaults(&mut o)?;
    let rate = |flag: Option<&String>| flag.map(|t| parse_size(t).map_err(anyhow::Error::msg));
    if let Some(down) = rate(args.max_download_rate.as_ref()) {
        o.max_download_rate = down?;
    }
    if let Some(up) = rate(args.max_upload_rate.as_ref()) {
        o.max_upload_rate = up?;
    }
    o.lockout.failures = file.lockout_failures.unwrap_or(o.lockout.failures);
    o.lockout.address_failures = file
        .lockout_address_failures
        .unwrap_or(o.lockout.address_failures);
    o.lockout.window = secs(None, file.lockout_window, o.lockout.window);
    o.lockout.duration = secs(None, file.lockout_duration, o.lockout.duration);
    o.auth.cache.enabled = !args.no_credential_cache && file.credential_cache.unwrap_or(true);
    o.auth.cache.ttl = secs(None, file.credential_cache_ttl, o.auth.cache.ttl);
    o.auth.cache.capacity = file.credential_cache_size.unwrap_or(o.auth.cache.capacity);
    o.auth.threads = file.password_check_threads.unwrap_or(o.auth.threads);
    let cert = args.tls_cert.clone().or(file.tls_cert.clone());
    let key = args.tls_key.clone().or(file.tls_key.clone());
    let require_tls = args.require_tls || file.require_tls.unwrap_or(false);
    o.tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            let mut tls = TlsOptions::new(cert, key);
            if require_tls {
                tls = tls.required();
            }
            if let Some(v) = file.tls_require_protected_data {
                tls.require_protected_data = v;
            }
            if let Some(v) = file.tls_require_session_reuse {
                tls.require_session_reuse = v;
            }
            Some(tls)
        }
        (None, None) if require_tls => {
            bail!("--require-tls needs a certificate: give --tls-cert and --tls-key (make a pair with `wharfd cert self-signed`)")
        }
        (None, None) => None,
        _ => {
            bail!("give both --tls-cert and --tls-key (or tls_cert and tls_key in the config file)")
        }
    };
    o.proxy_protocol = proxy_protocol(args, &file)?;
    o.validate().map_err(anyhow::Error::msg)?;

    let listen_text: Vec<String> = if !args.listen.is_empty() {
        args.listen.clone()
    } else {
        file.listen
            .clone()
            .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_string()])
    };
    let listen = parse_addrs(&listen_text)?;
    if listen.is_empty() {
        bail!("no listen address given");
    }
    let implicit_text: Vec<String> = if !args.implicit_listen.is_empty() {
        args.implicit_listen.clone()
    } else {
        file.implicit_listen.clone().unwrap_or_default()
    };
    let implicit_listen = parse_addrs(&implicit_text)?;
    if !implicit_listen.is_empty() && o.tls.is_none() {
        bail!("--implicit-listen needs a certificate: give --tls-cert and --tls-key");
    }
    let sftp_text: Vec<String> = if !args.sftp_listen.is_empty() {
        args.sftp_listen.clone()
    } else {
        file.sftp_listen.clone().unwrap_or_default()
    };
    let sftp_listen = parse_addrs(&sftp_text)?;
    crate::event_config::apply(&file, &mut o)?;
    crate::check_config::apply(&file, &mut o)?;
    o.registrant_mail = crate::registrant_mail::check(&file)?;
    if let Some(dir) = &file.ssh_host_keys {
        o.ssh_host_keys = dir.clone();
    } else {
        o.ssh_host_keys = o.data_dir.join("ssh");
    }
    let one_addr = |flag: &Option<String>, file: &Option<String>| -> Result<Option<SocketAddr>> {
        match flag.as_ref().or(file.as_ref()) {
            Some(text) => Ok(Some(parse_addrs(std::slice::from_ref(text))?[0])),
            None => Ok(None),
        }
    };
    let metrics_listen = one_addr(&args.metrics_listen, &file.metrics_listen)?;
    let admin_listen = one_addr(&args.admin_listen, &file.admin_listen)?;
    let public_register = args.public_register || file.public_register.unwrap_or(false);
    if public_register && admin_listen.is_none() {
        bail!("public_register (--public-register) needs admin_listen (--admin-listen ADDR:PORT): the page is served there");
    }
    if public_register && o.registration == RegistrationPolicy::Off {
        bail!("public_register (--public-register) needs registration (--registration) approval or open, not off");
    }
    let log = args
        .log
        .clone()
        .or(file.log.clone())
        .unwrap_or_else(|| "info".to_string());
    let accounts = accounts(&args.location, &file, &o.data_dir)?;
    let accounts_lease = Duration::from_secs(file.accounts_lease.unwrap_or(30).max(2));
    Ok(ServeConfig {
        accounts,
        accounts_lease,
        user: args.user.clone().or(file.user.clone()),
        group: args.group.clone().or(file.group.clone()),
        options: o,
        listen,
        implicit_listen,
        sftp_listen,
        metrics_listen,
        admin_listen,
        public_register,
        log,
        log_format: args.log_format.or(file.log_format).unwrap_or_default(),
    })
}

/// `--proxy-protocol` with its trusted sources, flag/env then file.
fn proxy_protocol(args: &ServeArgs, file: &FileConfig) -> Result<Option<ProxyProtocol>> {
    if !(args.proxy_protocol || file.proxy_protocol.unwrap_or(false)) {
        if args.proxy_from.is_some() {
            bail!("--proxy-from needs --proxy-protocol (or proxy_protocol = true)");
        }
        return Ok(None);
    }
    let from = match (&args.proxy_from, &file.proxy_from) {
        (Some(text), _) => text.clone(),
        (None, Some(list)) => list.join(","),
        (None, None) => bail!(
            "--proxy-protocol needs the load balancers' addresses: give --proxy-from 10.0.0.5/32,... (or proxy_from in the config file)"
        ),
    };
    let trusted = parse_cidr_list(&from).map_err(|e| anyhow::anyhow!("bad --proxy-from: {e}"))?;
    let mut proxy = ProxyProtocol::new(trusted);
    if let Some(secs) = file.proxy_header_timeout {
        proxy.header_timeout = Duration::from_secs(secs.max(1));
    }
    Ok(Some(proxy))
}

fn parse_addrs(texts: &[String]) -> Result<Vec<SocketAddr>> {
    texts
        .iter()
        .map(|a| {
            a.parse::<SocketAddr>().with_context(|| {
                format!("listen address {a:?} is not ADDR:PORT (IPv6 as [::1]:2121)")
            })
        })
        .collect()
}

/// Parses `LO-HI`.
pub fn parse_port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>> {
    let (lo, hi) = text
        .split_once('-')
        .with_context(|| format!("passive port range {text:?} is not LO-HI, e.g. 50000-50100"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .with_context(|| format!("bad port {lo:?}"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .with_context(|| format!("bad port {hi:?}"))?;
    if lo == 0 || lo > hi {
        bail!("passive port range {lo}-{hi} is empty or starts at 0");
    }
    Ok(lo..=hi)
}

/// The account store: `--accounts`/`WHARF_ACCOUNTS`, then the file's
/// `accounts`, then `DATA/wharf.db`.
pub fn accounts(location: &Location, file: &FileConfig, data: &Path) -> Result<StoreLocation> {
    match location.accounts.as_ref().or(file.accounts.as_ref()) {
        Some(text) => StoreLocation::parse(text).map_err(anyhow::Error::msg),
        None => Ok(StoreLocation::Sqlite(data.join("wharf.db"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let cli = crate::cli::Cli::parse_from(argv);
        match cli.command {
            Some(crate::cli::Command::Serve(a)) => *a,
            _ => cli.serve,
        }
    }

    #[test]
    fn flags_beat_file_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        std::fs::write(&cfg, "listen = [\"127.0.0.1:2000\"]\nidle_timeout = 60\nanonymous = false\npassive_ports = \"50000-50010\"\nbackend_timeout = 3\n").unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let c = resolve(&serve_args(&[
            "wharfd",
            "--config",
            cfg_s,
            "--idle-timeout",
            "5",
        ]))
        .unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:2000".parse().unwrap()]);
        assert_eq!(c.options.idle_timeout, Duration::from_secs(5));
        assert!(!c.options.anonymous);
        assert_eq!(c.options.passive_ports, Some(50000..=50010));
        assert_eq!(c.options.backend_timeout, Duration::from_secs(3));
        let c = resolve(&serve_args(&[
            "wharfd",
            "serve",
            "--listen",
            "[::1]:21",
            "--listen",
            "127.0.0.1:21",
        ]))
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert!(c.options.anonymous);
        assert_eq!(c.options.data_dir, PathBuf::from(DEFAULT_DATA));
        assert_eq!(
            c.options.backend_timeout,
            ftp_server::options::DEFAULT_BACKEND_TIMEOUT
        );
    }

    #[test]
    fn transfer_history_days_from_the_file_and_flag_with_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        std::fs::write(&cfg, "transfer_history_days = 7\n").unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let days = |extra: &[&str]| {
            let mut argv = vec!["wharfd", "--config", cfg_s];
            argv.extend_from_slice(extra);
            resolve(&serve_args(&argv)).map(|c| c.options.transfer_history.as_secs() / 86400)
        };
        assert_eq!(days(&[]).unwrap(), 7);
        assert_eq!(days(&["--transfer-history-days", "0"]).unwrap(), 0);
        let err = days(&["--transfer-history-days", "99999"]).unwrap_err();
        assert!(err.to_string().contains("at most 3650"), "{err}");
    }

    #[test]
    fn service_settings_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        std::fs::write(
            &cfg,
            "user = \"wharf\"\ngroup = \"ftp\"\nlog_format = \"json\"\nshutdown_grace = 5\n",
        )
        .unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let c = resolve(&serve_args(&["wharfd", "--config", cfg_s])).unwrap();
        assert_eq!(c.user.as_deref(), Some("wharf"));
        assert_eq!(c.group.as_deref(), Some("ftp"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.options.shutdown_grace, Duration::from_secs(5));
        let c = resolve(&serve_args(&[
            "wharfd",
            "--config",
            cfg_s,
            "--user",
            "other",
            "--log-format",
            "text",
            "--shutdown-grace",
            "60",
        ]))
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("other"));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.options.shutdown_grace, Duration::from_secs(60));
        let c = resolve(&serve_args(&["wharfd"])).unwrap();
        assert_eq!((c.user, c.log_format), (None, LogFormat::Text));
        assert_eq!(c.options.shutdown_grace, Duration::from_secs(30));
        std::fs::write(&cfg, "log_format = \"xml\"\n").unwrap();
        assert!(resolve(&serve_args(&["wharfd", "--config", cfg_s])).is_err());
    }

    #[test]
    fn tls_session_reuse_is_on_unless_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        let tls = |file: &str, extra: &[&str]| {
            std::fs::write(&cfg, file).unwrap();
            let mut argv = vec![
                "wharfd",
                "--config",
                cfg.to_str().unwrap(),
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
            ];
            argv.extend_from_slice(extra);
            resolve(&serve_args(&argv)).unwrap().options.tls.unwrap()
        };
        assert!(tls("", &[]).require_session_reuse);
        assert!(tls("", &["--require-tls"]).require_session_reuse);
        assert!(!tls("tls_require_session_reuse = false\n", &[]).require_session_reuse);
        let off = tls("tls_require_session_reuse = false\n", &["--require-tls"]);
        assert!(!off.require_session_reuse && off.require_protected_data);
    }

    #[test]
    fn passive_listener_limits() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        let c = resolve(&serve_args(&["wharfd"])).unwrap();
        assert_eq!(c.options.max_passive_per_ip, 20);
        assert_eq!(c.options.data_connect_timeout, Duration::from_secs(60));
        std::fs::write(&cfg, "max_passive_per_ip = 2\ndata_connect_timeout = 5\n").unwrap();
        let c = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap();
        assert_eq!(c.options.max_passive_per_ip, 2);
        assert_eq!(c.options.data_connect_timeout, Duration::from_secs(5));
        std::fs::write(&cfg, "max_passive_per_ip = 0\n").unwrap();
        let err = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("max_passive_per_ip"), "{err:#}");
    }

    #[test]
    fn credential_cache_from_file_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        let path = cfg.to_str().unwrap();
        let c = resolve(&serve_args(&["wharfd"])).unwrap().options.auth;
        assert!(c.cache.enabled);
        assert_eq!(
            (c.cache.ttl, c.cache.capacity),
            (Duration::from_secs(300), 10_000)
        );
        std::fs::write(
            &cfg,
            "credential_cache_ttl = 30\ncredential_cache_size = 5\npassword_check_threads = 3\n",
        )
        .unwrap();
        let c = resolve(&serve_args(&["wharfd", "--config", path]))
            .unwrap()
            .options
            .auth;
        assert!(c.cache.enabled);
        assert_eq!(
            (c.cache.ttl, c.cache.capacity, c.threads),
            (Duration::from_secs(30), 5, 3)
        );
        let off = resolve(&serve_args(&[
            "wharfd",
            "--config",
            path,
            "--no-credential-cache",
        ]));
        assert!(!off.unwrap().options.auth.cache.enabled);
        std::fs::write(&cfg, "credential_cache = false\ncredential_cache_ttl = 0\n").unwrap();
        let c = resolve(&serve_args(&["wharfd", "--config", path]))
            .unwrap()
            .options
            .auth;
        assert!(!c.cache.enabled, "off needs no valid TTL");
        for bad in ["credential_cache_ttl = 0\n", "password_check_threads = 0\n"] {
            std::fs::write(&cfg, bad).unwrap();
            let err = resolve(&serve_args(&["wharfd", "--config", path])).unwrap_err();
            let key = bad.split(' ').next().unwrap_or_default();
            assert!(format!("{err:#}").contains(key), "{err:#}");
        }
    }

    #[test]
    fn hash_jobs_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        let c = resolve(&serve_args(&["wharfd"])).unwrap();
        assert_eq!(c.options.max_hash_jobs, 2);
        std::fs::write(&cfg, "max_hash_jobs = 6\n").unwrap();
        let c = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap();
        assert_eq!(c.options.max_hash_jobs, 6);
        std::fs::write(&cfg, "max_hash_jobs = 0\n").unwrap();
        let err = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("max_hash_jobs"), "{err:#}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse_port_range("5-1").is_err());
        assert!(parse_port_range("abc").is_err());
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        std::fs::write(&cfg, "lisen = []\n").unwrap();
        let err = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
    }

    #[test]
    fn proxy_protocol_and_accounts() {
        let c = resolve(&serve_args(&[
            "wharfd",
            "--proxy-protocol",
            "--proxy-from",
            "10.0.0.5/32,10.0.1.0/24",
            "--accounts",
            "postgres://w:pw@127.0.0.1:5432/wharf",
        ]))
        .unwrap();
        let proxy = c.options.proxy_protocol.unwrap();
        assert_eq!(proxy.trusted.len(), 2);
        assert!(proxy.trusts("10.0.1.9".parse().unwrap()));
        assert!(c.accounts.is_shared());
        assert_eq!(
            c.accounts.to_string(),
            "postgres://w:***@127.0.0.1:5432/wharf"
        );
        let c = resolve(&serve_args(&["wharfd"])).unwrap();
        assert!(c.options.proxy_protocol.is_none());
        assert_eq!(
            c.accounts,
            StoreLocation::Sqlite(PathBuf::from(DEFAULT_DATA).join("wharf.db"))
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("w.toml");
        std::fs::write(&cfg, "proxy_protocol = true\n").unwrap();
        let err = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("--proxy-from"), "{err:#}");
        std::fs::write(
            &cfg,
            "proxy_protocol = true\nproxy_from = [\"127.0.0.1\"]\naccounts = \"mysql://x/y\"\n",
        )
        .unwrap();
        let err = resolve(&serve_args(&["wharfd", "--config", cfg.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("not supported"), "{err:#}");
    }
}
