//! IDLE (RFC 2177): waiting for the server to report changes to the
//! selected mailbox. A session idles at most [`MAX_IDLE`] at a time, well
//! under the 30 minutes after which servers may drop an idle client
//! (RFC 2177 asks clients to re-issue IDLE at least every 29 minutes).

use crate::client::ImapClient;
use crate::command::Command;
use crate::error::{ImapError, Result};
use crate::response::{Response, Status, Untagged};
use std::time::Duration;
use tokio::time::Instant;
use wire::ClientError;

/// Longest single IDLE before it is ended and issued again.
pub const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

impl ImapClient {
    /// Idles until `until` (capped at [`MAX_IDLE`] from now) or until
    /// `stop` returns true for a piece of untagged data, then ends the
    /// IDLE with DONE. Returns everything the server reported.
    pub async fn idle(
        &mut self,
        until: Instant,
        mut stop: impl FnMut(&Untagged) -> bool,
    ) -> Result<Vec<Untagged>> {
        if !self.has_capability("IDLE") {
            return Err(ImapError::Unsupported(
                "the server does not offer IDLE".into(),
            ));
        }
        let until = until.min(Instant::now() + MAX_IDLE);
        let tag = self.send(&Command::new("IDLE")).await?;
        self.wait_continue(&tag).await?;
        let mut seen = Vec::new();
        loop {
            match self.read_response_until(until).await? {
                None => break,
                Some(Response::Untagged(u)) => {
                    if let Untagged::Status(st) = &u {
                        if st.status == Status::Bye {
                            return Err(ImapError::Bye(st.text.clone()));
                        }
                    }
                    let done = stop(&u);
                    seen.push(u);
                    if done {
                        break;
                    }
                }
                Some(other) => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected response during IDLE: {other:?}"
                    ))
                    .into())
                }
            }
        }
        self.send_done().await?;
        let done = self.finish(&tag).await?;
        seen.extend(done.untagged);
        Ok(seen)
    }
}
