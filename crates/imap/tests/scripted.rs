//! The client's command flow against a scripted server on 127.0.0.1:
//! synchronising literals, the MOVE fallback, refusals, LOGINDISABLED,
//! literal limits and streaming. (The interop tests of record run against
//! dovecot in tests/mail; these cover what dovecot never does.)

#![allow(clippy::unwrap_used)]

use imap::{By, Classify, ImapClient, ImapError, ImapOptions};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves one connection: sends `greeting`, then for each step reads a
/// line, checks it, and sends the reply. Returns the lines it read.
async fn serve(
    greeting: &str,
    steps: Vec<(&'static str, String)>,
) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let greeting = greeting.to_string();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(greeting.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        for (expect, reply) in steps {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            let line = line.trim_end().to_string();
            assert!(
                line.starts_with(expect),
                "expected {expect:?}, got {line:?}"
            );
            seen.push(line);
            w.write_all(reply.as_bytes()).await.unwrap();
        }
        seen
    });
    (port, task)
}

fn opts() -> ImapOptions {
    ImapOptions {
        timeout: Duration::from_secs(5),
        ..ImapOptions::default()
    }
}

const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n";

#[tokio::test]
async fn synchronising_literal_waits_for_the_go_ahead() {
    let (port, server) = serve(
        GREETING,
        vec![
            ("W0001 APPEND Drafts (\\Seen) {5}", "+ go on\r\n".into()),
            ("hello", "W0001 OK [APPENDUID 7 42] done\r\n".into()),
        ],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let uid = c
        .append("Drafts", &["\\Seen"], b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(uid, Some(42));
    server.await.unwrap();
}

#[tokio::test]
async fn refused_literal_keeps_the_servers_text() {
    let (port, server) = serve(
        GREETING,
        vec![(
            "W0001 APPEND INBOX {3}",
            "W0001 NO [OVERQUOTA] Quota exceeded\r\n".into(),
        )],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let err = c.append("INBOX", &[], b"abc".to_vec()).await.unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code.as_deref(), Some("OVERQUOTA"));
    assert_eq!(status.text, "Quota exceeded");
    assert!(err.is_permanent());
    assert_eq!(
        err.to_string(),
        "server refused: [OVERQUOTA] Quota exceeded"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn move_without_move_is_copy_store_uid_expunge() {
    let (port, server) = serve(
        GREETING,
        vec![
            ("W0001 UID COPY 3:4 Archive", "W0001 OK copied\r\n".into()),
            (
                "W0002 UID STORE 3:4 +FLAGS.SILENT (\\Deleted)",
                "W0002 OK stored\r\n".into(),
            ),
            (
                "W0003 UID EXPUNGE 3:4",
                "* 3 EXPUNGE\r\nW0003 OK gone\r\n".into(),
            ),
        ],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    c.move_to(By::Uid, "3:4", "Archive").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn logindisabled_sends_no_password() {
    let (port, server) = serve(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED STARTTLS] ready\r\n",
        vec![],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let err = c.login("bob", "secret").await.unwrap_err();
    assert!(matches!(err, ImapError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("--tls"));
    server.await.unwrap();
}

#[tokio::test]
async fn login_refusal_is_typed() {
    let (port, server) = serve(
        GREETING,
        vec![(
            "W0001 LOGIN bob \"p w\"",
            "W0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into(),
        )],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let err = c.login("bob", "p w").await.unwrap_err();
    assert!(
        matches!(err, ImapError::Wire(imap::ClientError::AuthRefused { .. })),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn literal_over_the_limit_is_refused_before_reading() {
    let (port, server) = serve(
        GREETING,
        vec![(
            "W0001 UID FETCH 1 (UID ENVELOPE)",
            "* 1 FETCH (UID 1 ENVELOPE (NIL {2000}\r\n".into(),
        )],
    )
    .await;
    let mut o = opts();
    o.max_literal = 1000;
    let mut c = ImapClient::connect("127.0.0.1", port, o).await.unwrap();
    let err = c.fetch(By::Uid, "1", "(UID ENVELOPE)").await.unwrap_err();
    assert!(
        matches!(
            err,
            ImapError::LiteralTooLarge {
                size: 2000,
                limit: 1000
            }
        ),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn body_section_streams_and_other_literals_are_held() {
    let body = "x".repeat(200_000);
    let (port, server) = serve(
        GREETING,
        vec![(
            "W0001 UID FETCH 9 (UID BODY.PEEK[]<0.200000>)",
            format!(
                "* 1 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (UID 9 BODY[]<0> {{{}}}\r\n{body})\r\nW0001 OK done\r\n",
                body.len()
            ),
        )],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let mut out = Vec::new();
    let n = c
        .fetch_section_to(By::Uid, 9, "", Some((0, 200_000)), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 200_000);
    assert_eq!(out, body.as_bytes());
    server.await.unwrap();
}

#[tokio::test]
async fn a_missing_message_is_an_error_not_empty_output() {
    let (port, server) = serve(
        GREETING,
        vec![(
            "W0001 UID FETCH 5 (UID BODY.PEEK[TEXT])",
            "W0001 OK nothing\r\n".into(),
        )],
    )
    .await;
    let mut c = ImapClient::connect("127.0.0.1", port, opts())
        .await
        .unwrap();
    let mut out = Vec::new();
    let err = c
        .fetch_section_to(By::Uid, 5, "TEXT", None, &mut out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no message with UID 5"), "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn endless_untagged_data_is_bounded() {
    let flood = "* OK still talking\r\n".repeat(200);
    let (port, server) = serve(GREETING, vec![("W0001 NOOP", flood)]).await;
    let mut o = opts();
    o.max_literal = 1000;
    let mut c = ImapClient::connect("127.0.0.1", port, o).await.unwrap();
    let err = c.noop().await.unwrap_err();
    assert!(matches!(err, ImapError::ResponseTooLarge(1000)), "{err}");
    server.await.unwrap();
}
