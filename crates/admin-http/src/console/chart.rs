//! Per-hour bar charts as inline SVG, drawn on the server: no script, no
//! chart library. Each chart is an image with a text alternative that
//! states its figures, and the same figures follow in a table a screen
//! reader (or a curious operator) can open.

use crate::console::html::{esc, table, when};
use ftp_server::accounts::transfers::HourTotals;
use ftp_server::quota::size::format_size;
use std::fmt::Write as _;

/// One stacked series: its name, colour and value per hour.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    value: fn(&HourTotals) -> u64,
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 160;
/// Room under the bars for the hour labels.
const AXIS: u32 = 18;

/// A stacked bar per hour of `series` over `hours`, titled `title`;
/// `show` formats a value for the labels.
fn bars(
    id: &str,
    title: &str,
    hours: &[HourTotals],
    series: &[Series<'_>],
    show: fn(u64) -> String,
) -> String {
    let total = |h: &HourTotals| series.iter().map(|s| (s.value)(h)).sum::<u64>();
    let peak = hours.iter().map(total).max().unwrap_or(0).max(1);
    let sum: u64 = hours.iter().map(total).sum();
    let n = hours.len().max(1) as u32;
    let slot = WIDTH / n;
    let bar = slot.saturating_sub(2).max(1);
    let plot = HEIGHT - AXIS;
    let mut out = String::new();
    let legend: Vec<String> = series
        .iter()
        .map(|s| format!("{} ({})", s.name, s.colour))
        .collect();
    let _ = write!(
        out,
        "<figure><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" \
aria-labelledby=\"{id}-t {id}-d\" preserveAspectRatio=\"none\" style=\"max-height:12rem\">\
<title id=\"{id}-t\">{title}</title><desc id=\"{id}-d\">{} in {} hours, at most {} in one hour; {}.</desc>",
        show(sum),
        hours.len(),
        show(if sum == 0 { 0 } else { peak }),
        esc(&legend.join(", ")),
        title = esc(title),
    );
    for (i, h) in hours.iter().enumerate() {
        let x = i as u32 * slot + 1;
        let mut top = plot;
        for s in series {
            let v = (s.value)(h);
            if v == 0 {
                continue;
            }
            let height = ((v as f64 / peak as f64) * f64::from(plot)).ceil() as u32;
            let height = height.clamp(1, top);
            top -= height;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{top}\" width=\"{bar}\" height=\"{height}\" fill=\"{}\"/>",
                s.colour
            );
        }
        if i % 6 == 0 {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{}\" font-size=\"12\" fill=\"#1a1a1a\">{}</text>",
                HEIGHT - 4,
                hour_label(h.hour)
            );
        }
    }
    out.push_str("</svg><figcaption>");
    for s in series {
        let _ = write!(
            out,
            "<span style=\"color:{c}\">&#9632;</span> {} ",
            esc(s.name),
            c = s.colour
        );
    }
    out.push_str("</figcaption></figure>");
    out
}

/// `HH:00` (UTC) of a Unix hour.
fn hour_label(at: i64) -> String {
    format!("{:02}:00", at.rem_euclid(86400) / 3600)
}

/// The dashboard's two charts — transfers and bytes per hour — and the
/// figures behind them as a table.
pub fn hourly(hours: &[HourTotals]) -> String {
    let mut out = bars(
        "chart-count",
        "Transfers per hour",
        hours,
        &[
            Series {
                name: "uploads",
                colour: "#0b3d60",
                value: |h| h.uploads,
            },
            Series {
                name: "downloads",
                colour: "#3a7d44",
                value: |h| h.downloads,
            },
            Series {
                name: "failed",
                colour: "#9b1c1c",
                value: |h| h.failed,
            },
        ],
        |n| format!("{n} transfers"),
    );
    out.push_str(&bars(
        "chart-bytes",
        "Bytes per hour",
        hours,
        &[
            Series {
                name: "received",
                colour: "#0b3d60",
                value: |h| h.bytes_in,
            },
            Series {
                name: "sent",
                colour: "#3a7d44",
                value: |h| h.bytes_out,
            },
        ],
        format_size,
    ));
    let rows: Vec<Vec<String>> = hours
        .iter()
        .map(|h| {
            vec![
                when(h.hour),
                h.uploads.to_string(),
                h.downloads.to_string(),
                h.failed.to_string(),
                format_size(h.bytes_in),
                format_size(h.bytes_out),
            ]
        })
        .collect();
    out.push_str("<details><summary>The figures per hour</summary>");
    out.push_str(&table(
        &[
            "Hour (UTC)",
            "Uploads",
            "Downloads",
            "Failed",
            "Received",
            "Sent",
        ],
        &rows,
    ));
    out.push_str("</details>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_hour_and_say_their_figures() {
        let hours = [
            HourTotals {
                hour: 0,
                uploads: 2,
                downloads: 2,
                ..HourTotals::default()
            },
            HourTotals {
                hour: 3600,
                uploads: 1,
                ..HourTotals::default()
            },
        ];
        let svg = hourly(&hours);
        // The busiest hour's bars fill the plot; the quieter one's are a
        // quarter of it.
        assert!(svg.contains("height=\"71\""), "{svg}");
        assert!(
            svg.contains("y=\"106\" width=\"358\" height=\"36\""),
            "{svg}"
        );
        assert!(svg.contains("5 transfers in 2 hours, at most 4 transfers in one hour"));
        assert!(svg.contains(
            "1970-01-01 01:00</td><td data-label=\"Uploads\">1</td><td data-label=\"Downloads\">0</td>"
        ));
        assert_eq!(hour_label(3600 * 25), "01:00");
    }

    #[test]
    fn a_quiet_day_draws_no_bars() {
        let hours = [HourTotals::default(); 24];
        let svg = hourly(&hours);
        assert!(!svg.contains("<rect"));
        assert!(svg.contains("0 transfers in 24 hours"));
    }
}
