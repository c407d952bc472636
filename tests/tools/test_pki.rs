//! A private CA and server certificates for tests (rcgen, ring backend): what an operator's own CA
//! would issue to a CloudStack management server. Included by path where tests need TLS material
//! (the lab, the stand-in's tests, the hook's client tests), so they all make it the same way.
#![allow(dead_code)] // each includer uses a part

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM: what goes into the hook's `ca-file`.
    pub pem: String,
}

/// A server certificate and its private key, PEM.
pub struct ServerCert {
    /// The leaf certificate.
    pub cert_pem: String,
    /// Its PKCS#8 private key.
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name` (its subject's common name), with a fresh P-256 key.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("test CA: generate a key");
        let pem = params.self_signed(&key).expect("test CA: self-sign").pem();
        TestCa { issuer: Issuer::new(params, key), pem }
    }

    /// A server certificate for exactly `ip` (an IP subjectAltName, as a client checks for a URL with an IP
    /// literal), signed by this CA.
    pub fn server_cert(&self, ip: IpAddr) -> ServerCert {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&ip.to_string());
        params.subject_alt_names = vec![SanType::IpAddress(ip)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("test certificate: generate a key");
        let cert = params.signed_by(&key, &self.issuer).expect("test certificate: sign");
        ServerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
