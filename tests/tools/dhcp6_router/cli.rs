//! The command line of `dhcp6-router`.
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::relay::{MacCarrier, RelayAgent, DEFAULT_ENTERPRISE};

pub const USAGE: &str = "usage: dhcp6-router --client-iface IF --server ADDR --source ADDR --link-address ADDR
                    --interface-id STR --carrier remote-id-raw|remote-id-text|client-link-layer|both|none
                    [--enterprise N (default 2636)] [--max-seconds N (default 600)]
Relays DHCPv6 client messages seen on IF to [ADDR]:547 as a provider router does; run it inside the router's
network namespace. Addresses must be ULA (fd00::/8) or loopback.";

/// What the router was told to do.
#[derive(Debug)]
pub struct Options {
    /// The interface facing the clients.
    pub client_iface: String,
    /// Kea's address (port 547).
    pub server: Ipv6Addr,
    /// The router's own address facing Kea; Relay-Forwards leave from `[source]:547`.
    pub source: Ipv6Addr,
    /// Link-address, interface-id and MAC carrier of every Relay-Forward.
    pub agent: RelayAgent,
    /// The router exits after this long.
    pub max_run: Duration,
}

/// Reads the arguments (without the program name); `Err` carries the message for the user.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut pairs = std::collections::BTreeMap::new();
    let mut rest = args.iter();
    while let Some(name) = rest.next() {
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_string());
        }
        if !KNOWN.contains(&name.as_str()) {
            return Err(format!("unknown argument '{name}'\n{USAGE}"));
        }
        let value = rest.next().ok_or_else(|| format!("'{name}' needs a value"))?;
        if pairs.insert(name.as_str(), value.as_str()).is_some() {
            return Err(format!("'{name}' given twice"));
        }
    }
    let required = |name: &str| pairs.get(name).copied().ok_or_else(|| format!("'{name}' is mandatory\n{USAGE}"));
    let address = |name: &str| -> Result<Ipv6Addr, String> {
        let text = required(name)?;
        text.parse().map_err(|_| format!("'{name}' must be an IPv6 address, not '{text}'"))
    };
    let number = |name: &str, default: u64| -> Result<u64, String> {
        pairs.get(name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("'{name}' must be a number, not '{v}'")))
    };

    let server = address("--server")?;
    let source = address("--source")?;
    for (name, addr) in [("--server", server), ("--source", source)] {
        if !is_lab_address(addr) {
            return Err(format!("'{name}' {addr} is outside fd00::/8 and loopback: this test tool talks to labs only"));
        }
    }
    let enterprise = u32::try_from(number("--enterprise", u64::from(DEFAULT_ENTERPRISE))?)
        .map_err(|_| "'--enterprise' must fit in 32 bits".to_string())?;
    let carrier_name = required("--carrier")?;
    let carrier = MacCarrier::from_name(carrier_name, enterprise).ok_or_else(|| {
        format!(
            "'--carrier' must be remote-id-raw, remote-id-text, client-link-layer, both or none, not '{carrier_name}'"
        )
    })?;
    let interface_id = required("--interface-id")?;
    if interface_id.is_empty() {
        return Err("'--interface-id' must not be empty".to_string());
    }
    let max_seconds = number("--max-seconds", 600)?;
    if max_seconds == 0 || max_seconds > 24 * 3600 {
        return Err("'--max-seconds' must be between 1 and 86400".to_string());
    }
    Ok(Options {
        client_iface: required("--client-iface")?.to_string(),
        server,
        source,
        agent: RelayAgent {
            link_address: address("--link-address")?,
            interface_id: interface_id.as_bytes().to_vec(),
            carrier,
            mac_on_renewals: true,
        },
        max_run: Duration::from_secs(max_seconds),
    })
}

const KNOWN: [&str; 8] = [
    "--client-iface",
    "--server",
    "--source",
    "--link-address",
    "--interface-id",
    "--carrier",
    "--enterprise",
    "--max-seconds",
];

/// ULA (fd00::/8) or loopback: the only places this workplace's test traffic may go.
fn is_lab_address(addr: Ipv6Addr) -> bool {
    addr.octets()[0] == 0xfd || addr.is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    const BASE: &str = "--client-iface kcd1 --server fd00:4b43::1 --source fd00:4b43::2 \
                        --link-address fd00:4b43:0:100::1 --interface-id VLAN709";

    #[test]
    fn a_full_command_line_becomes_the_relay_agent() {
        let o = parse(&args(&format!("{BASE} --carrier remote-id-text --enterprise 4874 --max-seconds 30"))).unwrap();
        assert_eq!(o.client_iface, "kcd1");
        assert_eq!(o.server, "fd00:4b43::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(o.source, "fd00:4b43::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(o.agent.link_address, "fd00:4b43:0:100::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(o.agent.interface_id, b"VLAN709");
        assert_eq!(o.agent.carrier, MacCarrier::RemoteIdText { enterprise: 4874 });
        assert_eq!(o.max_run, Duration::from_secs(30));
    }

    #[test]
    fn enterprise_and_run_time_have_defaults() {
        let o = parse(&args(&format!("{BASE} --carrier both"))).unwrap();
        assert_eq!(o.agent.carrier, MacCarrier::Both { enterprise: 2636 });
        assert_eq!(o.max_run, Duration::from_secs(600));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |line: &str| parse(&args(line)).unwrap_err();
        assert!(err(BASE).starts_with("'--carrier' is mandatory"));
        assert!(err(&format!("{BASE} --carrier remote-id")).contains("not 'remote-id'"));
        assert!(err(&format!("{BASE} --carrier both --verbose 1")).starts_with("unknown argument '--verbose'"));
        assert!(err(&format!("{BASE} --carrier both --max-seconds")).contains("needs a value"));
        assert!(err(&format!("{BASE} --carrier both --max-seconds 0")).contains("between 1 and 86400"));
        assert!(err(&format!("{BASE} --carrier both --server fd00::9")).contains("given twice"));
        let outside = BASE.replace("--server fd00:4b43::1", "--server 2001:db8::1");
        assert!(err(&format!("{outside} --carrier both")).contains("outside fd00::/8"));
    }
}
