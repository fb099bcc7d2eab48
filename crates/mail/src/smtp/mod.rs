//! SMTP: [`proto`] holds the grammar without I/O, [`client`] the session.

pub mod client;
pub mod proto;

pub use client::SmtpClient;
pub use proto::{Extensions, MailOptions, Notify, RcptOptions, Ret};
