//! Builds the C++ shim (with feature `kea`) and Rust's view of the shim's C header.
use std::env;
use std::path::PathBuf;
use std::process::Command;

const HEADER: &str = "cpp-shim/kea_cloudstack.h";
const MESSAGES: &str = "cpp-shim/cloudstack_messages.mes";
const SHIM_SOURCES: &[&str] = &[
    "cpp-shim/shim_callouts.cc",
    "cpp-shim/shim_cleared.cc",
    "cpp-shim/shim_commands.cc",
    "cpp-shim/shim_config_check.cc",
    "cpp-shim/shim_facts.cc",
    "cpp-shim/shim_lease_record.cc",
    "cpp-shim/shim_library_list.cc",
    "cpp-shim/shim_load.cc",
    "cpp-shim/shim_log.cc",
    "cpp-shim/shim_query.cc",
    "cpp-shim/shim_stats.cc",
    "cpp-shim/shim_way_memo.cc",
];
/// Kea's libraries the shim calls into (as-needed drops what is unused), for Kea 2.6 and 3.0:
/// 3.0 renamed libkea-dhcp++ to libkea-dhcp and libkea-cfgclient to libkea-config.
const KEA_LIBS_2_6: &[&str] = &[
    "kea-dhcpsrv", "kea-dhcp++", "kea-hooks", "kea-asiolink", "kea-exceptions", "kea-log",
    "kea-cc", "kea-cfgclient", "kea-util", "kea-stats", "kea-process",
];
const KEA_LIBS_3_0: &[&str] = &[
    "kea-dhcpsrv", "kea-dhcp", "kea-hooks", "kea-asiolink", "kea-exceptions", "kea-log",
    "kea-cc", "kea-config", "kea-util", "kea-stats", "kea-process",
];

fn main() {
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed={MESSAGES}");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    bindgen::Builder::default()
        .header(HEADER)
        .allowlist_type("kc_.*")
        .allowlist_function("kcs_.*")
        .allowlist_var("KC_.*")
        .rustified_enum("kc_.*_verdict")
        .rustified_enum("kc_severity")
        .derive_default(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen could not read cpp-shim/kea_cloudstack.h")
        .write_to_file(out.join("shim_bindings.rs"))
        .expect("write shim_bindings.rs");

    if env::var_os("CARGO_FEATURE_KEA").is_some() {
        build_shim(&out);
    }
}

/// KEA_HOOKS_VERSION of the Kea whose headers are in `kea_include` (e.g. 20603, 30003), read from
/// `hooks/hooks.h`: the number the hook's `version()` returns, so the libraries linked and the
/// headers compiled always name the same release (no second source of truth such as an env var).
fn kea_hooks_version(kea_include: &str) -> u32 {
    let path = format!("{kea_include}/hooks/hooks.h");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} ({e}): install kea-dev, or set KEA_INCLUDE"));
    let value = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("const int KEA_HOOKS_VERSION"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .filter_map(|rest| rest.trim().strip_suffix(';'))
        .find_map(|number| number.trim().parse::<u32>().ok());
    value.unwrap_or_else(|| panic!("{path} has no `const int KEA_HOOKS_VERSION = N;`"))
}

/// The libraries of that release; a Kea the shim was not written for stops the build here.
fn kea_libs(hooks_version: u32) -> &'static [&'static str] {
    match hooks_version / 100 {
        206 => KEA_LIBS_2_6,
        300 => KEA_LIBS_3_0,
        _ => panic!("Kea with KEA_HOOKS_VERSION {hooks_version} is not supported: the shim builds against 2.6.x and 3.0.x"),
    }
}

fn build_shim(out: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=KEA_INCLUDE");
    let kea_include = env::var("KEA_INCLUDE").unwrap_or_else(|_| "/usr/include/kea".into());
    println!("cargo:rerun-if-changed={kea_include}/hooks/hooks.h");
    let hooks_version = kea_hooks_version(&kea_include);
    let libs = kea_libs(hooks_version);
    // kea-msg-compiler turns the .mes file into the C++ message table the logger uses.
    let status = Command::new("kea-msg-compiler")
        .arg("-d")
        .arg(out)
        .arg(MESSAGES)
        .status()
        .expect("kea-msg-compiler not found: install kea-dev");
    assert!(status.success(), "kea-msg-compiler failed on {MESSAGES}");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .include("cpp-shim")
        .include(out)
        .include(&kea_include)
        .define("KC_KEA_HOOKS_VERSION", hooks_version.to_string().as_str())
        .flag_if_supported("-Wno-unused-parameter")
        .file(out.join("cloudstack_messages.cc"));
    for source in SHIM_SOURCES {
        println!("cargo:rerun-if-changed={source}");
        build.file(source);
    }
    for header in ["kea_compat.h", "shim_cleared.h", "shim_commands.h", "shim_facts.h", "shim_lease_record.h", "shim_log.h", "shim_query.h"] {
        println!("cargo:rerun-if-changed=cpp-shim/{header}");
    }
    build.compile("cloudstack_shim");
    for lib in libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
