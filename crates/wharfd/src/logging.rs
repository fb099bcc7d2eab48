//! Where `wharfd serve` logs: standard error, as text or as JSON lines
//! (`--log-format`). Under systemd, when standard error is the journal
//! (systemd names it in `$JOURNAL_STREAM` as `DEVICE:INODE`), text goes to
//! the journal natively instead ([`crate::journal`]: a priority and a
//! journal field per event field), or, when journald's socket cannot be
//! reached, to standard error with the syslog priority in front (`<3>`
//! error … `<7>` debug, which journald reads) and no timestamp or colour
//! (the journal records its own time).

use crate::config::LogFormat;
use crate::journal::{priority, JournalLayer};
use anyhow::{Context, Result};
use std::fmt;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(filter: &str, format: LogFormat) -> Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("bad log filter {filter:?}"))?;
    let journal = format == LogFormat::Text && stderr_is_journal();
    if journal {
        if let Ok(native) = JournalLayer::connect() {
            tracing_subscriber::registry()
                .with(filter)
                .with(native)
                .init();
            return Ok(());
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Text if journal => builder
            .with_ansi(false)
            .event_format(Prefixed(
                format::Format::default()
                    .without_time()
                    .with_target(false)
                    .with_level(false),
            ))
            .init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    Ok(())
}

/// Whether `$JOURNAL_STREAM` names the file standard error is.
fn stderr_is_journal() -> bool {
    let Ok(named) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    named == format!("{}:{}", meta.dev(), meta.ino())
}

/// A text format with the syslog priority in front, as journald reads it.
struct Prefixed<F>(F);

impl<S, N, F> FormatEvent<S, N> for Prefixed<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}
