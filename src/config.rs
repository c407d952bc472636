//! The hook parameters, checked once at load. Every error names the parameter at fault, in
//! the words of Kea's own hooks ("'x' parameter is mandatory", "unknown parameter 'y'").
use crate::cloudstack::tls::CaFile;
use crate::relay::MacSource;
use ipnet::Ipv6Net;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a VLAN numbers its NICs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IndexRule {
    /// n = the host part of the NIC's IPv4 address.
    Ipv4Host,
    /// n = the low bits of the NIC's MAC.
    Mac,
}

/// A router's interface-id for a VLAN: text, or bytes written `0x…` (ISC dhcrelay and
/// wide-dhcpv6 send the interface index as 4 binary bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceId {
    /// As configured.
    pub text: String,
    /// As it comes in option 18.
    pub bytes: Vec<u8>,
}

impl InterfaceId {
    fn parse(text: &str) -> Option<InterfaceId> {
        let bytes = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) if !hex.is_empty() && hex.len() % 2 == 0 => {
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
            }
            Some(_) => return None,
            None => text.as_bytes().to_vec(),
        };
        Some(InterfaceId { text: text.to_string(), bytes })
    }
}

impl VlanConfig {
    /// Does a relayed message with this interface-id and link-address come from this VLAN?
    pub fn serves_link(&self, interface_id: &[u8], link_address: std::net::Ipv6Addr) -> bool {
        self.interface_id.as_ref().is_none_or(|id| id.bytes == interface_id)
            && self.link_prefix.is_none_or(|net| net.contains(&link_address))
    }

    /// How the router names the VLAN's link, for messages.
    pub fn link_name(&self) -> String {
        match (&self.interface_id, &self.link_prefix) {
            (Some(id), Some(net)) => format!("interface-id '{id}', link-prefix {net}"),
            (Some(id), None) => format!("interface-id '{id}'"),
            (None, Some(net)) => format!("link-prefix {net}"),
            (None, None) => "no link".to_string(),
        }
    }
}

impl fmt::Display for InterfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One VLAN: how the router names its link (interface-id, the prefix its link-address lies in,
/// or both) and the prefix its NICs' /60s come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanConfig {
    pub vlan: u16,
    /// Only NICs of VMs in this zone (the same VLAN tag may exist in two zones).
    pub zone_id: Option<String>,
    pub interface_id: Option<InterfaceId>,
    /// The relay's link-address lies in this prefix (relays that send no interface-id, e.g. dnsmasq).
    pub link_prefix: Option<Ipv6Net>,
    pub prefix: Ipv6Net,
    pub rule: IndexRule,
    /// The entry's position in `vlans`: what the index keys NICs by.
    pub slot: u16,
}

/// Where the API secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Inline(String),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline(<secret>)"),
            SecretSource::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

/// Everything the hook was configured with.
#[derive(Clone, Debug)]
pub struct HookConfig {
    pub api_url: String,
    /// The CAs the API's certificate must chain to (`ca-file`); None: the system trust store.
    pub ca_file: Option<CaFile>,
    /// `allow-plain-http`: an http:// `api-url` is accepted (test stand-ins only).
    pub allow_plain_http: bool,
    pub api_key: String,
    pub secret: SecretSource,
    pub zone_id: Option<String>,
    pub page_size: u32,
    pub request_timeout: Duration,
    pub refresh_interval: Duration,
    /// How often CloudStack's event log is polled for changed VMs (`event-interval`); None: never (0).
    pub event_interval: Option<Duration>,
    /// How long a complete listing lets the hook withdraw prefixes of NICs it does not find.
    pub authority_max_age: Duration,
    pub miss_holdoff: Duration,
    pub warmup_timeout: Duration,
    pub snapshot_file: Option<PathBuf>,
    pub delegated_length: u8,
    pub mac_sources: Vec<MacSource>,
    pub remote_id_enterprise: Option<u32>,
    pub vlans: Vec<VlanConfig>,
    /// Source addresses (prefixes) of the routers allowed to relay for clients.
    pub trusted_relays: Vec<Ipv6Net>,
}

/// A parameter the hook cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error<T>(text: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(text.into()))
}

