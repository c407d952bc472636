//! The client against a one-shot HTTPS server on loopback: with `ca-file` it talks only to a server
//! whose certificate chains to those CAs and names the URL's IP; it never sends its signed request
//! to any other.
use super::*;
use crate::cloudstack::tls::test_pki::{ServerCert, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv6Addr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

const LOOPBACK: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Serves one connection with `cert`: answers an empty VM listing. Joins to the request line the
/// server read, or None when no request arrived (the handshake failed).
fn serve_once(cert: &ServerCert) -> (u16, JoinHandle<Option<String>>) {
    let chain = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (socket, _) = listener.accept().ok()?;
        socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
        let tls = rustls::ServerConnection::new(Arc::new(config)).ok()?;
        let mut stream = BufReader::new(rustls::StreamOwned::new(tls, socket));
        let mut request_line = String::new();
        stream.read_line(&mut request_line).ok()?;
        let mut line = String::new();
        while stream.read_line(&mut line).ok()? > 2 {
            line.clear();
        }
        let body = r#"{"listvirtualmachinesresponse": {}}"#;
        let answer = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        stream.get_mut().write_all(answer.as_bytes()).ok()?;
        stream.get_mut().flush().ok()?;
        Some(request_line)
    });
    (port, server)
}

fn client_trusting(ca: &TestCa, port: u16) -> (ApiClient, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("kc-client-ca-{}-{port}", std::process::id()));
    std::fs::write(&path, &ca.pem).unwrap();
    let cfg = HookConfig::from_json(&serde_json::json!({
        "api-url": format!("https://[::1]:{port}/client/api"), "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
        "ca-file": path.to_str().unwrap(), "request-timeout": 10,
        "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
    }))
    .unwrap();
    (ApiClient::new(&cfg, "s"), path)
}

fn list(client: &ApiClient) -> Result<usize, ApiError> {
    let mut read = 0;
    client.page_through(crate::cloudstack::Pass::OutsideProjects, &AtomicBool::new(false), &mut |page| {
        read += page.vms.len();
        true
    })?;
    Ok(read)
}

#[test]
fn with_the_right_ca_and_a_certificate_for_the_ip_the_listing_goes_through() {
    let ca = TestCa::new("operator CA");
    let (port, server) = serve_once(&ca.server_cert(LOOPBACK));
    let (client, path) = client_trusting(&ca, port);
    // One pass only reaches the server: the one-shot server closes, the project pass then fails.
    let outcome = client.list_vms_page(None, 1);
    std::fs::remove_file(path).unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    let request = server.join().unwrap().expect("the server got the request");
    assert!(request.starts_with("GET /client/api?") && request.contains("command=listVirtualMachines"), "{request}");
}

#[test]
fn a_certificate_from_another_ca_is_refused_before_any_request_is_sent() {
    let (trusted, impostor) = (TestCa::new("operator CA"), TestCa::new("someone else's CA"));
    let (port, server) = serve_once(&impostor.server_cert(LOOPBACK));
    let (client, path) = client_trusting(&trusted, port);
    let outcome = list(&client);
    std::fs::remove_file(&path).unwrap();
    let Err(ApiError::Transport(text)) = outcome else { panic!("{outcome:?}") };
    assert!(text.starts_with("TLS certificate verification failed (UnknownIssuer; trusted: the CAs of 'ca-file' "), "{text}");
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert_eq!(server.join().unwrap(), None, "the signed request never reached the impostor");
}

#[test]
fn a_certificate_for_another_address_is_refused_even_from_the_right_ca() {
    let ca = TestCa::new("operator CA");
    let (port, server) = serve_once(&ca.server_cert("fd00:4b43::99".parse().unwrap()));
    let (client, path) = client_trusting(&ca, port);
    let outcome = list(&client);
    std::fs::remove_file(path).unwrap();
    let Err(ApiError::Transport(text)) = outcome else { panic!("{outcome:?}") };
    assert!(text.contains("certificate not valid for name \"::1\""), "{text}");
    assert_eq!(server.join().unwrap(), None);
}

#[test]
fn without_ca_file_the_system_trust_store_does_not_know_a_private_ca() {
    let ca = TestCa::new("private CA");
    let (port, server) = serve_once(&ca.server_cert(LOOPBACK));
    let cfg = HookConfig::from_json(&serde_json::json!({
        "api-url": format!("https://[::1]:{port}/client/api"), "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
        "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
    }))
    .unwrap();
    let outcome = list(&ApiClient::new(&cfg, "s"));
    let Err(ApiError::Transport(text)) = outcome else { panic!("{outcome:?}") };
    assert!(text.contains("UnknownIssuer; trusted: the system trust store"), "{text}");
    assert_eq!(server.join().unwrap(), None);
}
