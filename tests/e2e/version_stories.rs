//! A hook is built per Kea release (issue 11): the image's hook serves its own Kea, and the hook built for the
//! other release (2.6 for a 3.0 image, 3.0 for a 2.6 image) is refused by Kea — at start and at a reload — with
//! Kea's own message naming the library; Kea refuses the configuration, it never crashes.
//!
//! The other release's hook comes out of the other project image (`KC_OTHER_IMAGE`; by default
//! `kea-cloudstack:kea3.0` beside a 2.6 image, `kea-cloudstack:latest` beside a 3.0 one), copied with
//! `docker create` + `docker cp` and mounted into Kea's hooks directory, where Kea 2.6.3 and 3.0 require it.
//! Without that image these stories fail, saying which image is missing.
use std::path::{Path, PathBuf};
use serde_json::json;

use crate::core_stories::{only_prefix, raw_remote_id, router, web_and_db, WEB_MAC, WEB_PREFIX};
use crate::lab::dhcp6::Client;
use crate::lab::{host_run, image, kea_version, KeaVersion, Lab, LabSpec, HOOK_LIBRARY};
use crate::trust_stories::reload_with;

/// Where the other release's hook appears inside Kea's container: its hooks directory, beside the image's own.
fn foreign_hook_path(other: KeaVersion) -> String {
    let dir = Path::new(HOOK_LIBRARY).parent().unwrap().display().to_string();
    format!("{dir}/libdhcp_cloudstack-kea{}.so", other.series())
}

/// The project image of the other Kea release.
fn other_image(this: KeaVersion) -> String {
    std::env::var("KC_OTHER_IMAGE").unwrap_or_else(|_| {
        if this.is_3_0_or_later() { "kea-cloudstack:latest" } else { "kea-cloudstack:kea3.0" }.to_string()
    })
}

/// The other release's hook, copied out of its image into a directory of its own (removed on drop).
struct ForeignHook {
    dir: PathBuf,
    file: PathBuf,
    version: KeaVersion,
}

