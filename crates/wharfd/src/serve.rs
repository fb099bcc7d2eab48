//! `wharfd serve` in two phases. [`prepare`] runs first, single-threaded
//! and possibly as root: it reads the configuration, binds the listeners,
//! loads the certificate and drops privileges ([`crate::privileges`]).
//! [`run`] then opens the account store, sweeps what a crash left behind,
//! and serves until SIGINT or SIGTERM, all as the unprivileged user;
//! [`crate::signals`] answers SIGHUP and SIGUSR1 meanwhile.
//!
//! With a shared account store (PostgreSQL) other instances may be
//! uploading into the same homes, so the start-up sweep and the recount
//! after an unclean stop are left to the operator (`wharfd users recount`)
//! instead of run blindly.

use crate::activation;
use crate::activation::Passed;
use crate::cli::ServeArgs;
use crate::config::{self, ServeConfig};
use crate::logging;
use crate::notify::Notifier;
use crate::privileges::{self, Plan};
use crate::signals::{self, Controls};
use admin_http::AdminState;
use anyhow::{Context, Result};
use ftp_server::accounts::admin::home_of;
use ftp_server::accounts::StoreLocation;
use ftp_server::metrics::{AccountsProbe, Health, StorageProbe};
use ftp_server::quota::recount::recount_account;
use ftp_server::storage::sweep_partial_uploads;
use ftp_server::storage::StorageBackend;
use ftp_server::tls::TlsContext;
use ftp_server::{bind_control_std, Listener, Server};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What [`prepare`] readies for [`run`].
#[derive(Debug)]
pub struct Prepared {
    cfg: ServeConfig,
    /// Bound control sockets; `true` for implicit FTPS.
    control: Vec<(std::net::TcpListener, bool)>,
    /// Bound SFTP sockets.
    sftp: Vec<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
    /// The admin API and console, with its own TLS context when FTPS is on.
    admin: Option<(std::net::TcpListener, Option<TlsContext>)>,
    tls: Option<TlsContext>,
    plan: Plan,
    /// For reloads (SIGHUP).
    args: ServeArgs,
    notifier: Notifier,
}

/// The privileged, single-threaded phase: see the module documentation.
pub fn prepare(args: ServeArgs) -> Result<Prepared> {
    let cfg = config::resolve(&args)?;
    logging::init(&cfg.log, cfg.log_format)?;
    let plan = privileges::plan(cfg.user.as_deref(), cfg.group.as_deref())?;
    let notifier = Notifier::from_env()?;
    let (control, sftp) = match activation::listeners()? {
        Some(passed) => {
            tracing::info!(
                sockets = passed.len(),
                "socket activation: serving on the sockets systemd passed; `listen`, `implicit_listen` and `sftp_listen` are not used"
            );
            let (sftp, control): (Vec<_>, Vec<_>) = passed
                .into_iter()
                .partition(|(_, kind)| *kind == Passed::Sftp);
            (
                control
                    .into_iter()
                    .map(|(socket, kind)| (socket, kind == Passed::ImplicitFtps))
                    .collect(),
                sftp.into_iter().map(|(socket, _)| socket).collect(),
            )
        }
        None => (bind(&cfg)?, bind_sftp(&cfg)?),
    };
    let metrics = cfg
        .metrics_listen
        .map(|addr| bind_http(addr, "metrics"))
        .transpose()?;
    let load_tls = || -> Result<Option<TlsContext>> {
        match &cfg.options.tls {
            Some(t) => Ok(Some(TlsContext::load(t).map_err(anyhow::Error::msg)?)),
            None => Ok(None),
        }
    };
    let tls = load_tls()?;
    let admin = match cfg.admin_listen {
        Some(addr) => Some((bind_http(addr, "the admin console")?, load_tls()?)),
        None => None,
    };
    privileges::apply(&plan)?;
    match &plan {
        Plan::Drop(a) => tracing::info!(
            user = %a.name, uid = a.uid, group = %a.group, gid = a.gid,
            "dropped root: running as {} with no capabilities", a.name
        ),
        Plan::StayRoot => tracing::warn!(
            "running as root: set `user` (or --user) to an unprivileged user to drop root after binding"
        ),
        Plan::Keep(_) => {}
    }
    if let Some(account) = plan.account() {
        let store = match &cfg.accounts {
            StoreLocation::Sqlite(path) => Some(path.as_path()),
            _ => None,
        };
        privileges::require_writable(account, &cfg.options.data_dir, store)?;
    }
    Ok(Prepared {
        cfg,
        control,
        sftp,
        metrics,
        admin,
        tls,
        plan,
        args,
        notifier,
    })
}

/// Binds an HTTP listening address (metrics, admin console).
fn bind_http(addr: std::net::SocketAddr, what: &str) -> Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .with_context(|| {
            format!("cannot listen for {what} on {addr} (in use? choose another address)")
        })
}

