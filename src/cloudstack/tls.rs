//! Which certificates the API client trusts. Without `ca-file`, ureq's own rustls configuration:
//! the system trust store. With `ca-file`, a rustls client configuration of ours that trusts the
//! CAs of that file and nothing else (a private CA). Either way rustls checks that the
//! certificate names the URL's host, or its IP address for an IP literal.
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(all(test, feature = "test-tools"))]
#[path = "../../tests/tools/test_pki.rs"]
pub(crate) mod test_pki;

/// A CA file larger than this is a mistake (the whole Mozilla bundle is about 220 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The CAs of `ca-file`, read and checked once at load, as a rustls client configuration.
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    certificates: usize,
    config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaFile({}, {} certificates)", self.path.display(), self.certificates)
    }
}

impl CaFile {
    /// Reads the PEM file at `path`: every `CERTIFICATE` block in it becomes a trusted CA.
    /// Err says what is wrong with the file, in words that follow its path ("cannot be read: …").
    pub fn read(path: &Path) -> Result<CaFile, String> {
        let pem = read_bounded(path)?;
        let mut roots = rustls::RootCertStore::empty();
        let mut certificates = 0;
        for (n, block) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let der = block.map_err(|e| format!("is not a readable PEM file: {e}"))?;
            roots.add(der).map_err(|e| format!("certificate {} is not usable as a CA: {e}", n + 1))?;
            certificates += 1;
        }
        if certificates == 0 {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string());
        }
        // The crypto provider and protocol versions ureq's default configuration uses.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot make a TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(CaFile { path: path.to_path_buf(), certificates, config: Arc::new(config) })
    }

    /// Where the CAs came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many CA certificates the file holds.
    pub fn certificates(&self) -> usize {
        self.certificates
    }

    /// The rustls client configuration that trusts exactly these CAs.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.config)
    }
}

/// The whole file, refusing anything that is not a regular file of sensible size (a device or a
/// FIFO given by mistake would otherwise block or never end Kea's load).
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(format!("is larger than {} MiB", MAX_CA_FILE_BYTES / 1024 / 1024));
    }
    Ok(bytes)
}

/// What the client trusts, for error messages: "the CAs of 'ca-file' /x" or "the system trust store".
pub fn trusted(ca_file: Option<&CaFile>) -> String {
    match ca_file {
        Some(ca) => format!("the CAs of 'ca-file' {}", ca.path.display()),
        None => "the system trust store".to_string(),
    }
}

/// The certificate rustls refused during a failed connection, if that is why it failed.
pub fn refused_certificate<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::CertificateError> {
    let mut next = Some(error);
    while let Some(error) = next {
        // rustls's errors reach ureq wrapped in an io::Error, whose source() skips the wrapped error.
        let inner = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|e| e as &(dyn std::error::Error + 'static));
        for candidate in [Some(error), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(why)) = candidate.downcast_ref::<rustls::Error>() {
                return Some(why);
            }
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, content: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("kc-ca-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_file_without_a_certificate_or_with_a_damaged_one_is_refused() {
        let key_only = file_with("key", b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n");
        assert!(CaFile::read(&key_only).unwrap_err().contains("holds no PEM certificate"));
        let empty = file_with("empty", b"");
        assert!(CaFile::read(&empty).unwrap_err().contains("holds no PEM certificate"));
        let not_der = file_with("notder", b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n");
        assert!(CaFile::read(&not_der).unwrap_err().contains("certificate 1 is not usable as a CA"));
        let cut = file_with("cut", b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n");
        assert!(CaFile::read(&cut).unwrap_err().contains("is not a readable PEM file"));
        for path in [key_only, empty, not_der, cut] {
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn a_missing_file_a_directory_or_a_device_is_refused_without_blocking() {
        assert!(CaFile::read(Path::new("/nonexistent/ca.pem")).unwrap_err().starts_with("cannot be read: "));
        assert_eq!(CaFile::read(Path::new("/")).unwrap_err(), "is not a regular file");
        assert_eq!(CaFile::read(Path::new("/dev/zero")).unwrap_err(), "is not a regular file");
    }
}