impl ForeignHook {
    /// Copies the hook out of the other image; panics (the story fails) when that image is missing or runs
    /// the same Kea release as the lab's.
    fn copy_out(this: KeaVersion, tag: &str) -> ForeignHook {
        let other = other_image(this);
        let present = std::process::Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", &other]).output();
        if !present.is_ok_and(|out| out.status.success()) {
            let build = if this.is_3_0_or_later() { "make image KEA=2.6" } else { "make image KEA=3.0" };
            panic!("the image of the other Kea release, {other:?}, is missing: build it (`{build}`) or name it in KC_OTHER_IMAGE");
        }
        let version = kea_version::of_image(&other);
        assert_ne!(
            version.series(), this.series(),
            "KC_OTHER_IMAGE {other:?} runs Kea {version}, the same release as KC_IMAGE {:?}: set it to the image of the other release",
            image()
        );
        let dir = std::env::temp_dir().join(format!("kc-foreign-hook-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the foreign hook's directory");
        let container = format!("kc-foreign-{}-{tag}", std::process::id());
        host_run("docker", &["create", "--name", &container, &other]);
        let file = dir.join(format!("libdhcp_cloudstack-kea{}.so", version.series()));
        let copied = std::process::Command::new("docker")
            .args(["cp", &format!("{container}:{HOOK_LIBRARY}"), file.to_str().unwrap()])
            .output()
            .expect("run docker cp");
        host_run("docker", &["rm", "-f", &container]);
        assert!(copied.status.success(), "docker cp of {HOOK_LIBRARY} out of {other}: {}", String::from_utf8_lossy(&copied.stderr));
        ForeignHook { dir, file, version }
    }

    /// The spec entries that mount it into Kea's hooks directory.
    fn mounted(&self) -> (PathBuf, String) {
        (self.file.clone(), foreign_hook_path(self.version))
    }
}

impl Drop for ForeignHook {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kea's own lines saying why it refused the other release's hook. Kea validates a hook library by opening it,
/// then checking its version() against KEA_HOOKS_VERSION (LibraryManager::validateLibrary, Kea-2.6.3 and
/// Kea-3.0.3 src/lib/hooks/library_manager.cc). The hook is linked against the other release's libkea-*, whose
/// sonames differ (libkea-dhcpsrv.so.111 in 2.6.3, .131 in 3.0.3), so the first step already fails:
/// HOOKS_OPEN_ERROR names the library and the Kea library it needs, and the version check (HOOKS_INCORRECT_VERSION,
/// 20603 against 30003) is never reached. DHCP6_PARSER_FAIL then says the hooks libraries failed to validate.
fn assert_refused_by_kea(log: &str, foreign: &ForeignHook, this: KeaVersion) {
    let library = foreign_hook_path(foreign.version);
    let refusal = log
        .lines()
        .find(|l| l.contains("HOOKS_OPEN_ERROR") && l.contains(&library))
        .unwrap_or_else(|| panic!("Kea {this} says why it cannot open the Kea {} hook {library}:\n{log}", foreign.version));
    assert!(refusal.contains(" ERROR ") && refusal.contains(": libkea-") && refusal.contains("cannot open shared object file"),
            "Kea {this} names the Kea library of the other release the hook needs: {refusal}");
    assert!(log.lines().any(|l| l.contains("DHCP6_PARSER_FAIL") && l.contains("hooks libraries failed to validate") && l.contains(&library)),
            "Kea {this} refuses the configuration for that library:\n{log}");
}

/// An operator upgraded Kea and kept the hook built for the release before (or the other way round): Kea
/// refuses the configuration at start with its own message naming the library, logs that the configuration
/// failed and exits with status 1 — no crash, no signal, and no callout of the foreign hook ever ran.
#[test]
fn a_hook_built_for_the_other_kea_release_is_refused_at_start_and_kea_exits_cleanly() {
    let this = kea_version::of_image(&image());
    let foreign = ForeignHook::copy_out(this, "start");
    let lab = Lab::start_refused(LabSpec {
        cloud: web_and_db(),
        hook_library: Some(foreign_hook_path(foreign.version)),
        kea_files: vec![foreign.mounted()],
        ..LabSpec::default()
    });
    let log = lab.kea_log();
    assert_refused_by_kea(&log, &foreign, this);
    assert!(log.contains("DHCP6_CONFIG_LOAD_FAIL") || log.contains("DHCP6_INIT_FAIL"), "Kea says its configuration failed:\n{log}");
    assert!(!log.contains("CLOUDSTACK_"), "nothing of the foreign hook ran:\n{log}");
    assert_eq!(lab.kea_exit_code(), Some(1), "Kea {this} exits with status 1 (a crash would be 134 or 139):\n{log}");
    assert_eq!(lab.standin().requests().as_array().unwrap().len(), 0, "the foreign hook never reached CloudStack");
}

/// A running Kea asked to reload a configuration that names the other release's hook: `config-reload`
/// answers an error naming the library, and Kea keeps running, its own hook loaded and answering its control
/// commands; the good configuration brings delegation back. What Kea serves in between is Kea's own choice
/// and differs by release, so the story shows each as it is. Both log DHCP6_CONFIG_UNRECOVERABLE_ERROR (the
/// configuration was not applied, nor is the old one re-applied), then:
/// - Kea 2.6.3 goes on with the lease manager and configuration it had: the NIC still gets its prefix.
/// - Kea 3.0 destroys its lease manager before it parses a new configuration (ControlledDhcpv6Srv::processConfig
///   in Kea-3.0.3 src/bin/dhcp6/ctrl_dhcp6_srv.cc; 2.6.3 does it later, once parsing succeeded), and a
///   configuration whose hooks libraries fail to validate never gets that far: Kea answers without a prefix
///   ("no current lease manager is available") until a good configuration is loaded.
#[test]
fn a_running_kea_refuses_a_reload_to_the_other_releases_hook_without_crashing() {
    let this = kea_version::of_image(&image());
    let foreign = ForeignHook::copy_out(this, "reload");
    let lab = Lab::start(LabSpec { cloud: web_and_db(), kea_files: vec![foreign.mounted()], ..LabSpec::default() });
    assert_eq!(lab.kea_version(), this);
    let served = || only_prefix(&router(&lab, "VLAN709", raw_remote_id()).acquire(&Client::new(WEB_MAC)).unwrap());
    assert_eq!(served(), [WEB_PREFIX], "the image's own hook serves");

    let library = foreign_hook_path(foreign.version);
    let answer = reload_with(&lab, |c| c["Dhcp6"]["hooks-libraries"][0]["library"] = json!(library));
    assert_eq!(answer["result"], 1, "config-reload refuses the Kea {} hook: {answer}", foreign.version);
    assert!(answer["text"].as_str().unwrap_or_default().contains(&library), "the answer names the library: {answer}");
    assert_refused_by_kea(&lab.kea_log(), &foreign, this);

    let version = lab.control(json!({"command": "version-get"}));
    assert!(version["text"].as_str().unwrap_or_default().starts_with(&this.to_string()), "Kea {this} still answers: {version}");
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["result"], 0, "the image's hook is still loaded: {status}");
    assert!(lab.kea_log().contains("DHCP6_CONFIG_UNRECOVERABLE_ERROR"), "Kea {this} says the configuration was not applied");
    if this.is_3_0_or_later() {
        assert_eq!(served(), Vec::<String>::new(), "Kea {this} has no lease manager after the refused configuration");
        assert!(lab.kea_log().contains("no current lease manager is available"), "and says so");
    } else {
        assert_eq!(served(), [WEB_PREFIX], "Kea {this} goes on with the configuration it had");
    }

    let good = reload_with(&lab, |c| c["Dhcp6"]["hooks-libraries"][0]["library"] = json!(HOOK_LIBRARY));
    assert_eq!(good["result"], 0, "the image's own hook loads again: {good}");
    assert_eq!(served(), [WEB_PREFIX], "and delegates the NIC's prefix");
    assert!(lab.kea_running(), "Kea never stopped");
}

