//! The SSH side of an SFTP connection (russh): the server's SSH settings,
//! public-key, password and keyboard-interactive (one password prompt)
//! authentication through the same
//! [`Authenticator`], lockouts,
//! account limits and per-account session caps as FTP (protocol `sftp`),
//! and the channels: a session channel may start the `sftp` subsystem
//! (which `scp` uses too since OpenSSH 9); shells, commands, terminals and
//! forwarding are refused.
//!
//! [`Authenticator`]: crate::accounts::Authenticator

use crate::accounts::{Account, LoginError};
use crate::admission::{admit, Admitted};
use crate::events::{Event, EventKind};
use crate::limits::Slot;
use crate::listener::Shared;
use crate::metrics::Metrics;
use crate::policy::Protocol;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Session channels one connection may open (OpenSSH's `sftp` opens one).
const MAX_CHANNELS: usize = 4;

/// How long a connection may take to log in.
const LOGIN_WITHIN: Duration = Duration::from_secs(60);

/// The ways a client may log in: public key, password, and
/// keyboard-interactive (one password prompt).
fn methods() -> MethodSet {
    MethodSet::from(
        &[
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ][..],
    )
}

/// A refused attempt that leaves every method open, so a client may try
/// again as OpenSSH's password prompts do (russh would otherwise drop the
/// method after one failure); the attempts stay bounded by
/// `max_login_failures` and the lockouts.
fn refused() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(methods()),
        partial_success: false,
    }
}

/// The SSH server settings for `host_keys`, with the server's limits.
pub fn config(
    host_keys: Vec<russh::keys::PrivateKey>,
    opts: &crate::options::ServerOptions,
) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-Wharf_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: methods(),
        auth_rejection_time: opts.login_fail_delay,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: host_keys,
        max_auth_attempts: opts.max_login_failures as usize,
        inactivity_timeout: Some(opts.idle_timeout),
        keepalive_interval: Some(Duration::from_secs(60)),
        // Twice OpenSSH sshd's window (adjustments go out at half). Not
        // more: OpenSSH's client fills whatever window it is given from
        // its own buffers, which it grows and shrinks packet by packet; an
        // upload with 16 MiB cost it 2.9 CPU-s per GiB instead of 1.4 and
        // 570,000 page faults instead of 12,000.
        window_size: 4 * 1024 * 1024,
        maximum_packet_size: 64 * 1024,
        ..Default::default()
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve(
    shared: Arc<Shared>,
    config: Arc<russh::server::Config>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Small replies (a STATUS per WRITE) must not wait for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let logged_in = Arc::new(AtomicBool::new(false));
    let stop = tokio_util::sync::CancellationToken::new();
    let handler = Connection {
        shared,
        peer,
        admitted: None,
        _slot: None,
        stop: stop.clone(),
        live: None,
        channels: HashMap::new(),
        logged_in: logged_in.clone(),
    };
    let running = match russh::server::run_stream(config, stream, handler).await {
        Ok(running) => running,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "SSH connection ended before its handshake");
            return;
        }
    };
    let handle = running.handle();
    let deadline = tokio::spawn(async move {
        tokio::time::sleep(LOGIN_WITHIN).await;
        if !logged_in.load(Ordering::SeqCst) {
            tracing::info!(%peer, "SSH connection closed: no login within {LOGIN_WITHIN:?}");
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "no login in time".into(),
                    "en".into(),
                )
                .await;
        }
    });
    let handle = running.handle();
    let operator = tokio::spawn(async move {
        stop.cancelled().await;
        tracing::info!(%peer, "SSH connection closed: disconnected by an operator");
        let _ = handle
            .disconnect(
                russh::Disconnect::ByApplication,
                "disconnected by the server's operator".into(),
                "en".into(),
            )
            .await;
    });
    match running.await {
        Ok(()) => tracing::debug!(%peer, "SSH connection closed"),
        Err(e) => tracing::debug!(%peer, error = %e, "SSH connection ended"),
    }
    deadline.abort();
    operator.abort();
}

/// One SSH connection's state.
struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    admitted: Option<Admitted>,
    /// The account's session slot, held while the connection lives.
    _slot: Option<Slot>,
    /// Cancelled when an operator disconnects this connection.
    stop: tokio_util::sync::CancellationToken,
    /// Its entry among the live sessions, once logged in.
    live: Option<Arc<crate::live::Registration>>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Set at login; the login deadline reads it.
    logged_in: Arc<AtomicBool>,
}

impl Connection {
    /// Whether a login for `user` may be tried now: not after one
    /// succeeded, not while locked out.
    fn may_try(&self, user: &str) -> bool {
        if self.admitted.is_some() {
            return false;
        }
        if self
            .shared
            .throttle
            .locked(self.peer.ip(), user.as_bytes())
            .is_some()
        {
            tracing::warn!(peer = %self.peer, user, protocol = "sftp", "login refused: locked out");
            self.shared.events.emit(
                Event::new(EventKind::LoginLocked)
                    .account(user)
                    .client(self.peer.ip())
                    .protocol("sftp"),
            );
            return false;
        }
        true
    }

