//! Who may log in from where, over what and until when: the checks an
//! account's limits make at login, and the network rules (allow and deny
//! lists of address blocks) that the server applies to every connection
//! and an account to its own logins. Each refusal names its reason, for
//! the reply and the log.

use super::{Date, Limits, PolicyError};
use crate::proxy::Cidr;
use std::fmt;
use std::net::IpAddr;

/// A front-end an account can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// FTP without TLS.
    Ftp,
    /// FTP over TLS (AUTH TLS or implicit).
    Ftps,
    /// SFTP over SSH.
    Sftp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Ftp, Protocol::Ftps, Protocol::Sftp];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Ftps => "ftps",
            Protocol::Sftp => "sftp",
        }
    }

    pub fn parse(text: &str) -> Result<Protocol, PolicyError> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == text.trim())
            .ok_or_else(|| PolicyError::UnknownProtocol(text.trim().to_string()))
    }

    /// Parses `ftp,ftps`.
    pub fn parse_list(text: &str) -> Result<Vec<Protocol>, PolicyError> {
        let mut list = Vec::new();
        for word in text.split(',').filter(|w| !w.trim().is_empty()) {
            let p = Protocol::parse(word)?;
            if !list.contains(&p) {
                list.push(p);
            }
        }
        if list.is_empty() {
            return Err(PolicyError::UnknownProtocol(text.to_string()));
        }
        Ok(list)
    }
}

/// Allow and deny lists of address blocks. A deny entry always wins; a
/// non-empty allow list admits only the addresses in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetRules {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl NetRules {
    pub fn permits(&self, ip: IpAddr) -> bool {
        let listed = |list: &[Cidr]| list.iter().any(|c| c.contains(ip));
        !listed(&self.deny) && (self.allow.is_empty() || listed(&self.allow))
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// Why a login with the right password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Expired(Date),
    Protocol {
        used: Protocol,
        allowed: Vec<Protocol>,
    },
    Network(IpAddr),
    /// The operator's pre-login check said no, for this reason.
    Check(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Expired(date) => write!(f, "Login refused: this account expired on {date}."),
            Refusal::Protocol { used, allowed } => {
                let names: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
                let hint = if allowed.contains(&Protocol::Ftps) && *used == Protocol::Ftp {
                    " (send AUTH TLS first)"
                } else {
                    ""
                };
                write!(
                    f,
                    "Login refused: this account may not log in over {}; it may use only {}{hint}.",
                    used.name(),
                    names.join(", ")
                )
            }
            Refusal::Network(ip) => {
                write!(f, "Login refused: this account may not log in from {ip}.")
            }
            Refusal::Check(reason) => write!(f, "Login refused: {reason}"),
        }
    }
}

/// The login checks of an account's limits.
pub fn check_login(
    limits: &Limits,
    ip: IpAddr,
    protocol: Protocol,
    now_unix: i64,
) -> Result<(), Refusal> {
    if let Some(date) = limits.expires.filter(|d| d.is_past(now_unix)) {
        return Err(Refusal::Expired(date));
    }
    if let Some(allowed) = limits.protocols.as_ref().filter(|a| !a.contains(&protocol)) {
        return Err(Refusal::Protocol {
            used: protocol,
            allowed: allowed.clone(),
        });
    }
    if !limits.networks.permits(ip) {
        return Err(Refusal::Network(ip.to_canonical()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn deny_wins_and_a_nonempty_allow_list_admits_only_its_own() {
        let open = NetRules::default();
        assert!(open.permits(ip("203.0.113.9")));
        let rules = NetRules {
            allow: cidrs(&["127.0.0.0/8", "10.0.0.0/8"]),
            deny: cidrs(&["127.0.0.2"]),
        };
        assert!(rules.permits(ip("127.0.0.1")));
        assert!(!rules.permits(ip("127.0.0.2")));
        assert!(rules.permits(ip("10.9.8.7")));
        assert!(!rules.permits(ip("192.168.1.1")));
        // IPv4-mapped IPv6 counts as IPv4.
        assert!(!rules.permits(ip("::ffff:127.0.0.2")));
        assert!(rules.permits(ip("::ffff:127.0.0.1")));
        let only_deny = NetRules {
            allow: vec![],
            deny: cidrs(&["192.168.0.0/16"]),
        };
        assert!(only_deny.permits(ip("192.169.0.1")));
        assert!(!only_deny.permits(ip("192.168.200.1")));
    }

    #[test]
    fn login_checks_name_their_reason() {
        let mut limits = Limits::default();
        let now = 1_900_000_000;
        assert!(check_login(&limits, ip("127.0.0.1"), Protocol::Ftp, now).is_ok());
        limits.protocols = Some(vec![Protocol::Ftps]);
        let refusal = check_login(&limits, ip("127.0.0.1"), Protocol::Ftp, now).unwrap_err();
        assert!(refusal.to_string().contains("AUTH TLS"), "{refusal}");
        assert!(check_login(&limits, ip("127.0.0.1"), Protocol::Ftps, now).is_ok());
        limits.networks.deny = cidrs(&["127.0.0.2/32"]);
        assert_eq!(
            check_login(&limits, ip("127.0.0.2"), Protocol::Ftps, now),
            Err(Refusal::Network(ip("127.0.0.2")))
        );
        limits.expires = Some(Date::parse("2020-01-01").unwrap());
        let refusal = check_login(&limits, ip("127.0.0.1"), Protocol::Ftps, now).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "Login refused: this account expired on 2020-01-01."
        );
        assert_eq!(Protocol::parse_list("ftps, ftp,ftps").unwrap().len(), 2);
        assert_eq!(Protocol::parse_list("sftp").unwrap(), vec![Protocol::Sftp]);
        assert!(Protocol::parse_list("ssh").is_err());
    }
}