const TOP_LEVEL: &[&str] = &[
    "api-url", "api-key", "api-secret", "secret-key-file", "zone-id", "page-size", "request-timeout",
    "refresh-interval", "event-interval", "authority-max-age", "miss-holdoff", "warmup-timeout", "snapshot-file", "delegated-length",
    "mac-sources", "remote-id-enterprise", "vlans", "trusted-relays", "ca-file", "allow-plain-http",
];
/// The inline secret's name before Kea's redaction rule was taken into account.
const OLD_INLINE_SECRET: &str = "secret-key";
const VLAN_KEYS: &[&str] = &["vlan", "zone-id", "interface-id", "link-prefix", "prefix", "index"];

/// Reads typed values out of one JSON object, naming `context` in errors.
struct Params<'a> {
    map: &'a Map<String, Value>,
    context: String,
}

impl<'a> Params<'a> {
    fn new(value: &'a Value, context: &str, known: &[&str]) -> Result<Params<'a>, ConfigError> {
        let Some(map) = value.as_object() else {
            return error(format!("{context} must be a map"));
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return error(format!("unknown parameter '{unknown}'{}", in_context(context)));
        }
        Ok(Params { map, context: context.to_string() })
    }

    fn name(&self, key: &str) -> String {
        if self.context.is_empty() { format!("'{key}'") } else { format!("'{key}' {}", self.context) }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => error(format!("{} must not be empty", self.name(key))),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => error(format!("{} must be a string", self.name(key))),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, ConfigError> {
        self.string(key)?.map_or_else(|| error(format!("{} parameter is mandatory", self.name(key))), Ok)
    }

    fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                Some(n) => error(format!("{} must be between {min} and {max}, not {n}", self.name(key))),
                None => error(format!("{} must be an integer", self.name(key))),
            },
        }
    }

    fn seconds(&self, key: &str, default: u64, min: i64, max: i64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.int(key, min, max)?.map_or(default, |n| n as u64)))
    }
}

fn in_context(context: &str) -> String {
    if context.is_empty() { String::new() } else { format!(" {context}") }
}

impl HookConfig {
    /// Parse and check the hook parameters (the `parameters` map of the hook entry).
    pub fn from_json(value: &Value) -> Result<HookConfig, ConfigError> {
        if value.get(OLD_INLINE_SECRET).is_some() {
            // Kea hides only keys ending in "secret" or "password" from config-get and its debug log.
            return error(format!(
                "'{OLD_INLINE_SECRET}' is no longer accepted (Kea would show it in config-get and its log): \
                 name the inline key 'api-secret', or keep it in 'secret-key-file'"
            ));
        }
        let p = Params::new(value, "", TOP_LEVEL)?;
        let api_url = p.required_string("api-url")?;
        let allow_plain_http = match p.map.get("allow-plain-http") {
            None => false,
            Some(Value::Bool(allowed)) => *allowed,
            Some(_) => return error("'allow-plain-http' must be a boolean"),
        };
        let plain = api_url.starts_with("http://");
        if !(api_url.starts_with("https://") || plain) {
            return error("'api-url' must start with https:// (or http:// with 'allow-plain-http')");
        }
        if plain && !allow_plain_http {
            return error(format!(
                "'api-url' {api_url} is plain HTTP: requests and answers would travel unencrypted to an \
                 unauthenticated server; use https://, or set 'allow-plain-http' to true (test stand-ins only)"
            ));
        }
        let ca_file = match p.string("ca-file")? {
            None => None,
            Some(_) if plain => return error("'ca-file' needs an https:// 'api-url'"),
            Some(path) => Some(CaFile::read(Path::new(&path)).map_err(|why| ConfigError(format!("'ca-file' {path} {why}")))?),
        };
        let api_key = p.required_string("api-key")?;
        let secret = match (p.string("api-secret")?, p.string("secret-key-file")?) {
            (Some(key), None) => SecretSource::Inline(key),
            (None, Some(path)) => SecretSource::File(PathBuf::from(path)),
            (Some(_), Some(_)) => return error("'api-secret' and 'secret-key-file' are exclusive: give one"),
            (None, None) => return error("'api-secret' or 'secret-key-file' parameter is mandatory"),
        };
        let delegated_length = p.int("delegated-length", 1, 128)?.unwrap_or(60) as u8;
        let mac_sources = parse_mac_sources(p.map.get("mac-sources"))?;
        let vlans = parse_vlans(p.map.get("vlans"), delegated_length)?;
        let refresh_interval = p.seconds("refresh-interval", 3600, 5, 86_400)?;
        let event_interval = p.seconds("event-interval", 5, 0, 3_600)?;
        let event_interval = (!event_interval.is_zero()).then_some(event_interval);
        let authority_max_age = p.seconds("authority-max-age", 3 * refresh_interval.as_secs(), 5, 7 * 86_400)?;
        if authority_max_age < refresh_interval {
            return error(format!(
                "'authority-max-age' {} must be at least 'refresh-interval' {} (or no listing would ever be young enough to withdraw on)",
                authority_max_age.as_secs(),
                refresh_interval.as_secs()
            ));
        }
        Ok(HookConfig {
            api_url,
            ca_file,
            allow_plain_http,
            api_key,
            secret,
            zone_id: p.string("zone-id")?,
            page_size: p.int("page-size", 1, 500)?.unwrap_or(500) as u32,
            request_timeout: p.seconds("request-timeout", 10, 1, 600)?,
            refresh_interval,
            event_interval,
            authority_max_age,
            miss_holdoff: p.seconds("miss-holdoff", 5, 0, 3_600)?,
            warmup_timeout: p.seconds("warmup-timeout", 10, 0, 600)?,
            snapshot_file: p.string("snapshot-file")?.map(PathBuf::from),
            delegated_length,
            mac_sources,
            remote_id_enterprise: p.int("remote-id-enterprise", 0, i64::from(u32::MAX))?.map(|n| n as u32),
            vlans,
            trusted_relays: parse_trusted_relays(p.map.get("trusted-relays"))?,
        })
    }

