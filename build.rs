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
    "cpp-shim/shim_load.cc",
    "cpp-shim/shim_log.cc",
    "cpp-shim/shim_query.cc",
    "cpp-shim/shim_stats.cc",
];
/// Kea's libraries the shim calls into (as-needed drops what is unused).
const KEA_LIBS: &[&str] = &[
    "kea-dhcpsrv", "kea-dhcp++", "kea-hooks", "kea-asiolink", "kea-exceptions", "kea-log",
    "kea-cc", "kea-cfgclient", "kea-util", "kea-stats", "kea-process",
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

fn build_shim(out: &std::path::Path) {
    let kea_include = env::var("KEA_INCLUDE").unwrap_or_else(|_| "/usr/include/kea".into());
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
        .flag_if_supported("-Wno-unused-parameter")
        .file(out.join("cloudstack_messages.cc"));
    for source in SHIM_SOURCES {
        println!("cargo:rerun-if-changed={source}");
        build.file(source);
    }
    for header in ["shim_cleared.h", "shim_commands.h", "shim_facts.h", "shim_lease_record.h", "shim_log.h", "shim_query.h"] {
        println!("cargo:rerun-if-changed=cpp-shim/{header}");
    }
    build.compile("cloudstack_shim");
    for lib in KEA_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
