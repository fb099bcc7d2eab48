//! [`ClientOptions`]: how a client connects and moves data.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wire::rate::TokenBucket;

pub use wire::{Direction, TlsPolicy, Transcript};

/// Client settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Connect, reply and data-connection timeout.
    pub timeout: Duration,
    pub tls: TlsPolicy,
    /// Trust only the certificates in this PEM file instead of the
    /// system's roots.
    pub cacert: Option<PathBuf>,
    /// Offer TLS 1.3 (TLS 1.2 only by default; see [`wire::tls`]).
    pub tls13: bool,
    /// Active mode (EPRT, then PORT): the server connects to us.
    pub active: bool,
    /// Largest listing (LIST, NLST, MLSD) accepted, in bytes.
    pub max_listing: usize,
    /// Where to show the dialogue (`--verbose`).
    pub transcript: Option<Transcript>,
    /// The rate file transfers are held to; share one bucket between
    /// clients to cap them together.
    pub rate_limit: Option<Arc<TokenBucket>>,
    /// Downloads into files reach the disk before they count as done:
    /// writeback starts as bytes arrive and the caller fsyncs at the end.
    /// Off, a download is done once the kernel has its bytes (as curl and
    /// lftp), except that a file too large for the page cache still has
    /// its writeback started early.
    pub durable_downloads: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            tls: TlsPolicy::Plain,
            cacert: None,
            tls13: false,
            active: false,
            max_listing: 64 << 20,
            transcript: None,
            rate_limit: None,
            durable_downloads: false,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("cacert", &self.cacert)
            .field("tls13", &self.tls13)
            .field("active", &self.active)
            .field("max_listing", &self.max_listing)
            .field("transcript", &self.transcript.is_some())
            .field("rate_limit", &self.rate_limit.as_ref().map(|b| b.rate()))
            .field("durable_downloads", &self.durable_downloads)
            .finish()
    }
}
