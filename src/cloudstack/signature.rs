//! Request signing as CloudStack's ApiServer verifies it: parameters sorted by name, values
//! encoded like Java's URLEncoder (space as %20), the whole string lower-cased, HMAC-SHA1
//! with the secret key, standard base64. Signature version 3 adds an expiry.
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a signed request stays valid (signature version 3).
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(300);

/// A value encoded the way CloudStack re-encodes it before checking the signature.
pub fn encode_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The query string for `params`, with `apiKey`, version-3 expiry and `signature` added.
pub fn signed_query(params: &[(&str, String)], api_key: &str, secret: &str, now: SystemTime) -> String {
    let expires = iso8601_utc(now + REQUEST_LIFETIME);
    let mut all: Vec<(&str, String)> = params.to_vec();
    all.push(("apiKey", api_key.to_string()));
    all.push(("signatureVersion", "3".to_string()));
    all.push(("expires", expires));
    all.sort_by(|a, b| a.0.cmp(b.0));
    let query = all.iter().map(|(name, value)| format!("{name}={}", encode_value(value))).collect::<Vec<_>>().join("&");
    let signature = sign(&query, secret);
    format!("{query}&signature={}", encode_value(&signature))
}

/// HMAC-SHA1 of the lower-cased query string, base64.
pub fn sign(query: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(query.to_lowercase().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `2026-11-22T23:50:00+0000`: the form CloudStack parses for `expires`.
pub fn iso8601_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+0000", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_like_javas_url_encoder_with_spaces_as_percent_20() {
        assert_eq!(encode_value("a b*c-d_e.f~g/h+i"), "a%20b*c-d_e.f%7Eg%2Fh%2Bi");
        assert_eq!(encode_value("2026-11-22T23:50:00+0000"), "2026-11-22T23%3A50%3A00%2B0000");
    }

    #[test]
    fn the_signature_is_over_the_lower_cased_sorted_query() {
        // Reference value computed independently: python3 -c "import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b'secret', b'apikey=key&command=listzones',
        // hashlib.sha1).digest()).decode())"
        assert_eq!(sign("apiKey=KEY&command=listZones", "secret"), "CSMVXb4Zy5ZfprN3Tb3ktCi7IFs=");
    }

    #[test]
    fn a_signed_query_is_sorted_and_ends_with_the_signature() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_392_000);
        let q = signed_query(&[("command", "listVirtualMachines".into()), ("page", "1".into())], "K", "S", now);
        let names: Vec<&str> = q.split('&').map(|kv| kv.split('=').next().unwrap()).collect();
        assert_eq!(names, ["apiKey", "command", "expires", "page", "signatureVersion", "signature"]);
        assert!(q.contains("expires=2026-11-23T00%3A05%3A00%2B0000"), "{q}");
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00+0000");
        assert_eq!(iso8601_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00+0000");
    }
}
