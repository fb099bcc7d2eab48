//! The host's ephemeral ports: the range the kernel hands out
//! (`net.ipv4.ip_local_port_range`) less the ports an operator reserved
//! (`net.ipv4.ip_local_reserved_ports`). Passive listeners go there when
//! no passive range is configured, chosen by number: asking the kernel
//! for "any port" scans every port it could give, and with thousands of
//! data connections in TIME_WAIT (a mirror of many small files) that scan
//! cost more CPU than the transfers themselves.

use std::ops::RangeInclusive;
use std::sync::OnceLock;

/// The usual range, when the kernel's cannot be read.
const DEFAULT_RANGE: RangeInclusive<u16> = 32768..=60999;

/// The ephemeral range and the reserved ports within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralPorts {
    range: RangeInclusive<u16>,
    reserved: Vec<RangeInclusive<u16>>,
}

impl EphemeralPorts {
    /// This host's, read once from `/proc/sys/net/ipv4`.
    pub fn of_this_host() -> &'static EphemeralPorts {
        static PORTS: OnceLock<EphemeralPorts> = OnceLock::new();
        PORTS.get_or_init(|| {
            let read = |name: &str| {
                std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap_or_default()
            };
            EphemeralPorts::parse(
                &read("ip_local_port_range"),
                &read("ip_local_reserved_ports"),
            )
        })
    }

    /// From the two sysctl texts: `"LOW\tHIGH"` and a comma-separated list
    /// of ports and `LOW-HIGH` ranges. A range that does not parse gives
    /// the usual one; a reserved entry that does not parse is ignored.
    pub fn parse(range: &str, reserved: &str) -> EphemeralPorts {
        let mut bounds = range.split_whitespace().map(str::parse::<u16>);
        let range = match (bounds.next(), bounds.next(), bounds.next()) {
            (Some(Ok(lo)), Some(Ok(hi)), None) if 0 < lo && lo <= hi => lo..=hi,
            _ => DEFAULT_RANGE,
        };
        let reserved = reserved
            .trim()
            .split(',')
            .filter_map(|entry| {
                let (lo, hi) = entry.split_once('-').unwrap_or((entry, entry));
                let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
                (lo <= hi).then_some(lo..=hi)
            })
            .collect();
        EphemeralPorts { range, reserved }
    }

    /// Where the kernel would pick ports.
    pub fn range(&self) -> &RangeInclusive<u16> {
        &self.range
    }

    /// Whether `port` may be taken: in the range and not reserved.
    pub fn allows(&self, port: u16) -> bool {
        self.range.contains(&port) && !self.reserved.iter().any(|r| r.contains(&port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_texts_are_read() {
        let ports = EphemeralPorts::parse("32768\t60999\n", "40000,50000-50010\n");
        assert_eq!(ports.range(), &(32768..=60999));
        assert!(ports.allows(32768) && ports.allows(60999) && ports.allows(40001));
        assert!(!ports.allows(40000) && !ports.allows(50005) && !ports.allows(61000));
        assert!(!ports.allows(1024));
    }

    #[test]
    fn unreadable_texts_give_the_usual_range_and_no_reservations() {
        for bad in ["", "40000", "60000 50000", "a b", "1 2 3", "0 100"] {
            assert_eq!(
                EphemeralPorts::parse(bad, "").range(),
                &DEFAULT_RANGE,
                "{bad:?}"
            );
        }
        let ports = EphemeralPorts::parse("1024 2048", "x,1500-1400,,2000-y, 1100");
        assert!(ports.allows(1500) && ports.allows(2000) && !ports.allows(1100));
    }
}
