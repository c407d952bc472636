//! Request verification with the rules of CloudStack's API server.
//!
//! The point of the stand-in is to refuse what CloudStack refuses, so the rules below are CloudStack's, including
//! its quirks: parameter names are sorted case-sensitively but the signed string is lower-cased afterwards; values
//! are the *decoded* values, re-encoded the way Java's `URLEncoder` does with spaces as `%20`; a `+` the client left
//! unencoded in the query reaches the server as a space.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::timestamp::parse_expires;

/// Request parameters as the API server sees them: the first value of each name, ordered by name bytes.
///
/// A `BTreeMap<String, _>` orders keys by byte value, which for parameter names is the case-sensitive order
/// CloudStack sorts them in (upper-case letters before lower-case ones).
pub type Params = BTreeMap<String, String>;

/// The one key pair the stand-in accepts.
#[derive(Clone)]
pub struct Credentials {
    /// Public half, sent by clients as `apiKey`.
    pub api_key: String,
    /// Private half, never sent: it only keys the HMAC.
    pub secret_key: String,
}

impl fmt::Debug for Credentials {
    // The secret must not end up in a log or a test failure message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("api_key", &self.api_key).field("secret_key", &"<hidden>").finish()
    }
}

/// Why a request was not accepted as signed by the known key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No parameter named `signature` (any case).
    MissingSignature,
    /// No parameter named `apiKey` (any case).
    MissingApiKey,
    /// `signatureVersion=3` without `expires`.
    MissingExpires,
    /// `expires` is not an ISO 8601 time with zone.
    MalformedExpires,
    /// `expires` lies in the past.
    Expired,
    /// The `apiKey` belongs to no user.
    UnknownApiKey,
    /// The signature does not match the one computed with the user's secret key.
    SignatureMismatch,
}

impl Refusal {
    /// Short reason, recorded in the request log so a failing test says why it was refused.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingSignature => "no signature parameter",
            Refusal::MissingApiKey => "no apiKey parameter",
            Refusal::MissingExpires => "signatureVersion 3 without expires",
            Refusal::MalformedExpires => "expires is not an ISO 8601 time with zone",
            Refusal::Expired => "request expired",
            Refusal::UnknownApiKey => "unknown apiKey",
            Refusal::SignatureMismatch => "signature mismatch",
        }
    }
}

/// A value encoded like Java's `URLEncoder.encode(value, "UTF-8")` followed by replacing `+` with `%20`.
///
/// `form_urlencoded::byte_serialize` keeps the same set Java keeps (letters, digits, `.`, `-`, `*`, `_`), writes
/// upper-case hex and turns spaces into `+`; a literal `+` in the value has become `%2B` by then, so every `+`
/// left in the output stands for a space.
pub fn java_url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The string CloudStack signs: every parameter except `signature`, sorted by name, `name=encoded value`,
/// joined with `&`, all lower-cased.
pub fn string_to_sign(params: &Params) -> String {
    let mut pairs = Vec::with_capacity(params.len());
    for (name, value) in params {
        if name.eq_ignore_ascii_case("signature") {
            continue;
        }
        pairs.push(format!("{name}={}", java_url_encode(value)));
    }
    pairs.join("&").to_lowercase()
}

/// Base64 (standard alphabet, padded) of HMAC-SHA1 over `text` keyed with `secret_key`.
pub fn sign(secret_key: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Accepts the request if it is signed by `credentials` and, for signature version 3, not expired at `now_unix`.
///
/// The checks run in CloudStack's order, so a request with several faults is refused for the same one.
pub fn verify(params: &Params, credentials: &Credentials, now_unix: i64) -> Result<(), Refusal> {
    // CloudStack spots these four names case-insensitively; with duplicates in different cases, the one sorted last
    // wins, as it does when the server walks the sorted names.
    let mut signature = None;
    let mut api_key = None;
    let mut signature_version = None;
    let mut expires = None;
    for (name, value) in params {
        let slot = if name.eq_ignore_ascii_case("signature") {
            &mut signature
        } else if name.eq_ignore_ascii_case("apiKey") {
            &mut api_key
        } else if name.eq_ignore_ascii_case("signatureVersion") {
            &mut signature_version
        } else if name.eq_ignore_ascii_case("expires") {
            &mut expires
        } else {
            continue;
        };
        *slot = Some(value.as_str());
    }

    let signature = signature.ok_or(Refusal::MissingSignature)?;
    let api_key = api_key.ok_or(Refusal::MissingApiKey)?;
    if signature_version == Some("3") {
        let expires = expires.ok_or(Refusal::MissingExpires)?;
        let expires_at = parse_expires(expires).ok_or(Refusal::MalformedExpires)?;
        if expires_at < now_unix {
            return Err(Refusal::Expired);
        }
    }
    if api_key != credentials.api_key {
        return Err(Refusal::UnknownApiKey);
    }
    let expected = sign(&credentials.secret_key, &string_to_sign(params));
    if constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::SignatureMismatch)
    }
}

