//! A NIC's MAC address: the identity the provider router vouches for.
use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The MAC as a 48-bit number (first octet most significant).
    pub fn as_u64(self) -> u64 {
        self.0.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
    }

    /// A MAC from exactly six raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }

    /// Parse the textual forms routers and CloudStack use: `06:32:b2:00:03:57`,
    /// `06-32-b2-00-03-57`, `0632.b200.0357` and `0632b2000357` (any case).
    pub fn parse_text(text: &str) -> Option<Mac> {
        let text = text.trim().as_bytes();
        // Which positions hold a separator, and which one: every other position is a hex digit.
        // (12 hex digits have no separator position: `at` is never reached.)
        let (separator, every, at) = match text.len() {
            17 if text[2] == b':' => (b':', 3, 2),
            17 if text[2] == b'-' => (b'-', 3, 2),
            14 => (b'.', 5, 4),
            12 => (0, usize::MAX, usize::MAX),
            _ => return None,
        };
        let mut mac = [0u8; 6];
        let mut nibbles = 0;
        for (i, &b) in text.iter().enumerate() {
            if i % every == at {
                if b != separator {
                    return None;
                }
                continue;
            }
            let value = (b as char).to_digit(16)? as u8;
            mac[nibbles / 2] = (mac[nibbles / 2] << 4) | value;
            nibbles += 1;
        }
        (nibbles == 12).then_some(Mac(mac))
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(text: &str) -> Result<Mac, String> {
        Mac::parse_text(text).ok_or_else(|| format!("'{text}' is not a MAC address"))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_textual_form_a_router_may_send_names_the_same_mac() {
        let expected = Mac([0x06, 0x32, 0xb2, 0x00, 0x03, 0x57]);
        for text in ["06:32:b2:00:03:57", "06-32-B2-00-03-57", "0632.b200.0357", "0632B2000357"] {
            assert_eq!(Mac::parse_text(text), Some(expected), "{text}");
        }
        assert_eq!(expected.to_string(), "06:32:b2:00:03:57");
        assert_eq!(expected.as_u64(), 0x0632_b200_0357);
    }

    #[test]
    fn near_misses_are_not_macs() {
        for text in ["06:32:b2:00:03", "06:32:b2:00:03:5g", "06:32-b2:00:03:57", "0632.b2000.357", ""] {
            assert_eq!(Mac::parse_text(text), None, "{text}");
        }
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Mac, D::Error> {
        struct MacText;
        impl serde::de::Visitor<'_> for MacText {
            type Value = Mac;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a MAC address as text")
            }
            // Borrowed or not, the text is read in place: no copy per MAC.
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Mac, E> {
                Mac::parse_text(text).ok_or_else(|| E::custom(format!("'{text}' is not a MAC address")))
            }
        }
        deserializer.deserialize_str(MacText)
    }
}
