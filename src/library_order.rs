//! Is the hook listed before Kea's HA hook? Kea calls a hook point's callouts in the order of
//! `hooks-libraries` (each library's callouts are registered under its position in the list,
//! `CalloutManager::registerCallout` in Kea 2.6.3 and 3.0.x), and HA reads `deleted_leases6` in
//! its own `leases6_committed` callout. Listed after HA, the leases the hook clears out of a NIC's
//! way would never reach the partner, which then keeps a lease the active server removed.

/// The file name of Kea's HA hook library.
pub const HA_LIBRARY: &str = "libdhcp_ha.so";
/// The file name this hook is installed under.
pub const OWN_LIBRARY: &str = "libdhcp_cloudstack.so";

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks `libraries` (Kea's loaded hook libraries, in their order) for `own` (this library's
/// path as Kea loaded it; when it is not found, the first entry named `libdhcp_cloudstack.so`)
/// listed after `libdhcp_ha.so`. Without HA, or without this hook in the list, there is nothing
/// to check.
pub fn check(libraries: &[&str], own: &str) -> Result<(), String> {
    let Some(ha) = libraries.iter().position(|l| file_name(l) == HA_LIBRARY) else { return Ok(()) };
    let position = libraries
        .iter()
        .position(|l| !own.is_empty() && *l == own)
        .or_else(|| libraries.iter().position(|l| file_name(l) == OWN_LIBRARY));
    match position {
        Some(hook) if hook > ha => Err(format!(
            "hooks-libraries lists {} (entry {}) before {} (entry {}): list the CloudStack hook before \
             {HA_LIBRARY}, so that HA sends the partner the leases the hook clears (deleted_leases6 in leases6_committed)",
            libraries[ha], ha + 1, libraries[hook], hook + 1
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    const HOOKS: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks";

    fn path(name: &str) -> String {
        format!("{HOOKS}/{name}")
    }

    #[test]
    fn the_hook_before_ha_is_the_documented_order() {
        let (own, cmds, ha) = (path("libdhcp_cloudstack.so"), path("libdhcp_lease_cmds.so"), path("libdhcp_ha.so"));
        assert_eq!(check(&[&own, &cmds, &ha], &own), Ok(()));
        assert_eq!(check(&[&cmds, &own, &ha], &own), Ok(()), "lease_cmds has no packet callouts: its place does not matter");
    }

    #[test]
    fn ha_before_the_hook_is_refused_with_both_entries_named() {
        let (own, cmds, ha) = (path("libdhcp_cloudstack.so"), path("libdhcp_lease_cmds.so"), path("libdhcp_ha.so"));
        let error = check(&[&cmds, &ha, &own], &own).unwrap_err();
        assert!(error.contains(&format!("lists {ha} (entry 2) before {own} (entry 3)")), "{error}");
        assert!(error.contains("list the CloudStack hook before libdhcp_ha.so"), "{error}");
    }

    #[test]
    fn without_ha_any_order_is_fine() {
        let (own, pgsql) = (path("libdhcp_cloudstack.so"), path("libdhcp_pgsql.so"));
        assert_eq!(check(&[&pgsql, &own], &own), Ok(()));
        assert_eq!(check(&[], ""), Ok(()));
    }

    #[test]
    fn the_hook_is_found_by_its_own_path_even_when_renamed() {
        let (own, ha) = ("/opt/kea/hooks/cloudstack-v2.so".to_string(), path("libdhcp_ha.so"));
        assert!(check(&[&ha, &own], &own).is_err());
        assert_eq!(check(&[&own, &ha], &own), Ok(()));
    }

    #[test]
    fn without_its_own_path_the_hook_is_found_by_its_file_name() {
        let (own, ha) = (path("libdhcp_cloudstack.so"), path("libdhcp_ha.so"));
        assert!(check(&[&ha, &own], "").is_err());
        assert!(check(&[&ha, &own], "/elsewhere/libdhcp_cloudstack.so").is_err());
        assert_eq!(check(&[&own, &ha], ""), Ok(()));
    }
}
