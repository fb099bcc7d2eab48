//! An async FTP and FTPS client: everything Python's `ftplib.FTP` offers,
//! plus MLSD/MLST with parsed facts, resumed transfers, active mode and
//! TLS data connections that resume the control connection's session.
//!
//! File names are bytes throughout, so names that are not UTF-8 can be
//! listed, fetched and stored. Everything a server sends is bounded: reply
//! lines and replies (8 KiB, 1000 lines, 64 KiB), listings (64 MiB by
//! default). A hostile server cannot make the client connect anywhere but
//! back to it.
//!
//! # Layout
//! - [`client`]: [`FtpClient`]: connecting, TLS, login, commands.
//! - [`data`]: data connections, transfers and listings.
//! - [`options`]: [`ClientOptions`], how to connect.
//! - [`url`]: `ftp://` and `ftps://` URLs.
//! - [`netrc`]: credentials from `~/.netrc`.
//! - [`error`]: [`FtpError`], with the server's reply code.
//!
//! ```no_run
//! # async fn demo() -> ftp_client::Result<()> {
//! use ftp_client::{ClientOptions, FtpClient};
//! let mut ftp = FtpClient::connect("127.0.0.1", 2121, ClientOptions::default()).await?;
//! ftp.login("anonymous", "guest@").await?;
//! let mut out = Vec::new();
//! ftp.retrieve(b"readme.txt", 0, &mut out, &mut |_| {}).await?;
//! ftp.quit().await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod data;
pub mod error;
pub mod netrc;
pub mod options;
pub mod url;

pub use client::FtpClient;
pub use data::StoreMode;
pub use error::{FtpError, Result};
pub use options::{ClientOptions, Direction, TlsPolicy};
pub use url::FtpUrl;
pub use wire::error::{Classify, ClientError, Failure};
