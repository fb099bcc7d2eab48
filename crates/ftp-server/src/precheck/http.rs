//! A pre-check endpoint: the request's JSON is POSTed (signed as webhooks
//! are, see [`crate::events::signing`], when a secret is configured). A
//! 2xx answer allows; 403 refuses, the first line of its body being the
//! reason; any other answer, or none, is no answer.

use super::{reason, CheckRequest, NoAnswer, Verdict};
use crate::events::signing::{self, Secret};

/// The most of a refusal's body read for its reason.
const MAX_BODY: usize = 4096;

pub async fn ask(
    client: &reqwest::Client,
    url: &url::Url,
    secret: Option<&Secret>,
    request: &CheckRequest,
) -> Result<Verdict, NoAnswer> {
    let body = request.to_json();
    let mut post = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(secret) = secret {
        let now = signing::unix_now();
        post = post
            .header(signing::TIMESTAMP_HEADER, now.to_string())
            .header(signing::SIGNATURE_HEADER, secret.sign(now, body.as_bytes()));
    }
    let mut answer = post
        .body(body)
        .send()
        .await
        .map_err(|e| NoAnswer::Http(e.to_string()))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(Verdict::Allow);
    }
    if status != reqwest::StatusCode::FORBIDDEN {
        return Err(NoAnswer::Status(status.as_u16()));
    }
    let mut text = Vec::new();
    while text.len() < MAX_BODY {
        match answer.chunk().await {
            Ok(Some(chunk)) => text.extend_from_slice(&chunk),
            _ => break,
        }
    }
    text.truncate(MAX_BODY);
    Ok(Verdict::Deny(reason(&String::from_utf8_lossy(&text))))
}
