//! A client-side signer for the tests, written independently of `signature.rs` so the two check each other.
//!
//! It spells the algorithm out the way CloudStack's API documentation tells a client to: sort, encode every byte
//! outside `A-Z a-z 0-9 . - * _`, lower-case, HMAC-SHA1, base64.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Percent-encodes every byte except the ones Java's `URLEncoder` leaves alone; spaces become `%20`.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        let kept = byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'*' | b'_');
        if kept {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The signature a correct client sends for these parameters (names sorted case-sensitively).
pub fn signature(pairs: &[(&str, &str)], secret: &str) -> String {
    let mut sorted: Vec<&(&str, &str)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined: Vec<String> = sorted.iter().map(|(name, value)| format!("{name}={}", encode(value))).collect();
    let text = joined.join("&").to_lowercase();
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A complete query string: the parameters in the order given, then the signature, all percent-encoded.
pub fn signed_query(pairs: &[(&str, &str)], secret: &str) -> String {
    let signature = signature(pairs, secret);
    let mut parts: Vec<String> = pairs.iter().map(|(name, value)| format!("{name}={}", encode(value))).collect();
    parts.push(format!("signature={}", encode(&signature)));
    parts.join("&")
}