    /// Is `source` (the outermost Relay-Forward's source address) one of the routers?
    pub fn is_trusted_relay(&self, source: std::net::Ipv6Addr) -> bool {
        self.trusted_relays.iter().any(|net| net.contains(&source))
    }

    /// Does `trusted-relays` let any address speak as the router?
    pub fn trusts_everyone(&self) -> bool {
        self.trusted_relays.iter().any(|net| net.prefix_len() == 0)
    }

    /// The secret key, read from the file if so configured (a trailing newline is ignored).
    pub fn secret_key(&self) -> Result<String, ConfigError> {
        match &self.secret {
            SecretSource::Inline(key) => Ok(key.clone()),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("'secret-key-file' {} cannot be read: {e}", path.display()))
                })?;
                let key = text.trim_end_matches(['\n', '\r']).to_string();
                if key.is_empty() {
                    return error(format!("'secret-key-file' {} is empty", path.display()));
                }
                Ok(key)
            }
        }
    }

    /// The API is reached over plain HTTP (only with `allow-plain-http`).
    pub fn plain_http(&self) -> bool {
        self.api_url.starts_with("http://")
    }

    /// The VLAN whose router interface-id this is (entries named by interface-id only).
    pub fn vlan_by_interface_id(&self, interface_id: &[u8]) -> Option<&VlanConfig> {
        self.vlans.iter().find(|v| v.interface_id.as_ref().is_some_and(|id| id.bytes == interface_id))
    }

    /// The VLAN of a relayed message: its interface-id and link-address match the entry's
    /// `interface-id` and `link-prefix` (each where the entry names it; both when it names both).
    pub fn vlan_of_link(&self, interface_id: &[u8], link_address: std::net::Ipv6Addr) -> Option<&VlanConfig> {
        self.vlans.iter().find(|v| v.serves_link(interface_id, link_address))
    }

    /// The VLAN entry a NIC with this tag, of a VM in this zone, belongs to.
    pub fn vlan_of(&self, zone: &str, tag: u16) -> Option<&VlanConfig> {
        self.vlans.iter().find(|v| v.vlan == tag && v.zone_id.as_deref().is_none_or(|z| z == zone))
    }

    /// The VLAN entry at this slot.
    pub fn vlan_at(&self, slot: u16) -> Option<&VlanConfig> {
        self.vlans.get(usize::from(slot))
    }
}