/// Equality that takes the same time wherever the first difference is, as the real server compares signatures.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signer;

    const SECRET: &str = "Secret+/=xyz";

    fn credentials() -> Credentials {
        Credentials { api_key: "Key-ABC_123".into(), secret_key: SECRET.into() }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn listing() -> Vec<(&'static str, &'static str)> {
        vec![
            ("command", "listVirtualMachines"),
            ("apiKey", "Key-ABC_123"),
            ("response", "json"),
            ("listall", "true"),
            ("page", "2"),
            ("pagesize", "500"),
            ("zoneid", "z 1/é*~"),
        ]
    }

    #[test]
    fn the_signed_string_is_sorted_encoded_the_java_way_and_lower_cased() {
        // Written out by hand: apiKey sorts first (byte order), the space becomes %20, '/' and 'é' are percent-encoded
        // (then lower-cased with everything else), '*' stays, '~' is encoded as Java does.
        let expected = "apikey=key-abc_123&command=listvirtualmachines&listall=true&page=2&pagesize=500\
&response=json&zoneid=z%201%2f%c3%a9*%7e";
        assert_eq!(string_to_sign(&params(&listing())), expected);
    }

    #[test]
    fn a_signature_computed_elsewhere_is_accepted() {
        // Computed with Python's hmac, hashlib.sha1 and base64 over the string of the test above.
        let mut request = listing();
        request.push(("signature", "s40GSg+UxM/3Hu9jTs28sN63g30="));
        assert_eq!(verify(&params(&request), &credentials(), 0), Ok(()));
        assert_eq!(test_signer::signature(&listing(), SECRET), "s40GSg+UxM/3Hu9jTs28sN63g30=");
    }

    #[test]
    fn a_tampered_value_is_refused() {
        let mut request = listing();
        request.push(("signature", "s40GSg+UxM/3Hu9jTs28sN63g30="));
        let mut tampered = params(&request);
        tampered.insert("page".into(), "3".into());
        assert_eq!(verify(&tampered, &credentials(), 0), Err(Refusal::SignatureMismatch));
    }

    #[test]
    fn renaming_a_parameter_to_upper_case_moves_it_in_the_sort_and_breaks_the_signature() {
        let signed = test_signer::signature(&listing(), SECRET);
        let mut renamed: Vec<(&str, &str)> =
            listing().into_iter().map(|(n, v)| if n == "zoneid" { ("Zoneid", v) } else { (n, v) }).collect();
        renamed.push(("signature", &signed));
        // Lower-casing alone would hide the change; the case-sensitive sort does not ('Z' sorts before 'a').
        assert_eq!(verify(&params(&renamed), &credentials(), 0), Err(Refusal::SignatureMismatch));
    }

    #[test]
    fn a_client_that_sorts_case_insensitively_is_refused_when_it_matters() {
        let request = vec![("command", "listVirtualMachines"), ("apiKey", "Key-ABC_123"), ("Zoneid", "z1")];
        let mut sloppy_order = request.clone();
        sloppy_order.sort_by_key(|(n, _)| n.to_lowercase());
        let text = sloppy_order.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&").to_lowercase();
        let mut sent = request.clone();
        let signature = sign(SECRET, &text);
        sent.push(("signature", &signature));
        assert_eq!(verify(&params(&sent), &credentials(), 0), Err(Refusal::SignatureMismatch));
    }

    #[test]
    fn a_request_signed_with_another_secret_is_refused() {
        let signed = test_signer::signature(&listing(), "not-the-secret");
        let mut request = listing();
        request.push(("signature", &signed));
        assert_eq!(verify(&params(&request), &credentials(), 0), Err(Refusal::SignatureMismatch));
    }

    #[test]
    fn an_unknown_api_key_or_missing_parts_are_refused() {
        let mut other_key = listing();
        other_key[1] = ("apiKey", "someone-else");
        let signed = test_signer::signature(&other_key, SECRET);
        other_key.push(("signature", &signed));
        assert_eq!(verify(&params(&other_key), &credentials(), 0), Err(Refusal::UnknownApiKey));

        assert_eq!(verify(&params(&listing()), &credentials(), 0), Err(Refusal::MissingSignature));
        let no_key = vec![("command", "listVirtualMachines"), ("signature", "x")];
        assert_eq!(verify(&params(&no_key), &credentials(), 0), Err(Refusal::MissingApiKey));
    }

    #[test]
    fn parameter_names_of_the_credentials_are_matched_in_any_case() {
        // CloudStack finds 'apikey' and 'Signature' too; the signed string then uses the names as sent.
        let request = vec![("command", "listVirtualMachines"), ("apikey", "Key-ABC_123")];
        let signed = test_signer::signature(&request, SECRET);
        let mut sent = request.clone();
        sent.push(("Signature", &signed));
        assert_eq!(verify(&params(&sent), &credentials(), 0), Ok(()));
    }

    #[test]
    fn version_3_needs_a_valid_unexpired_expires() {
        let now = parse_expires("2026-11-22T23:50:00Z").unwrap();
        let signed_with = |expires: Option<&'static str>| {
            let mut request = listing();
            request.push(("signatureVersion", "3"));
            if let Some(expires) = expires {
                request.push(("expires", expires));
            }
            let signature = test_signer::signature(&request, SECRET);
            let mut all = params(&request);
            all.insert("signature".into(), signature);
            all
        };
        assert_eq!(verify(&signed_with(None), &credentials(), now), Err(Refusal::MissingExpires));
        assert_eq!(verify(&signed_with(Some("tomorrow")), &credentials(), now), Err(Refusal::MalformedExpires));
        assert_eq!(verify(&signed_with(Some("2026-11-22T23:49:59+0000")), &credentials(), now), Err(Refusal::Expired));
        // The very second of expiry is still accepted: the server refuses only times strictly before now.
        assert_eq!(verify(&signed_with(Some("2026-11-22T23:50:00+0000")), &credentials(), now), Ok(()));
        assert_eq!(verify(&signed_with(Some("2026-11-23T00:50:00+01:00")), &credentials(), now), Ok(()));
    }

    #[test]
    fn without_version_3_an_old_expires_is_just_another_signed_parameter() {
        let mut request = listing();
        request.push(("expires", "2000-01-01T00:00:00Z"));
        let signed = test_signer::signature(&request, SECRET);
        request.push(("signature", &signed));
        assert_eq!(verify(&params(&request), &credentials(), i64::MAX), Ok(()));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert!(!format!("{:?}", credentials()).contains(SECRET));
    }
}
