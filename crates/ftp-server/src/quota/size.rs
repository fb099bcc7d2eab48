//! Sizes as people write them: `500M`, `2G`, `1.5T`, `10240`, `none`.
//! Units are binary (K = 1024), as `du -h` and most quota tools use them.

const UNITS: [(&str, u64); 5] = [
    ("K", 1 << 10),
    ("M", 1 << 20),
    ("G", 1 << 30),
    ("T", 1 << 40),
    ("P", 1 << 50),
];

/// Parses a size; `none` (or `unlimited`) gives `None`.
pub fn parse_size(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let upper = t.to_ascii_uppercase();
    let upper = upper.trim_end_matches("IB").trim_end_matches('B');
    let (number, scale) = match UNITS.iter().find(|(u, _)| upper.ends_with(u)) {
        Some((u, scale)) => (&upper[..upper.len() - u.len()], *scale),
        None => (upper, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size; write it like 500M, 2G or none"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "{text:?} is not a size; write it like 500M, 2G or none"
        ));
    }
    let bytes = value * scale as f64;
    if bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(Some(bytes.round() as u64))
}

/// Formats bytes for people: `1.5 MiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    let mut unit = "B";
    let mut scale = 1u64;
    for (u, s) in UNITS {
        if bytes >= s {
            unit = u;
            scale = s;
        }
    }
    if scale == 1 {
        format!("{bytes} B")
    } else {
        format!("{:.1} {unit}iB", bytes as f64 / scale as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(parse_size("500M"), Ok(Some(500 << 20)));
        assert_eq!(parse_size("2g"), Ok(Some(2 << 30)));
        assert_eq!(parse_size("1.5K"), Ok(Some(1536)));
        assert_eq!(parse_size("10MiB"), Ok(Some(10 << 20)));
        assert_eq!(parse_size("100"), Ok(Some(100)));
        assert_eq!(parse_size("100B"), Ok(Some(100)));
        assert_eq!(parse_size("none"), Ok(None));
        assert!(parse_size("-5M").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999P").is_err());
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(5 << 30), "5.0 GiB");
    }
}
