//! `wharfd serve`: opens the account store, binds the listeners, sweeps
//! what a crash left behind, and runs until SIGINT or SIGTERM.

use crate::cli::ServeArgs;
use crate::config;
use anyhow::{Context, Result};
use ftp_server::accounts::{AccountStore, SqliteStore};
use ftp_server::storage::sweep_partial_uploads;
use ftp_server::{Listener, Server};
use std::io::IsTerminal;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

pub async fn run(args: ServeArgs) -> Result<()> {
    let cfg = config::resolve(&args)?;
    init_logging(&cfg.log)?;
    let opts = cfg.options;
    std::fs::create_dir_all(&opts.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
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
    let store = SqliteStore::open(&opts.account_db()).await?;
    let accounts = store.list().await?;
    sweep(&opts.data_dir);
    for home in accounts.iter().filter_map(|a| a.home.as_ref()) {
        sweep(home);
    }
    // The marker exists while a server runs; finding it means the last
    // run did not stop cleanly, and usage may lag behind the files.
    let marker = opts.data_dir.join(".wharfd.running");
    if marker.exists() {
        tracing::warn!("the last run did not stop cleanly; recounting usage from disk");
        for a in &accounts {
            let home = a.home.clone().unwrap_or_else(|| opts.default_home(&a.name));
            match crate::storage::recount_home(&opts.storage, &store, &a.name, &home).await {
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
    std::fs::write(&marker, std::process::id().to_string())
        .with_context(|| format!("cannot write {}", marker.display()))?;

    let mut listeners = Vec::new();
    let plain = cfg.listen.iter().map(|a| (a, false));
    let implicit = cfg.implicit_listen.iter().map(|a| (a, true));
    for (addr, implicit) in plain.chain(implicit) {
        let socket = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (in use by another server? choose another address)")
        })?;
        listeners.push(if implicit {
            Listener::implicit_tls(socket)
        } else {
            Listener::plain(socket)
        });
    }
    let data_dir = opts.data_dir.clone();
    let registration = opts.registration;
    let tls = match &opts.tls {
        Some(t) if t.require_login => "required",
        Some(_) => "offered",
        None => "off",
    };
    let anonymous = opts.anonymous.then(|| opts.anon_root.display().to_string());
    let storage = opts.storage.describe();
    let server = Server::new(opts, Arc::new(store.clone())).map_err(anyhow::Error::msg)?;
    for l in &listeners {
        if l.is_implicit_tls() {
            tracing::info!("listening on {} (implicit FTPS)", l.local_addr()?);
        } else {
            tracing::info!("listening on {}", l.local_addr()?);
        }
    }
    tracing::info!(
        data = %data_dir.display(),
        accounts = %store.describe(),
        storage = %storage,
        anonymous = anonymous.as_deref().unwrap_or("off"),
        registration = %registration,
        tls,
        "wharfd ready"
    );
    if accounts.is_empty() {
        tracing::info!(
            "no accounts yet; add one with: wharfd users add NAME --data {}",
            data_dir.display()
        );
    }
    let metrics = match cfg.metrics_listen {
        Some(addr) => {
            let socket = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?;
            tracing::info!("metrics on http://{}/metrics", socket.local_addr()?);
            Some(tokio::spawn(ftp_server::metrics::serve(
                socket,
                server.metrics(),
            )))
        }
        None => None,
    };
    server.run(listeners, shutdown_signal()).await?;
    if let Some(task) = metrics {
        task.abort();
    }
    let _ = std::fs::remove_file(&marker);
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

fn init_logging(filter: &str) -> Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("bad log filter {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    tracing::info!("stop signal received");
}
