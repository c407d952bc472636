//! Which Kea an image runs, asked once per image and test process (`kea-dhcp6 -v` in the image), so the lab
//! writes a configuration that Kea release accepts and the stories know which release they face.
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use super::host::output;

/// The Kea releases the project builds for: 2.6 (Debian trixie) and 3.0 (trixie-backports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeaVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KeaVersion {
    /// "2.6" or "3.0": the `KEA` build argument and the image tag suffix of this release.
    pub fn series(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// Kea 3.0 or later (control-sockets, lease caching on by default, renamed libraries).
    pub fn is_3_0_or_later(&self) -> bool {
        (self.major, self.minor) >= (3, 0)
    }

    fn parse(text: &str) -> Option<KeaVersion> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        let version = KeaVersion { major: parts.next()??, minor: parts.next()??, patch: parts.next()?? };
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for KeaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The Kea release in `image`; panics with what `kea-dhcp6 -v` said when it is not a version this lab knows.
pub fn of_image(image: &str) -> KeaVersion {
    static KNOWN: OnceLock<Mutex<HashMap<String, KeaVersion>>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(version) = known.lock().unwrap().get(image) {
        return *version;
    }
    let out = output("docker", &["run", "--rm", "--network", "none", "--entrypoint", "kea-dhcp6", image, "-v"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = KeaVersion::parse(&said).filter(|_| out.status.success()).unwrap_or_else(|| {
        panic!(
            "lab: `kea-dhcp6 -v` in image {image:?} did not print a Kea version ({}): {said:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if !matches!((version.major, version.minor), (2, 6) | (3, 0)) {
        panic!("lab: image {image:?} runs Kea {version}; the lab writes configurations for Kea 2.6 and 3.0 only");
    }
    known.lock().unwrap().insert(image.to_string(), version);
    version
}

#[cfg(test)]
mod tests {
    use super::KeaVersion;

    #[test]
    fn kea_dhcp6_v_reads_as_a_version() {
        let v = KeaVersion::parse("3.0.3\n").unwrap();
        assert_eq!((v.major, v.minor, v.patch, v.series()), (3, 0, 3, "3.0".to_string()));
        assert!(v.is_3_0_or_later());
        assert!(!KeaVersion::parse("2.6.3").unwrap().is_3_0_or_later());
        assert_eq!(KeaVersion::parse("3.0.3 (tarball)"), None);
        assert_eq!(KeaVersion::parse("3.0"), None);
    }
}
