//! The Debian package (issue 11): an operator who runs Debian's own Kea — trixie's kea-dhcp6-server 2.6.3, or 3.0.x
//! from trixie-backports — installs `kea-cloudstack-hook_<version>+kea<Kea version>_amd64.deb` with apt, and Kea
//! loads the hook from its hooks directory; removing the package leaves Kea as it was.
//!
//! Debian's Kea is the image `KC_DEBIAN_KEA_IMAGE` (default `kea-cloudstack-debian-kea:<2.6|3.0>`, the release of
//! `KC_IMAGE`; `make image` tags it from the Dockerfile's debian-kea stage): debian:trixie with kea-dhcp6-server —
//! exactly the version the package was built against — and ca-certificates, both from Debian, and nothing of this
//! project. The package is `KC_DEB_DIR/kea-cloudstack-hook_…_amd64.deb` (default target/deb; `make deb`). Each story
//! installs it with `apt-get install ./….deb` in a container of that image without a network (apt must find every
//! dependency installed, as on a host that already runs Kea) and runs Kea from what the container became
//! (`docker commit`). Without the image or the package the stories fail, naming what to build.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::core_stories::{nic_vm, parse_mac, WEB_PREFIX};
use crate::lab::{host_run, image, kea_version, KeaVersion, Lab, LabSpec, HOOK_LIBRARY, OWNER_LABEL};

const PACKAGE: &str = "kea-cloudstack-hook";
const DOC: &str = "/usr/share/doc/kea-cloudstack-hook";
const EXAMPLE: &str = "/usr/share/doc/kea-cloudstack-hook/examples/kea-dhcp6.conf";

/// Debian's Kea of this run's release and the package built for it.
struct DebianKea {
    image: String,
    kea: KeaVersion,
    deb: PathBuf,
}

impl DebianKea {
    /// The image and the package for the Kea release of `KC_IMAGE`; panics (the story fails) when either is
    /// missing or they are not of one release.
    fn of_this_run() -> DebianKea {
        let release = kea_version::of_image(&image());
        let series = release.series();
        let image_name =
            std::env::var("KC_DEBIAN_KEA_IMAGE").unwrap_or_else(|_| format!("kea-cloudstack-debian-kea:{series}"));
        let present = docker(&["image", "inspect", "--format", "{{.Id}}", &image_name]);
        assert!(
            present.status.success(),
            "Debian's Kea {series} alone, image {image_name:?}, is missing: `make image KEA={series}` tags it (or name it in KC_DEBIAN_KEA_IMAGE)"
        );
        let kea = kea_version::of_image(&image_name);
        assert_eq!(kea, release, "KC_DEBIAN_KEA_IMAGE {image_name:?} and KC_IMAGE {:?} run different Kea releases", image());
        let deb = deb_dir().join(format!("{PACKAGE}_{}_amd64.deb", package_version(kea)));
        assert!(
            deb.is_file(),
            "the package {} is missing: `make deb KEA={series}` builds it (KC_DEB_DIR names another directory)",
            deb.display()
        );
        DebianKea { image: image_name, kea, deb }
    }

    /// A container of Debian's Kea in which `apt-get install ./….deb` installed the package, committed as an image
    /// (removed on drop), and what apt said. Before the installation the container holds nothing of the project.
    fn install_package(&self, tag: &str) -> (TestImage, String) {
        let file = self.deb.file_name().unwrap().to_str().unwrap().to_string();
        let host = Container::start(&self.image, tag, &[(self.deb.clone(), format!("/tmp/{file}"))]);
        host.succeeds(&format!(
            "! dpkg-query -W {PACKAGE} 2>/dev/null && [ ! -e {HOOK_LIBRARY} ] && ! command -v cloudstack-kea"
        ));
        let apt = host.succeeds(&format!("cd /tmp && apt-get install -y ./{file}"));
        let installed = host.commit(tag);
        (installed, apt)
    }
}

/// The interface the packaged example listens on, which the operator replaces with the host's.
const EXAMPLE_INTERFACE: &str = "eth0/2001:db8:ffff::53";

/// A shell command writing the packaged example to `path`, listening on `interface` instead (what the operator
/// adapts first: Kea refuses a configuration naming an interface the host lacks, `kea-dhcp6 -t` too).
fn copy_example(interface: &str, path: &str) -> String {
    format!("grep -q '\"{EXAMPLE_INTERFACE}\"' {EXAMPLE} && sed 's|\"{EXAMPLE_INTERFACE}\"|\"{interface}\"|' {EXAMPLE} > {path}")
}

