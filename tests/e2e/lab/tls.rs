//! The lab's TLS material: a private CA made for this lab alone, and a certificate for the stand-in's IPv6
//! address. Kea's `ca-file` holds the lab's CA, so every story syncs over verified HTTPS, as a deployment with
//! its own CA does. A story can instead have the stand-in's certificate come from another CA, or serve plain HTTP.
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::test_pki::TestCa;

/// How the hook reaches the lab's stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandinTls {
    /// HTTPS with a certificate from the lab's CA, the CA Kea's `ca-file` holds (every story's default).
    LabCa,
    /// HTTPS with a certificate from another CA than the one in Kea's `ca-file`.
    ForeignCa,
    /// Plain HTTP: an `http://` api-url and no `ca-file`; the story decides about `allow-plain-http`.
    PlainHttp,
}

/// The CA file Kea is given, inside the container (the lab's etc/ is /etc/kea).
pub const CA_FILE: &str = "/etc/kea/cloudstack-ca.pem";

/// What the stand-in serves HTTPS with, and who signed it.
pub struct StandinCert {
    /// PEM certificate for the stand-in's address.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA certificate (PEM) that signed it: what a client must trust to talk to the stand-in.
    pub signer_pem: String,
}

impl StandinCert {
    /// A rustls client configuration trusting exactly the CA that signed the stand-in's certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        client_config_trusting(&self.signer_pem)
    }
}

/// Makes the lab's CA (written to `etc_dir` as Kea's CA file) and, unless the stand-in serves plain HTTP, the
/// stand-in's certificate for `standin_addr` under `work_dir/standin-tls/`.
pub fn make(mode: StandinTls, etc_dir: &Path, work_dir: &Path, standin_addr: Ipv6Addr) -> Option<StandinCert> {
    if mode == StandinTls::PlainHttp {
        return None;
    }
    let lab_ca = TestCa::new("kea-cloudstack lab CA");
    std::fs::write(etc_dir.join(file_name(CA_FILE)), &lab_ca.pem).expect("lab: write the CA file");
    let foreign_ca;
    let signer = if mode == StandinTls::ForeignCa {
        foreign_ca = TestCa::new("some other CA");
        &foreign_ca
    } else {
        &lab_ca
    };
    let issued = signer.server_cert(IpAddr::V6(standin_addr));
    let dir = work_dir.join("standin-tls");
    std::fs::create_dir_all(&dir).expect("lab: create standin-tls/");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &issued.cert_pem).expect("lab: write the stand-in's certificate");
    std::fs::write(&key, &issued.key_pem).expect("lab: write the stand-in's key");
    std::fs::write(dir.join("signer-ca.pem"), &signer.pem).expect("lab: write the signer's CA");
    Some(StandinCert { cert, key, signer_pem: signer.pem.clone() })
}

/// The last component of a container path such as `CA_FILE`.
pub fn file_name(container_path: &str) -> &str {
    container_path.rsplit('/').next().unwrap_or(container_path)
}

/// A rustls client configuration trusting exactly the CA certificates of `pem`.
pub fn client_config_trusting(pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("lab: a PEM certificate")).expect("lab: a usable CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("lab: TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
