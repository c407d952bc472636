//! The router's own link-local address on the client link: answers to clients leave from `[it]:547`, as from a
//! real relay, and binding to it (not to `[::]:547`) leaves the Kea-facing `[source]:547` free.
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const SCOPE_LINK: u32 = 0x20;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;

/// Waits (up to `patience`) until `iface` has a usable link-local address in this namespace.
pub fn wait_for(iface: &str, patience: Duration) -> Result<Ipv6Addr, String> {
    let deadline = Instant::now() + patience;
    loop {
        let table =
            std::fs::read_to_string("/proc/net/if_inet6").map_err(|e| format!("read /proc/net/if_inet6: {e}"))?;
        if let Some(address) = usable_link_local(&table, iface) {
            return Ok(address);
        }
        if Instant::now() >= deadline {
            return Err(format!("'{iface}' has no usable link-local address after {patience:?} (is it up?)"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// From /proc/net/if_inet6 (`address-hex index prefix-len scope flags name` per line): the first link-scope
/// address of `iface` that is neither tentative nor failed DAD.
fn usable_link_local(table: &str, iface: &str) -> Option<Ipv6Addr> {
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [hex, _index, _len, scope, flags, name] = fields[..] else { return None };
        let scope = u32::from_str_radix(scope, 16).ok()?;
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if name != iface || scope != SCOPE_LINK || flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0 {
            return None;
        }
        u128::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 32).map(Ipv6Addr::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
fd004b43000001000000000000000001 03 40 00 80     kcd1
fe80000000000000b0c4fffffe8e0a11 03 40 20 c0     kcd1
fe800000000000000000000000000001 03 40 20 80     kcd1
fe800000000000004c3dfffffe12b7a0 02 40 20 80     kcr1
00000000000000000000000000000001 01 80 10 80       lo
";

    #[test]
    fn the_first_settled_link_local_of_the_interface_is_taken() {
        assert_eq!(usable_link_local(TABLE, "kcd1"), Some("fe80::1".parse().unwrap()), "the tentative one is skipped");
        assert_eq!(usable_link_local(TABLE, "kcr1"), Some("fe80::4c3d:ffff:fe12:b7a0".parse().unwrap()));
        assert_eq!(usable_link_local(TABLE, "lo"), None, "loopback has host scope");
        assert_eq!(usable_link_local(TABLE, "kcd"), None, "names match whole");
        assert_eq!(usable_link_local("garbage\n\n", "kcd1"), None);
    }
}