/// KC_DEB_DIR, else target/deb of the source tree (where `make deb` puts the packages).
fn deb_dir() -> PathBuf {
    std::env::var_os("KC_DEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("deb"))
}

/// The package's version for Kea `kea`: the crate's version (a semver pre-release as Debian's "~"), "+kea", Kea's.
fn package_version(kea: KeaVersion) -> String {
    format!("{}+kea{kea}", env!("CARGO_PKG_VERSION").replace('-', "~"))
}

fn docker(args: &[&str]) -> Output {
    std::process::Command::new("docker").args(args).output().expect("run docker")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A container that stays up (`sleep infinity`), with no network, labelled for the lab's sweep; removed on drop.
struct Container {
    name: String,
}

impl Container {
    fn start(image: &str, tag: &str, files: &[(PathBuf, String)]) -> Container {
        let name = format!("kc-pkg-{}-{tag}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        let label = format!("{OWNER_LABEL}={}", std::process::id());
        let mut args: Vec<String> =
            ["run", "-d", "--name", &name, "--label", &label, "--network", "none"].map(String::from).to_vec();
        for (host, inside) in files {
            args.extend(["-v".to_string(), format!("{}:{inside}:ro", host.display())]);
        }
        args.extend(["--entrypoint", "/bin/sleep", image, "infinity"].map(String::from));
        host_run("docker", &args.iter().map(String::as_str).collect::<Vec<_>>());
        Container { name }
    }

    /// `sh -c script` in the container (apt without questions).
    fn sh(&self, script: &str) -> Output {
        docker(&["exec", "-e", "DEBIAN_FRONTEND=noninteractive", &self.name, "sh", "-c", script])
    }

    /// `sh -c script`, which must succeed: what it printed.
    fn succeeds(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(out.status.success(), "`{script}` failed in {} ({}):\n{}", self.name, out.status, text(&out));
        text(&out)
    }

    fn commit(&self, tag: &str) -> TestImage {
        let name = format!("kc-pkg-installed:{}-{tag}", std::process::id());
        host_run("docker", &["commit", &self.name, &name]);
        TestImage { name }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// An image a story made; removed on drop.
struct TestImage {
    name: String,
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.name]);
    }
}

/// An operator of Debian's Kea installs the package built for it with `apt-get install ./….deb`: apt finds every
/// dependency installed (the very kea-dhcp6-server the package names) and installs the package alone; the hook
/// lands in Kea's hooks directory, the tool in /usr/bin, the documentation and every configuration of kea-config/
/// in /usr/share/doc. Kea, configured with
/// the hook by its bare file name (Kea looks it up in its hooks directory), delegates the NIC's /60 to the real
/// dhclient behind the provider router. The packaged `cloudstack-kea check` reads the API as the hook does, and the
/// example configuration the package ships passes `kea-dhcp6 -t` with the installed hook.
#[test]
fn an_operator_installs_the_package_beside_debians_kea_and_a_relayed_client_gets_its_prefix() {
    let debian = DebianKea::of_this_run();
    let (installed, apt) = debian.install_package("serve");
    assert!(apt.contains(&format!("Setting up {PACKAGE} ({})", package_version(debian.kea))), "apt installed the package:\n{apt}");
    assert!(apt.contains(" 1 newly installed, 0 to remove"), "apt installed nothing else:\n{apt}");

    let lab = Lab::start(LabSpec {
        kea_image: Some(installed.name.clone()),
        hook_library: Some("libdhcp_cloudstack.so".to_string()),
        ..LabSpec::default()
    });
    assert_eq!(lab.kea_version(), debian.kea);
    let log = lab.kea_log();
    assert!(log.contains("CLOUDSTACK_LOAD_OK"), "Kea {} loaded the packaged hook:\n{log}", debian.kea);

    let link = lab.add_client_link();
    let mac = link.netns().exec("cat", &[&format!("/sys/class/net/{}/address", link.client_iface())]);
    lab.standin().add_vm(nic_vm("web", parse_mac(mac.trim()), "185.62.101.23", 709));
    let _relay = link.run_router("VLAN709", "client-link-layer");
    assert_eq!(link.dhclient().wait_for_prefix(Duration::from_secs(60)), WEB_PREFIX, "dhclient gets the NIC's /60");

    let kea_dhcp6_server = text(&lab.kea_exec(&["dpkg-query", "-W", "-f", "${Version}", "kea-dhcp6-server"]));
    let depends = text(&lab.kea_exec(&["dpkg-query", "-W", "-f", "${Depends}", PACKAGE]));
    assert!(depends.contains(&format!("kea-dhcp6-server (= {kea_dhcp6_server})")), "the package depends on exactly this Kea: {depends}");
    let listed = text(&lab.kea_exec(&["dpkg", "-L", PACKAGE]));
    let documented = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("kea-config"))
        .expect("read kea-config/")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".conf"))
        .map(|name| format!("{DOC}/examples/{name}"));
    let files = [
        HOOK_LIBRARY.to_string(),
        "/usr/bin/cloudstack-kea".to_string(),
        "/usr/share/man/man1/cloudstack-kea.1.gz".to_string(),
        EXAMPLE.to_string(),
        format!("{DOC}/README.md.gz"),
        format!("{DOC}/copyright"),
        format!("{DOC}/changelog.gz"),
    ];
    for file in files.into_iter().chain(documented) {
        assert!(listed.lines().any(|line| line == file), "the package holds {file}:\n{listed}");
    }

    let parameters = hook_parameters(&lab);
    std::fs::write(lab.host_path("/etc/kea/cloudstack-kea.json"), parameters.to_string()).unwrap();
    let check = lab.kea_exec(&["cloudstack-kea", "check", "--config", "/etc/kea/cloudstack-kea.json"]);
    let said = text(&check);
    assert_eq!(check.status.code(), Some(0), "the packaged cloudstack-kea checks the hook's parameters:\n{said}");
    assert!(said.contains("parameters: ok") && said.contains("VLAN 709") && said.contains("1 NICs"), "{said}");

    let adapted = format!("{} && kea-dhcp6 -t /tmp/kea-dhcp6.conf", copy_example(&format!("kk0/{}", lab.kea_addr()), "/tmp/kea-dhcp6.conf"));
    let example = lab.kea_exec(&["sh", "-c", &adapted]);
    let said = text(&example);
    assert!(example.status.success(), "kea-dhcp6 -t accepts the packaged example on Kea's link, with the installed hook:\n{said}");
    assert!(said.contains(&format!("HOOKS_LIBRARY_CLOSED hooks library {HOOK_LIBRARY}")), "Kea opened the hook to check it:\n{said}");
}