    /// Admits the account whose credentials were `checked`, as FTP does.
    async fn log_in(&mut self, user: &str, checked: Result<Account, LoginError>) -> Auth {
        let (peer, shared) = (self.peer, self.shared.clone());
        let admitted = match checked {
            Ok(account) => admit(&shared, account, peer, Protocol::Sftp).await,
            Err(e) => Err(e),
        };
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(LoginError::Store(e)) => {
                tracing::error!(error = %e, "account store failed during login");
                return refused();
            }
            Err(e) => return self.failed(user, e).await,
        };
        let Some(slot) = shared.user_sessions.try_acquire(
            admitted.user.clone(),
            usize::MAX,
            admitted.max_sessions,
        ) else {
            tracing::warn!(%peer, user, protocol = "sftp", limit = admitted.max_sessions, "login refused: too many sessions for the account");
            return refused();
        };
        shared.throttle.succeeded(peer.ip(), user.as_bytes());
        Metrics::inc(&shared.metrics.logins_ok);
        tracing::info!(%peer, user = %admitted.user, protocol = "sftp", "login");
        shared.events.emit(
            Event::new(EventKind::LoginOk)
                .account(&admitted.user)
                .client(peer.ip())
                .protocol("sftp"),
        );
        self._slot = Some(slot);
        self.live = Some(Arc::new(shared.live.register(
            &admitted.user,
            peer,
            Protocol::Sftp.name(),
            true,
            self.stop.clone(),
        )));
        self.admitted = Some(admitted);
        self.logged_in.store(true, Ordering::SeqCst);
        Auth::Accept
    }

    async fn failed(&mut self, name: &str, err: LoginError) -> Auth {
        let (peer, shared) = (self.peer, &self.shared);
        Metrics::inc(&shared.metrics.logins_failed);
        shared.events.emit(
            Event::new(EventKind::LoginFailed)
                .account(name)
                .client(peer.ip())
                .protocol("sftp")
                .failed(&err),
        );
        shared.login_failed(peer.ip(), name.as_bytes());
        match &err {
            LoginError::Refused(reason) => {
                tracing::warn!(%peer, user = name, %reason, protocol = "sftp", "login refused by the account's limits")
            }
            LoginError::Pending => {
                tracing::info!(%peer, user = name, protocol = "sftp", "login refused: account not approved yet")
            }
            _ => tracing::info!(%peer, user = name, protocol = "sftp", "login failed"),
        }
        refused()
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if !self.may_try(user) {
            return Ok(refused());
        }
        let checked = self
            .shared
            .auth
            .authenticate(user.as_bytes(), password.as_bytes())
            .await;
        Ok(self.log_in(user, checked).await)
    }

    /// The password asked as one prompt, for clients that only offer
    /// keyboard-interactive (it is checked as a password).
    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut answers) = response else {
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            });
        };
        let password = answers.next().unwrap_or_default();
        self.auth_password(user, &String::from_utf8_lossy(&password))
            .await
    }

    /// Spares the client a signature with a key the account does not have.
    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.shared.auth.has_key(user, offer.public_key).await {
            Ok(true) => Ok(Auth::Accept),
            _ => Ok(refused()),
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if !self.may_try(user) {
            return Ok(refused());
        }
        let checked = self
            .shared
            .auth
            .authenticate_key(user, key.public_key)
            .await;
        Ok(self.log_in(user, checked).await)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.admitted.is_none() || self.channels.len() >= MAX_CHANNELS {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let files = self.admitted.as_ref().map(|a| a.files.clone());
        let bandwidth = self.shared.bandwidth.clone();
        let live = self.live.clone();
        match (name, files, self.channels.remove(&channel)) {
            ("sftp", Some(files), Some(open)) => {
                session.channel_success(channel)?;
                let handle = session.handle();
                tokio::spawn(async move {
                    super::session::serve(open, files, bandwidth, live).await;
                    // OpenSSH's scp and sftp want an exit status before the
                    // channel closes, or they report failure.
                    let _ = handle.exit_status_request(channel, 0).await;
                    let _ = handle.eof(channel).await;
                    let _ = handle.close(channel).await;
                });
            }
            (_, _, open) => {
                tracing::info!(peer = %self.peer, subsystem = name, "SSH subsystem refused");
                if let Some(open) = open {
                    self.channels.insert(channel, open);
                }
                session.channel_failure(channel)?;
            }
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse(channel, "command execution", session)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse(channel, "shell", session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse(channel, "terminal", session)
    }
}

impl Connection {
    fn refuse(
        &self,
        channel: ChannelId,
        what: &str,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        tracing::info!(peer = %self.peer, what, "SSH request refused: this server only serves SFTP");
        session.channel_failure(channel)
    }
}