fn parse_mac_sources(value: Option<&Value>) -> Result<Vec<MacSource>, ConfigError> {
    let Some(value) = value else {
        return Ok(vec![MacSource::ClientLinkAddr, MacSource::RemoteId]);
    };
    let Some(list) = value.as_array() else {
        return error("'mac-sources' must be a list");
    };
    if list.is_empty() {
        return error("'mac-sources' must name at least one source");
    }
    let mut sources = Vec::new();
    for item in list {
        let source = item.as_str().and_then(MacSource::parse).ok_or_else(|| {
            ConfigError(format!("'mac-sources' entry {item} is not one of \"client-link-addr\", \"remote-id\""))
        })?;
        if sources.contains(&source) {
            return error(format!("'mac-sources' names {item} twice"));
        }
        sources.push(source);
    }
    Ok(sources)
}

fn parse_trusted_relays(value: Option<&Value>) -> Result<Vec<Ipv6Net>, ConfigError> {
    const EXAMPLE: &str = "e.g. [\"2001:db8:ffff::/64\"], or one /128 per router";
    let Some(value) = value else {
        return error(format!("'trusted-relays' parameter is mandatory: the routers' source addresses, {EXAMPLE}"));
    };
    let Some(list) = value.as_array() else {
        return error(format!("'trusted-relays' must be a list of IPv6 prefixes, {EXAMPLE}"));
    };
    if list.is_empty() {
        return error(format!("'trusted-relays' must name at least one prefix, {EXAMPLE}"));
    }
    list.iter()
        .map(|item| {
            let text = item.as_str().unwrap_or_default();
            let net = text
                .parse::<Ipv6Net>()
                .or_else(|_| text.parse::<std::net::Ipv6Addr>().map(Ipv6Net::from))
                .map_err(|_| ConfigError(format!("'trusted-relays' entry {item} is not an IPv6 prefix")))?;
            if net != net.trunc() {
                return error(format!("'trusted-relays' entry {item} has host bits set (did you mean {}?)", net.trunc()));
            }
            Ok(net)
        })
        .collect()
}