/// The hook parameters the lab gave Kea (paths inside Kea's container), as cloudstack-kea reads them.
fn hook_parameters(lab: &Lab) -> Value {
    let kea: Value = serde_json::from_str(&std::fs::read_to_string(lab.kea_config_path()).unwrap()).unwrap();
    kea["Dhcp6"]["hooks-libraries"][0]["parameters"].clone()
}

/// The operator had configured Kea with the hook (a copy of the packaged example beside Debian's own
/// kea-dhcp6.conf, on the container's one interface), then removes the package — `apt-get remove` on one host,
/// `apt-get purge` on another: apt removes that package alone, dpkg keeps nothing of it (it has no configuration
/// files), Kea's packages stay installed at the same version, Kea's own hooks stay in its hooks directory, every
/// file under /etc/kea keeps its content, mode and owner, and Debian's configuration still passes `kea-dhcp6 -t`.
/// The operator's hook configuration is kept too, and Kea now refuses it for the library that is gone.
#[test]
fn removing_the_package_leaves_debians_kea_installed_working_and_its_configuration_untouched() {
    let debian = DebianKea::of_this_run();
    let (installed, _) = debian.install_package("removal");
    for how in ["remove", "purge"] {
        let host = Container::start(&installed.name, how, &[]);
        let operators = "/etc/kea/kea-dhcp6-cloudstack.conf";
        host.succeeds(&copy_example("lo", operators));
        host.succeeds(&format!("kea-dhcp6 -t {operators}"));
        host.succeeds("kea-dhcp6 -t /etc/kea/kea-dhcp6.conf");

        let etc_kea = "find /etc/kea -type f -exec sha256sum {} + | sort; find /etc/kea -exec stat -c '%a %U:%G %n' {} + | sort";
        let kea_packages = "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' kea-dhcp6-server kea-common";
        let hooks_dir = Path::new(HOOK_LIBRARY).parent().unwrap().display().to_string();
        let kea_hooks = format!("ls {hooks_dir} | grep -vx libdhcp_cloudstack.so");
        let (config_before, packages_before, hooks_before) =
            (host.succeeds(etc_kea), host.succeeds(kea_packages), host.succeeds(&kea_hooks));
        assert!(packages_before.lines().all(|line| line.ends_with(" ii ")), "Kea is installed: {packages_before}");
        assert!(!hooks_before.trim().is_empty(), "Kea ships hooks of its own in {hooks_dir}");

        let apt = host.succeeds(&format!("apt-get {how} -y {PACKAGE}"));
        let removing: Vec<&str> = apt.lines().filter(|line| line.starts_with("Removing ")).collect();
        assert_eq!(removing.len(), 1, "apt-get {how} removes one package:\n{apt}");
        assert!(removing[0].starts_with(&format!("Removing {PACKAGE} (")), "{apt}");

        let left = host.sh(&format!("dpkg-query -W -f '${{db:Status-Abbrev}}' {PACKAGE}"));
        assert!(!left.status.success(), "after apt-get {how} dpkg knows nothing of the package: {}", text(&left));
        host.succeeds(&format!("[ ! -e {HOOK_LIBRARY} ] && [ ! -e /usr/bin/cloudstack-kea ] && [ ! -e {DOC} ]"));
        assert_eq!(host.succeeds(kea_packages), packages_before, "after apt-get {how} Kea's packages are as they were");
        assert_eq!(host.succeeds(&kea_hooks), hooks_before, "after apt-get {how} Kea's own hooks are where they were");
        assert_eq!(host.succeeds(etc_kea), config_before, "after apt-get {how} every file under /etc/kea is untouched");
        host.succeeds("kea-dhcp6 -t /etc/kea/kea-dhcp6.conf");

        let refused = host.sh(&format!("kea-dhcp6 -t {operators}"));
        assert!(!refused.status.success(), "after apt-get {how} Kea refuses the hook configuration:\n{}", text(&refused));
        assert!(text(&refused).contains("libdhcp_cloudstack.so"), "naming the library that is gone:\n{}", text(&refused));
    }
}
