//! The stored form of a [`Policy`]: one setting per line, `key value`, in
//! the account store's `policy` column. An empty text is an account with
//! nothing of its own. Reading is strict: an unknown key or a bad value is
//! an error, and a login whose policy cannot be read is refused (fail
//! closed), never treated as "no rules".
//!
//! ```text
//! permissions list,download,upload
//! path upload-only /incoming
//! mount team /shared/team
//! max-sessions 2
//! upload-rate 102400
//! download-rate 102400
//! max-file-size 1048576
//! protocols ftps
//! expires 2027-01-31
//! allow-from 10.0.0.0/8
//! deny-from 10.0.0.13/32
//! deny-commands SITE,MFMT
//! ```

use super::{Date, PermSet, Policy, PolicyError, Protocol};
use crate::proxy::Cidr;
use ftp_proto::VirtualPath;
use std::fmt::Write as _;

impl Policy {
    /// The stored text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |key: &str, value: &dyn std::fmt::Display| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{key} {value}");
        };
        if let Some(set) = self.permissions {
            line("permissions", &set);
        }
        for rule in &self.paths {
            line("path", &format_args!("{} {}", rule.perms, rule.path));
        }
        for m in &self.mounts {
            line("mount", &format_args!("{} {}", m.folder, m.at));
        }
        let l = &self.limits;
        if let Some(n) = l.max_sessions {
            line("max-sessions", &n);
        }
        if let Some(n) = l.upload_rate {
            line("upload-rate", &n);
        }
        if let Some(n) = l.download_rate {
            line("download-rate", &n);
        }
        if let Some(n) = l.max_file_size {
            line("max-file-size", &n);
        }
        if let Some(list) = &l.protocols {
            let names: Vec<&str> = list.iter().map(|p| p.name()).collect();
            line("protocols", &names.join(","));
        }
        if let Some(date) = l.expires {
            line("expires", &date);
        }
        for c in &l.networks.allow {
            line("allow-from", c);
        }
        for c in &l.networks.deny {
            line("deny-from", c);
        }
        match l.denied_commands.as_deref() {
            Some([]) => line("deny-commands", &"none"),
            Some(list) => line("deny-commands", &list.join(",")),
            None => {}
        }
        out
    }

    /// Reads the stored text.
    pub fn from_text(text: &str) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        for raw in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = raw
                .trim()
                .split_once(' ')
                .ok_or_else(|| PolicyError::BadLine(raw.to_string()))?;
            let l = &mut p.limits;
            match key {
                "permissions" => p.permissions = Some(PermSet::parse(value)?),
                "path" => {
                    let (perms, path) = value
                        .split_once(' ')
                        .ok_or_else(|| PolicyError::BadLine(raw.to_string()))?;
                    p.set_path(parse_path(path)?, Some(PermSet::parse(perms)?));
                }
                "mount" => {
                    let (folder, at) = value
                        .split_once(' ')
                        .ok_or_else(|| PolicyError::BadLine(raw.to_string()))?;
                    p.set_mount(parse_path(at)?, Some(folder.to_string()))?;
                }
                "max-sessions" => l.max_sessions = Some(number(value)?),
                "upload-rate" => l.upload_rate = Some(number(value)?),
                "download-rate" => l.download_rate = Some(number(value)?),
                "max-file-size" => l.max_file_size = Some(number(value)?),
                "protocols" => l.protocols = Some(Protocol::parse_list(value)?),
                "expires" => l.expires = Some(Date::parse(value)?),
                "allow-from" => l.networks.allow.push(network(value)?),
                "deny-from" => l.networks.deny.push(network(value)?),
                "deny-commands" => l.denied_commands = Some(super::parse_commands(value)?),
                _ => return Err(PolicyError::BadLine(raw.to_string())),
            }
        }
        Ok(p)
    }
}

/// A virtual path as an operator writes it: absolute, one line.
pub fn parse_path(text: &str) -> Result<VirtualPath, PolicyError> {
    let bad = || PolicyError::BadPath(text.to_string());
    if !text.starts_with('/') || text.contains(['\n', '\r']) {
        return Err(bad());
    }
    VirtualPath::root().join(text.as_bytes()).map_err(|_| bad())
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, PolicyError> {
    text.trim()
        .parse()
        .map_err(|_| PolicyError::BadNumber(text.to_string()))
}

fn network(text: &str) -> Result<Cidr, PolicyError> {
    text.parse().map_err(PolicyError::BadNetwork)
}

/// Parses `10.0.0.0/8,127.0.0.1` (an empty text is an empty list).
pub fn parse_networks(text: &str) -> Result<Vec<Cidr>, PolicyError> {
    text.split(',')
        .filter(|w| !w.trim().is_empty())
        .map(network)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_setting() {
        let mut p = Policy {
            permissions: Some(PermSet::parse("list,download,upload").unwrap()),
            ..Policy::default()
        };
        p.set_path(parse_path("/in box").unwrap(), Some(PermSet::UPLOAD_ONLY));
        p.set_path(parse_path("/archive/").unwrap(), Some(PermSet::READ_ONLY));
        p.set_mount(parse_path("/shared/team").unwrap(), Some("team".into()))
            .unwrap();
        let l = &mut p.limits;
        l.max_sessions = Some(2);
        l.upload_rate = Some(100);
        l.download_rate = Some(200);
        l.max_file_size = Some(300);
        l.protocols = Some(vec![Protocol::Ftps]);
        l.expires = Some(Date::parse("2027-01-31").unwrap());
        l.networks.allow = parse_networks("10.0.0.0/8,127.0.0.1").unwrap();
        l.networks.deny = parse_networks("10.0.0.13").unwrap();
        l.denied_commands = Some(vec!["SITE".into(), "DELE".into()]);
        let text = p.to_text();
        assert!(text.contains("path upload /in box\n"), "{text}");
        assert!(text.contains("path list,download /archive\n"), "{text}");
        let back = Policy::from_text(&text).unwrap();
        assert_eq!(back, p);
        assert_eq!(Policy::from_text("").unwrap(), Policy::default());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "permissions write",
            "max-sessions lots",
            "expires tomorrow",
            "allow-from 300.1.1.1",
            "path all relative",
            "colour blue",
            "permissions",
            "mount team",
            "mount team /",
        ] {
            assert!(Policy::from_text(bad).is_err(), "{bad}");
        }
        assert!(parse_path("/a\nb").is_err());
    }
}