fn parse_vlans(value: Option<&Value>, delegated_length: u8) -> Result<Vec<VlanConfig>, ConfigError> {
    let Some(value) = value else {
        return error("'vlans' parameter is mandatory");
    };
    let Some(list) = value.as_array() else {
        return error("'vlans' must be a list");
    };
    if list.is_empty() {
        return error("'vlans' must have at least one entry");
    }
    let mut vlans: Vec<VlanConfig> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let p = Params::new(entry, &format!("in 'vlans' entry {i}"), VLAN_KEYS)?;
        let vlan = p.int("vlan", 1, 4094)?.map_or_else(|| error(format!("{} parameter is mandatory", p.name("vlan"))), Ok)? as u16;
        let interface_id = match p.string("interface-id")? {
            Some(text) => Some(InterfaceId::parse(&text).ok_or_else(|| {
                ConfigError(format!("{} '{text}' is not text or 0x followed by pairs of hex digits", p.name("interface-id")))
            })?),
            None => None,
        };
        let link_prefix = match p.string("link-prefix")? {
            Some(text) => {
                let net: Ipv6Net =
                    text.parse().map_err(|_| ConfigError(format!("{} '{text}' is not an IPv6 prefix", p.name("link-prefix"))))?;
                Some(net.trunc())
            }
            None => None,
        };
        if interface_id.is_none() && link_prefix.is_none() {
            return error(format!(
                "'interface-id' or 'link-prefix' parameter is mandatory {} (how the router names the VLAN's link)",
                p.context
            ));
        }
        let prefix_text = p.required_string("prefix")?;
        let prefix: Ipv6Net = prefix_text
            .parse()
            .map_err(|_| ConfigError(format!("{} '{prefix_text}' is not an IPv6 prefix", p.name("prefix"))))?;
        if prefix != prefix.trunc() {
            return error(format!("{} '{prefix_text}' has host bits set (did you mean {}?)", p.name("prefix"), prefix.trunc()));
        }
        if prefix.prefix_len() > delegated_length {
            return error(format!(
                "{} '{prefix_text}' is longer than 'delegated-length' {delegated_length}",
                p.name("prefix")
            ));
        }
        let zone_id = p.string("zone-id")?;
        let rule = match p.string("index")?.as_deref() {
            None | Some("ipv4-host") => IndexRule::Ipv4Host,
            Some("mac") => IndexRule::Mac,
            Some(other) => return error(format!("{} '{other}' is not \"ipv4-host\" or \"mac\"", p.name("index"))),
        };
        for earlier in &vlans {
            let other_zones = matches!((&earlier.zone_id, &zone_id), (Some(a), Some(b)) if a != b);
            if earlier.vlan == vlan && !other_zones {
                return error(format!(
                    "{} {vlan} is a duplicate VLAN (the same tag in two zones needs a different 'zone-id' on each)",
                    p.name("vlan")
                ));
            }
            if let (Some(a), Some(b)) = (&earlier.interface_id, &interface_id) {
                if a.bytes == b.bytes {
                    return error(format!("{} '{b}' is a duplicate interface-id", p.name("interface-id")));
                }
            }
            if earlier.interface_id.is_none() && interface_id.is_none() {
                if let (Some(a), Some(b)) = (earlier.link_prefix, link_prefix) {
                    if a.contains(&b) || b.contains(&a) {
                        return error(format!("{} {b} overlaps VLAN {}'s link-prefix {a}", p.name("link-prefix"), earlier.vlan));
                    }
                }
            }
            if earlier.prefix.contains(&prefix) || prefix.contains(&earlier.prefix) {
                return error(format!("{} {prefix} overlaps VLAN {}'s {}", p.name("prefix"), earlier.vlan, earlier.prefix));
            }
        }
        let slot = u16::try_from(i).map_err(|_| ConfigError("'vlans' has too many entries".to_string()))?;
        vlans.push(VlanConfig { vlan, zone_id, interface_id, link_prefix, prefix, rule, slot });
    }
    Ok(vlans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "api-url": "https://cloud.example.net/client/api",
            "api-key": "key",
            "api-secret": "secret",
            "trusted-relays": ["2001:db8:ffff::/64"],
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        })
    }

    fn refused(change: impl FnOnce(&mut Value)) -> String {
        let mut params = minimal();
        change(&mut params);
        HookConfig::from_json(&params).expect_err("should be refused").0
    }

    #[test]
    fn a_minimal_configuration_gets_the_documented_defaults() {
        let cfg = HookConfig::from_json(&minimal()).unwrap();
        assert_eq!(cfg.page_size, 500);
        assert_eq!(cfg.request_timeout, Duration::from_secs(10));
        assert_eq!(cfg.refresh_interval, Duration::from_secs(3600));
        assert_eq!(cfg.event_interval, Some(Duration::from_secs(5)));
        assert_eq!(cfg.authority_max_age, Duration::from_secs(10_800), "3 × refresh-interval");
        assert_eq!(cfg.miss_holdoff, Duration::from_secs(5));
        assert_eq!(cfg.warmup_timeout, Duration::from_secs(10));
        assert_eq!(cfg.delegated_length, 60);
        assert_eq!(cfg.mac_sources, vec![MacSource::ClientLinkAddr, MacSource::RemoteId]);
        assert_eq!(cfg.vlans[0].rule, IndexRule::Ipv4Host);
        assert_eq!(cfg.secret_key().unwrap(), "secret");
    }

    #[test]
    fn every_mistake_names_the_parameter() {
        let cases: Vec<(Box<dyn FnOnce(&mut Value)>, &str)> = vec![
            (Box::new(|p| { p.as_object_mut().unwrap().remove("api-url"); }), "'api-url' parameter is mandatory"),
            (Box::new(|p| p["api-key"] = json!(7)), "'api-key' must be a string"),
            (Box::new(|p| p["colour"] = json!("blue")), "unknown parameter 'colour'"),
            (Box::new(|p| p["secret-key-file"] = json!("/x")), "'api-secret' and 'secret-key-file' are exclusive"),
            (Box::new(|p| { p.as_object_mut().unwrap().remove("api-secret"); }), "'api-secret' or 'secret-key-file' parameter is mandatory"),
            (Box::new(|p| p["secret-key"] = json!("s")), "'secret-key' is no longer accepted"),
            (Box::new(|p| { p.as_object_mut().unwrap().remove("trusted-relays"); }), "'trusted-relays' parameter is mandatory"),
            (Box::new(|p| p["trusted-relays"] = json!([])), "'trusted-relays' must name at least one prefix"),
            (Box::new(|p| p["trusted-relays"] = json!("2001:db8::/64")), "'trusted-relays' must be a list"),
            (Box::new(|p| p["trusted-relays"] = json!(["router1"])), "'trusted-relays' entry \"router1\" is not an IPv6 prefix"),
            (Box::new(|p| p["trusted-relays"] = json!(["2001:db8::1/64"])), "has host bits set (did you mean 2001:db8::/64?)"),
            (Box::new(|p| p["page-size"] = json!(501)), "'page-size' must be between 1 and 500"),
            (Box::new(|p| p["refresh-interval"] = json!("300")), "'refresh-interval' must be an integer"),
            (Box::new(|p| p["authority-max-age"] = json!(60)), "'authority-max-age' 60 must be at least 'refresh-interval' 3600"),
            (Box::new(|p| p["event-interval"] = json!(-1)), "'event-interval' must be between 0 and 3600"),
            (Box::new(|p| p["event-interval"] = json!("5")), "'event-interval' must be an integer"),
            (Box::new(|p| p["mac-sources"] = json!(["duid"])), "'mac-sources' entry \"duid\""),
            (Box::new(|p| p["vlans"][0]["prefix"] = json!("2a00:f10:500::/64")), "'prefix' in 'vlans' entry 0 '2a00:f10:500::/64' is longer than 'delegated-length' 60"),
            (Box::new(|p| p["vlans"][0]["prefix"] = json!("2a00:f10:501::/40")), "has host bits set"),
            (Box::new(|p| p["vlans"][0]["index"] = json!("duid")), "'index' in 'vlans' entry 0"),
            (Box::new(|p| p["vlans"][0]["tag"] = json!(1)), "unknown parameter 'tag' in 'vlans' entry 0"),
            (Box::new(|p| p["vlans"] = json!([])), "'vlans' must have at least one entry"),
        ];
        for (change, expected) in cases {
            let text = refused(change);
            assert!(text.contains(expected), "{text:?} should contain {expected:?}");
        }
    }

    #[test]
    fn a_vlan_is_named_by_its_interface_id_as_text_or_bytes_by_its_link_prefix_or_both() {
        let mut params = minimal();
        params["vlans"] = json!([
            {"vlan": 709, "interface-id": "0x2a000000", "prefix": "2a00:f10:500::/40"},
            {"vlan": 710, "link-prefix": "fd00:710::/64", "prefix": "2a00:f10:600::/40"},
            {"vlan": 711, "interface-id": "VLAN711", "link-prefix": "fd00:711::/64", "prefix": "2a00:f10:700::/40"}
        ]);
        let cfg = HookConfig::from_json(&params).unwrap();
        let at = |id: &[u8], link: &str| cfg.vlan_of_link(id, link.parse().unwrap()).map(|v| v.vlan);
        assert_eq!(at(&[0x2a, 0, 0, 0], "fd00:1::1"), Some(709), "dhcrelay's ifindex in host byte order");
        assert_eq!(at(b"", "fd00:710::5"), Some(710), "dnsmasq sends no interface-id");
        assert_eq!(at(b"anything", "fd00:710::5"), Some(710), "an entry without interface-id ignores it");
        assert_eq!(at(b"VLAN711", "fd00:711::1"), Some(711));
        assert_eq!(at(b"VLAN711", "fd00:9::1"), None, "with both given, both must match");
        assert_eq!(at(b"0x2a000000", "fd00:1::1"), None, "hex means bytes, not the text");
        for (bad, expected) in [
            (json!({"vlan": 712, "prefix": "2a00:f10:800::/40"}), "'interface-id' or 'link-prefix' parameter is mandatory in 'vlans' entry 3"),
            (json!({"vlan": 712, "interface-id": "0x2a0", "prefix": "2a00:f10:800::/40"}), "is not text or 0x followed by pairs of hex digits"),
            (json!({"vlan": 712, "link-prefix": "fd00:710::/48", "prefix": "2a00:f10:800::/40"}), "overlaps VLAN 710's link-prefix"),
        ] {
            let mut wrong = params.clone();
            wrong["vlans"].as_array_mut().unwrap().push(bad);
            let text = HookConfig::from_json(&wrong).unwrap_err().0;
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn only_the_routers_addresses_are_trusted_and_a_bare_address_is_one_router() {
        let mut params = minimal();
        params["trusted-relays"] = json!(["2001:db8:ffff::/64", "fd00::53"]);
        let cfg = HookConfig::from_json(&params).unwrap();
        assert!(cfg.is_trusted_relay("2001:db8:ffff::1".parse().unwrap()));
        assert!(cfg.is_trusted_relay("fd00::53".parse().unwrap()));
        assert!(!cfg.is_trusted_relay("fd00::54".parse().unwrap()));
        assert!(!cfg.is_trusted_relay("2001:db8:fffe::1".parse().unwrap()));
        assert!(!cfg.trusts_everyone());
        params["trusted-relays"] = json!(["::/0"]);
        assert!(HookConfig::from_json(&params).unwrap().trusts_everyone());
    }

    #[test]
    fn vlans_must_not_share_a_tag_an_interface_id_or_address_space() {
        let second = |vlan: u16, iface: &str, prefix: &str| {
            refused(|p| {
                p["vlans"].as_array_mut().unwrap().push(json!({"vlan": vlan, "interface-id": iface, "prefix": prefix}));
            })
        };
        assert!(second(709, "VLAN710", "2a00:f10:600::/40").contains("duplicate VLAN"));
        let mut zones = minimal();
        zones["vlans"][0]["zone-id"] = json!("zone-a");
        zones["vlans"].as_array_mut().unwrap().push(json!({"vlan": 709, "zone-id": "zone-b", "interface-id": "B709", "prefix": "2a00:f10:600::/40"}));
        let cfg = HookConfig::from_json(&zones).unwrap();
        assert_eq!(cfg.vlan_of("zone-b", 709).map(|v| v.slot), Some(1), "the same tag in another zone is another VLAN");
        assert_eq!(cfg.vlan_of("zone-a", 709).map(|v| v.slot), Some(0));
        assert_eq!(cfg.vlan_of("zone-c", 709), None);
        zones["vlans"][1]["zone-id"] = json!("zone-a");
        assert!(HookConfig::from_json(&zones).unwrap_err().0.contains("duplicate VLAN"));
        assert!(second(710, "VLAN709", "2a00:f10:600::/40").contains("duplicate interface-id"));
        assert!(second(710, "VLAN710", "2a00:f10:500::/44").contains("overlaps VLAN 709"));
        let mut ok = minimal();
        ok["vlans"].as_array_mut().unwrap().push(json!({"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40", "index": "mac"}));
        assert_eq!(HookConfig::from_json(&ok).unwrap().vlans.len(), 2);
    }

    #[test]
    fn the_secret_file_loses_its_trailing_newline_and_never_shows_in_debug_output() {
        let dir = std::env::temp_dir().join(format!("kc-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cr3t\n").unwrap();
        let mut params = minimal();
        params.as_object_mut().unwrap().remove("api-secret");
        params["secret-key-file"] = json!(dir.to_str().unwrap());
        let cfg = HookConfig::from_json(&params).unwrap();
        assert_eq!(cfg.secret_key().unwrap(), "s3cr3t");
        std::fs::remove_file(&dir).unwrap();
        let inline = HookConfig::from_json(&minimal()).unwrap();
        assert!(inline.api_key == "key" && matches!(inline.secret, SecretSource::Inline(_)));
        assert!(!format!("{inline:?}").contains("secret\""), "{inline:?}");
    }
    #[test]
    fn plain_http_is_refused_unless_allowed_and_then_named_as_such() {
        let text = refused(|p| p["api-url"] = json!("http://[fd00::2]:8080/client/api"));
        assert!(text.starts_with("'api-url' http://[fd00::2]:8080/client/api is plain HTTP"), "{text}");
        assert!(text.contains("set 'allow-plain-http' to true"), "{text}");
        let text = refused(|p| {
            p["api-url"] = json!("http://[fd00::2]:8080/client/api");
            p["allow-plain-http"] = json!(false);
        });
        assert!(text.contains("'allow-plain-http'"), "{text}");
        assert_eq!(refused(|p| p["allow-plain-http"] = json!("yes")), "'allow-plain-http' must be a boolean");
        assert!(refused(|p| p["api-url"] = json!("ftp://x/")).starts_with("'api-url' must start with https://"));

        let mut params = minimal();
        params["api-url"] = json!("http://[fd00::2]:8080/client/api");
        params["allow-plain-http"] = json!(true);
        let cfg = HookConfig::from_json(&params).unwrap();
        assert!(cfg.allow_plain_http && cfg.plain_http());
        let https = HookConfig::from_json(&minimal()).unwrap();
        assert!(!https.allow_plain_http && !https.plain_http() && https.ca_file.is_none(), "the defaults: TLS, system trust store");
    }

    #[test]
    fn a_ca_file_that_cannot_serve_as_trust_fails_the_load_naming_it() {
        assert_eq!(refused(|p| p["ca-file"] = json!(7)), "'ca-file' must be a string");
        let missing = refused(|p| p["ca-file"] = json!("/nonexistent/ca.pem"));
        assert!(missing.starts_with("'ca-file' /nonexistent/ca.pem cannot be read: "), "{missing}");
        assert_eq!(refused(|p| p["ca-file"] = json!("/")), "'ca-file' / is not a regular file");
        let path = std::env::temp_dir().join(format!("kc-config-ca-{}", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let no_cert = refused(|p| p["ca-file"] = json!(path.to_str().unwrap()));
        assert_eq!(no_cert, format!("'ca-file' {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n").unwrap();
        let cut = refused(|p| p["ca-file"] = json!(path.to_str().unwrap()));
        assert!(cut.starts_with(&format!("'ca-file' {} is not a readable PEM file: ", path.display())), "{cut}");
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n").unwrap();
        let not_der = refused(|p| p["ca-file"] = json!(path.to_str().unwrap()));
        assert!(not_der.starts_with(&format!("'ca-file' {} certificate 1 is not usable as a CA: ", path.display())), "{not_der}");
        std::fs::write(&path, vec![b'#'; 4 * 1024 * 1024 + 1]).unwrap();
        let huge = refused(|p| p["ca-file"] = json!(path.to_str().unwrap()));
        assert_eq!(huge, format!("'ca-file' {} is larger than 4 MiB", path.display()));
        std::fs::remove_file(&path).unwrap();
        let over_http = refused(|p| {
            p["api-url"] = json!("http://[fd00::2]:8080/client/api");
            p["allow-plain-http"] = json!(true);
            p["ca-file"] = json!("/etc/kea/ca.pem");
        });
        assert_eq!(over_http, "'ca-file' needs an https:// 'api-url'");
    }

    #[cfg(feature = "test-tools")]
    #[test]
    fn a_ca_file_with_the_operators_cas_is_read_at_load() {
        use crate::cloudstack::tls::test_pki::TestCa;
        let path = std::env::temp_dir().join(format!("kc-config-cas-{}", std::process::id()));
        std::fs::write(&path, format!("{}{}", TestCa::new("old CA").pem, TestCa::new("new CA").pem)).unwrap();
        let mut params = minimal();
        params["ca-file"] = json!(path.to_str().unwrap());
        let cfg = HookConfig::from_json(&params).unwrap();
        std::fs::remove_file(&path).unwrap();
        let ca = cfg.ca_file.expect("the CAs are kept");
        assert_eq!((ca.path(), ca.certificates()), (path.as_path(), 2));
    }
}