/// Binds the configured SFTP addresses.
fn bind_sftp(cfg: &ServeConfig) -> Result<Vec<std::net::TcpListener>> {
    cfg.sftp_listen
        .iter()
        .map(|addr| bind_one(addr, "SFTP on", "by sshd perhaps"))
        .collect()
}

/// Binds the configured control addresses; `true` for implicit FTPS.
fn bind(cfg: &ServeConfig) -> Result<Vec<(std::net::TcpListener, bool)>> {
    let plain = cfg.listen.iter().map(|a| (a, false));
    let implicit = cfg.implicit_listen.iter().map(|a| (a, true));
    plain
        .chain(implicit)
        .map(|(addr, implicit)| Ok((bind_one(addr, "on", "by another server")?, implicit)))
        .collect()
}

/// Binds one listening address, saying what to do when it is taken.
fn bind_one(addr: &std::net::SocketAddr, what: &str, who: &str) -> Result<std::net::TcpListener> {
    bind_control_std(*addr).with_context(|| {
        format!("cannot listen {what} {addr} (in use, {who}? choose another address)")
    })
}

/// Serves, unprivileged; see the module documentation.
pub async fn run(prepared: Prepared) -> Result<()> {
    let Prepared {
        cfg,
        control,
        sftp,
        metrics,
        admin,
        tls,
        plan,
        args,
        notifier,
    } = prepared;
    let (term, int) = signals::stop_signals()?;
    let control_signals = signals::control_signals()?;
    let opts = cfg.options.clone();
    std::fs::create_dir_all(&opts.data_dir).with_context(|| {
        let who = plan
            .account()
            .map_or_else(String::new, |a| format!(" as user {}", a.name));
        format!(
            "cannot create the data directory {}{who}",
            opts.data_dir.display()
        )
    })?;
    // A bucket that does not answer (wrong endpoint, bucket or
    // credentials) is reported now, not at the first login.
    opts.storage
        .check(std::time::Duration::from_secs(20))
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("storage {} does not answer", opts.storage.describe()))?;
    let store = cfg
        .accounts
        .open_serving(cfg.accounts_lease)
        .await
        .with_context(|| format!("cannot open the account store {}", cfg.accounts))?;
    if let Some(folder) = &opts.anon_incoming {
        let found = ftp_server::folders::find(store.as_ref(), folder).await;
        let folder = found.with_context(|| {
            format!("anon_incoming: add the folder first with `wharfd folders add {folder} --dir DIR --quota SIZE`")
        })?;
        if let StorageBackend::Local = &opts.storage {
            // So listings of the anonymous root show where to upload.
            let at = opts
                .anon_root
                .join(ftp_server::options::ANON_INCOMING.trim_start_matches('/'));
            if let Err(e) = std::fs::create_dir_all(&at) {
                tracing::warn!(path = %at.display(), error = %e, "cannot make the anonymous incoming mount point");
            }
        }
        tracing::info!(folder = %folder.name, dir = %folder.dir.display(), "anonymous uploads go to {}", ftp_server::options::ANON_INCOMING);
    }
    let accounts = store.list().await?;
    let shared = cfg.accounts.is_shared();
    if shared {
        tracing::info!("shared account store: no start-up sweep or recount (other instances may be uploading); run `wharfd users recount --all` while all are idle");
    } else {
        sweep(&opts.data_dir);
        for home in accounts.iter().filter_map(|a| a.home.as_ref()) {
            sweep(home);
        }
    }
    // The marker exists while a server runs; finding it means the last
    // run did not stop cleanly, and usage may lag behind the files.
    let marker = opts.data_dir.join(".wharfd.running");
    if marker.exists() && !shared {
        tracing::warn!("the last run did not stop cleanly; recounting usage from disk");
        for a in &accounts {
            let home = home_of(&opts, a);
            match recount_account(&opts.storage, store.as_ref(), &a.name, &home).await {
                Ok(used) if used != a.used_bytes => {
                    tracing::info!(account = %a.name, was = a.used_bytes, now = used, "usage corrected")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(account = %a.name, error = %format!("{e:#}"), "cannot recount")
                }
            }
        }
    }
    if !shared {
        // On disk before any upload: the store's usage commits do not wait
        // for the disk (see SqliteStore), because this marker makes a
        // power loss end in a recount.
        write_durably(&marker, std::process::id().to_string().as_bytes())
            .with_context(|| format!("cannot write {}", marker.display()))?;
    }

    let mut listeners = Vec::new();
    for (socket, implicit) in control {
        let socket = TcpListener::from_std(socket)?;
        listeners.push(if implicit {
            Listener::implicit_tls(socket)
        } else {
            Listener::plain(socket)
        });
    }
    for socket in sftp {
        listeners.push(Listener::sftp(TcpListener::from_std(socket)?));
    }
    let data_dir = opts.data_dir.clone();
    let registration = opts.registration;
    let tls_mode = match &opts.tls {
        Some(t) if t.require_login => "required",
        Some(_) => "offered",
        None => "off",
    };
    let anonymous = opts.anonymous.then(|| opts.anon_root.display().to_string());
    let storage = match &opts.storage {
        StorageBackend::Local => format!("local:{}", opts.data_dir.display()),
        s3 => s3.describe(),
    };
    let storage_backend = opts.storage.clone();
    let proxy = opts.proxy_protocol.as_ref().map_or_else(
        || "off".to_string(),
        |p| {
            let from: Vec<String> = p.trusted.iter().map(|c| c.to_string()).collect();
            format!("from {}", from.join(","))
        },
    );
    let passive = format!(
        "{} on ports {}",
        opts.passive_address
            .map_or_else(|| "local address".to_string(), |ip| ip.to_string()),
        opts.passive_ports.as_ref().map_or_else(
            || "any".to_string(),
            |r| format!("{}-{}", r.start(), r.end())
        )
    );
    let admin_options = Arc::new(opts.clone());
    let server = Server::with_tls(opts, store.clone(), tls).map_err(anyhow::Error::msg)?;
    // The admin console's certificate, reloaded with the server's on SIGHUP.
    let admin = admin.map(|(socket, tls)| (socket, tls.map(Arc::new)));
    let controls = Controls::new(
        control_signals,
        server.handle(),
        admin.as_ref().and_then(|(_, tls)| tls.clone()),
        args,
        &cfg,
        notifier.clone(),
    );
    for l in &listeners {
        if l.is_implicit_tls() {
            tracing::info!("listening on {} (implicit FTPS)", l.local_addr()?);
        } else if l.is_sftp() {
            tracing::info!("listening on {} (SFTP)", l.local_addr()?);
        } else {
            tracing::info!("listening on {}", l.local_addr()?);
        }
    }
    tracing::info!(
        accounts = %store.describe(),
        storage = %storage,
        "backends"
    );
    tracing::info!(
        data = %data_dir.display(),
        accounts = %store.describe(),
        storage = %storage,
        anonymous = anonymous.as_deref().unwrap_or("off"),
        registration = %registration,
        tls = tls_mode,
        proxy_protocol = %proxy,
        passive = %passive,
        "wharfd ready"
    );
    if accounts.is_empty() {
        tracing::info!(
            "no accounts yet; add one with: wharfd users add NAME --data {}",
            data_dir.display()
        );
    }
    let http_state = AdminState {
        store: store.clone(),
        options: admin_options,
        metrics: server.metrics(),
        health: Arc::new(Health {
            probes: vec![
                Box::new(AccountsProbe(store.clone())),
                Box::new(StorageProbe(storage_backend)),
            ],
        }),
        cluster: server.cluster(),
        events: server.events(),
        logins: Arc::default(),
        secure: false,
        registration: None,
    };
    let mut http_tasks = Vec::new();
    if let Some(socket) = metrics {
        let socket = TcpListener::from_std(socket)?;
        tracing::info!("metrics on http://{}/metrics", socket.local_addr()?);
        let router = admin_http::monitor_router(http_state.clone());
        http_tasks.push(tokio::spawn(admin_http::serve(socket, router, None)));
    }
    if let Some((socket, admin_tls)) = admin {
        let socket = TcpListener::from_std(socket)?;
        let scheme = if admin_tls.is_some() { "https" } else { "http" };
        tracing::info!(
            "admin console on {scheme}://{}/console/",
            socket.local_addr()?
        );
        if admin_tls.is_none() && !socket.local_addr()?.ip().is_loopback() {
            tracing::warn!("the admin console speaks plain HTTP on a non-loopback address: configure tls_cert, or listen on 127.0.0.1");
        }
        let registration = cfg.public_register.then(|| server.registration_desk());
        if registration.is_some() {
            tracing::info!(
                "public registration page on {scheme}://{}/register",
                socket.local_addr()?
            );
        }
        let router = admin_http::router(AdminState {
            secure: admin_tls.is_some(),
            registration,
            ..http_state
        });
        http_tasks.push(tokio::spawn(admin_http::serve(socket, router, admin_tls)));
    }
    let controls = tokio::spawn(controls.run());
    notifier.send("READY=1\nSTATUS=accepting clients");
    let watchdog = tokio::spawn(notifier.clone().watchdog());
    server
        .run(listeners, signals::shutdown(term, int, notifier))
        .await?;
    controls.abort();
    watchdog.abort();
    for task in http_tasks {
        task.abort();
    }
    store.close().await;
    if !shared {
        let _ = std::fs::remove_file(&marker);
    }
    tracing::info!("wharfd stopped");
    Ok(())
}

fn sweep(root: &std::path::Path) {
    match sweep_partial_uploads(root) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(removed = n, root = %root.display(), "removed unfinished uploads left by a crash")
        }
        Err(e) => {
            tracing::warn!(error = %e, root = %root.display(), "could not sweep unfinished uploads")
        }
    }
}

/// Writes `bytes` to `path` and waits until the file and its name are on
/// disk.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
