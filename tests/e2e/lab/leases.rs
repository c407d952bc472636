//! Kea's memfile lease file (CSV, append-only journal) read back as the leases it currently holds.
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::Path;

/// One lease as Kea's memfile records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The address, or for a prefix delegation the prefix base.
    pub address: Ipv6Addr,
    /// 128 for addresses; the delegated length for prefixes.
    pub prefix_len: u8,
    /// Client DUID, hex with colons as Kea writes it.
    pub duid: String,
    /// IAID of the IA_NA / IA_PD.
    pub iaid: u32,
    /// Valid lifetime in seconds (0 marks a deleted lease in the journal).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// Expiry time, seconds since the epoch.
    pub expire: u64,
    /// Subnet id (the lab uses the VLAN number).
    pub subnet_id: u32,
    /// Hardware address Kea recorded (hex with colons), empty if none.
    pub hwaddr: String,
    /// Where the hardware address came from (Kea's HWADDR_SOURCE_* bit), 0 if none.
    pub hwaddr_source: u32,
    /// 0 default, 1 declined, 2 expired-reclaimed.
    pub state: u32,
    /// 0 IA_NA, 1 IA_TA, 2 IA_PD.
    pub lease_type: u8,
    /// The lease's user context (JSON text), empty if none.
    pub user_context: String,
}

impl LeaseRow {
    /// True for a delegated prefix.
    pub fn is_prefix(&self) -> bool {
        self.lease_type == 2
    }

    /// `address/prefix_len`, the way tests usually compare prefixes.
    pub fn prefix(&self) -> String {
        format!("{}/{}", self.address, self.prefix_len)
    }
}

/// Every row of the journal in file order (a lease rewritten many times appears many times).
pub fn read_journal(path: &Path) -> Vec<LeaseRow> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    parse_journal(&text)
}

/// The leases Kea holds now: the last row for each (type, address), deleted ones (valid lifetime 0) left out.
pub fn current_leases(journal: Vec<LeaseRow>) -> Vec<LeaseRow> {
    let mut order = Vec::new();
    let mut last: HashMap<(u8, Ipv6Addr), LeaseRow> = HashMap::new();
    for row in journal {
        let key = (row.lease_type, row.address);
        if !last.contains_key(&key) {
            order.push(key);
        }
        last.insert(key, row);
    }
    order.into_iter().filter_map(|key| last.remove(&key)).filter(|row| row.valid_lifetime != 0).collect()
}

fn parse_journal(text: &str) -> Vec<LeaseRow> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (address, duid, valid, expire, subnet, pref, ltype, iaid, plen, hwaddr, state, ctx, hwsrc) = (
        at("address"),
        at("duid"),
        at("valid_lifetime"),
        at("expire"),
        at("subnet_id"),
        at("pref_lifetime"),
        at("lease_type"),
        at("iaid"),
        at("prefix_len"),
        at("hwaddr"),
        at("state"),
        at("user_context"),
        at("hwaddr_source"),
    );
    lines
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let text = |i: Option<usize>| i.and_then(|i| fields.get(i)).map_or("", |s| s.trim());
            let num = |i: Option<usize>| text(i).parse::<u64>().unwrap_or(0);
            Some(LeaseRow {
                address: text(address).parse().ok()?,
                prefix_len: num(plen) as u8,
                duid: text(duid).to_string(),
                iaid: num(iaid) as u32,
                valid_lifetime: num(valid) as u32,
                preferred_lifetime: num(pref) as u32,
                expire: num(expire),
                subnet_id: num(subnet) as u32,
                hwaddr: text(hwaddr).to_string(),
                hwaddr_source: num(hwsrc) as u32,
                state: num(state) as u32,
                lease_type: num(ltype) as u8,
                // Kea escapes commas inside the context as "&#x2c".
                user_context: text(ctx).replace("&#x2c", ","),
            })
        })
        .collect()
}
