//! The command line of the stand-in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::latency::Latency;
use crate::server_zone::ServerZone;

/// How to start the program; printed for `--help` and after every command-line error.
pub const USAGE: &str = "usage: cloudstack-standin --listen ADDR:PORT --api-key K --secret-key S \
[--cloud FILE.json | --sample-cloud N] [--default-page-size 500] [--tls-cert CERT.pem --tls-key KEY.pem] \
[--blackhole-listen ADDR:PORT] [--utc-offset +HH:MM] [--latency off|cloudstack] [--latency-request-ms MS] \
[--latency-row-us US] [--latency-offset-us US] [--api-workers N]
  --latency cloudstack: as slow as a real management server with a big database (see latency.rs: 25 ms a request,
  500 us a VM row, 20 us a row skipped by the OFFSET, 4 requests at once); the --latency-* and --api-workers flags
  set one cost each (0: none; workers 0: no limit), over the preset whatever their order. Default: off.";

/// CloudStack's own `default.page.size` when the operator did not change it.
pub const CLOUDSTACK_DEFAULT_PAGE_SIZE: u32 = 500;

/// The sample generator gives every VM its own IPv4 address; past this many VMs its address plan runs out.
pub const MAX_SAMPLE_VMS: usize = 4_000_000;

/// Where the cloud the stand-in starts with comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudSource {
    /// No VM at all; tests fill it through `/control/`.
    Empty,
    /// A cloud file in the same shape `PUT /control/cloud` takes.
    File(PathBuf),
    /// The deterministic sample cloud with this many VMs.
    Sample(usize),
}

/// The certificate HTTPS is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then any intermediate CA certificates.
    pub cert: PathBuf,
    /// PEM: the certificate's PKCS#8 private key.
    pub key: PathBuf,
}

/// Everything the command line decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port (printed on the first stdout line).
    pub listen: SocketAddr,
    /// The only API key the stand-in knows.
    pub api_key: String,
    /// The secret key that belongs to `api_key`.
    pub secret_key: String,
    /// The initial cloud.
    pub cloud: CloudSource,
    /// The server's `default.page.size`: the largest allowed `pagesize` and the size of an unpaged answer.
    pub default_page_size: u32,
    /// Serve HTTPS with this certificate; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// A second API address that the `blackhole-connect` fault turns into a black hole (`blackhole.rs`).
    pub blackhole_listen: Option<SocketAddr>,
    /// The management server's time zone (how dates are written and `startdate`/`enddate` read).
    pub zone: ServerZone,
    /// How slowly API requests are answered (`latency.rs`).
    pub latency: Latency,
}

impl Options {
    /// Reads the arguments (without the program name); `Err` carries a one-line reason.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
        let mut listen = None;
        let mut api_key = None;
        let mut secret_key = None;
        let mut cloud_file = None;
        let mut sample = None;
        let mut default_page_size = CLOUDSTACK_DEFAULT_PAGE_SIZE;
        let (mut tls_cert, mut tls_key) = (None, None);
        let mut blackhole_listen = None;
        let mut zone = ServerZone::UTC;
        let mut preset = Latency::default();
        let (mut request_ms, mut row_us, mut offset_us, mut workers) = (None, None, None, None);

        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // Both `--name value` and `--name=value` are accepted, as most tools do.
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || -> Result<String, String> {
                match inline.clone() {
                    Some(value) => Ok(value),
                    None => args.next().ok_or_else(|| format!("'{name}' needs a value")),
                }
            };
            let address = |text: String| {
                text.parse::<SocketAddr>()
                    .map_err(|_| format!("'{name}' must be ADDR:PORT (IPv6 as [ADDR]:PORT), not '{text}'"))
            };
            match name.as_str() {
                "--listen" => listen = Some(address(value()?)?),
                "--blackhole-listen" => blackhole_listen = Some(address(value()?)?),
                "--api-key" => api_key = Some(value()?),
                "--secret-key" => secret_key = Some(value()?),
                "--cloud" => cloud_file = Some(PathBuf::from(value()?)),
                "--sample-cloud" => {
                    let text = value()?;
                    let count = text
                        .parse::<usize>()
                        .map_err(|_| format!("'--sample-cloud' must be a VM count, not '{text}'"))?;
                    if count > MAX_SAMPLE_VMS {
                        return Err(format!("'--sample-cloud' allows at most {MAX_SAMPLE_VMS} VMs"));
                    }
                    sample = Some(count);
                }
                "--default-page-size" => {
                    let text = value()?;
                    default_page_size = match text.parse::<u32>() {
                        Ok(size) if size >= 1 => size,
                        _ => return Err(format!("'--default-page-size' must be a positive number, not '{text}'")),
                    };
                }
                "--utc-offset" => zone = ServerZone::parse(&value()?).map_err(|e| format!("'--utc-offset': {e}"))?,
                "--latency" => {
                    preset = match value()?.as_str() {
                        "off" => Latency::default(),
                        "cloudstack" => Latency::CLOUDSTACK,
                        other => return Err(format!("'--latency' is off or cloudstack, not '{other}'")),
                    }
                }
                "--latency-request-ms" => request_ms = Some(count(&name, value()?)?),
                "--latency-row-us" => row_us = Some(count(&name, value()?)?),
                "--latency-offset-us" => offset_us = Some(count(&name, value()?)?),
                "--api-workers" => workers = Some(count(&name, value()?)?),
                "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
                "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown argument '{other}'")),
            }
        }

        let cloud = match (cloud_file, sample) {
            (Some(_), Some(_)) => return Err("'--cloud' and '--sample-cloud' exclude each other".into()),
            (Some(file), None) => CloudSource::File(file),
            (None, Some(count)) => CloudSource::Sample(count),
            (None, None) => CloudSource::Empty,
        };
        let api_key = api_key.ok_or("'--api-key' is mandatory")?;
        let secret_key = secret_key.ok_or("'--secret-key' is mandatory")?;
        if api_key.is_empty() || secret_key.is_empty() {
            // An empty key would make every unsigned-looking request a candidate; refuse it up front.
            return Err("'--api-key' and '--secret-key' must not be empty".into());
        }
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err("'--tls-cert' and '--tls-key' go together: give both or neither".into()),
        };
        let listen = listen.ok_or("'--listen' is mandatory")?;
        let latency = Latency {
            request: request_ms.map_or(preset.request, Duration::from_millis),
            row: row_us.map_or(preset.row, Duration::from_micros),
            skipped_row: offset_us.map_or(preset.skipped_row, Duration::from_micros),
            workers: workers.map_or(preset.workers, |n| n as usize),
        };
        Ok(Options { listen, api_key, secret_key, cloud, default_page_size, tls, blackhole_listen, zone, latency })
    }
}

/// A whole number for a latency flag.
fn count(name: &str, text: String) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| format!("'{name}' must be a whole number, not '{text}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Options, String> {
        Options::parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn an_operator_starts_it_on_an_ipv6_address_with_a_sample_cloud() {
        let options = parse("--listen [fd00:4b43:1::2]:8080 --api-key K --secret-key S --sample-cloud 1200").unwrap();
        assert_eq!(options.listen, "[fd00:4b43:1::2]:8080".parse().unwrap());
        assert_eq!(options.cloud, CloudSource::Sample(1200));
        assert_eq!(options.default_page_size, 500);
        assert_eq!(options.tls, None, "plain HTTP unless a certificate is given");
        assert_eq!(options.blackhole_listen, None);
        assert!(options.latency.is_off(), "as fast as it can unless told otherwise");
        assert_eq!(options.zone, ServerZone::UTC);
    }

    #[test]
    fn a_benchmark_makes_it_as_slow_as_cloudstack_and_tunes_one_cost() {
        let base = "--listen [::1]:0 --api-key K --secret-key S";
        assert_eq!(parse(&format!("{base} --latency cloudstack")).unwrap().latency, Latency::CLOUDSTACK);
        let tuned = parse(&format!("{base} --latency-offset-us 5 --latency cloudstack --api-workers 0")).unwrap();
        assert_eq!(tuned.latency, Latency { skipped_row: Duration::from_micros(5), workers: 0, ..Latency::CLOUDSTACK });
        let one = parse(&format!("{base} --latency-request-ms 2 --latency-row-us 3")).unwrap().latency;
        assert_eq!(
            (one.request, one.row, one.skipped_row, one.workers),
            (Duration::from_millis(2), Duration::from_micros(3), Duration::ZERO, 0)
        );
        assert!(parse(&format!("{base} --latency slow")).unwrap_err().contains("off or cloudstack"));
        assert!(parse(&format!("{base} --latency-row-us -1")).unwrap_err().contains("whole number"));
        assert_eq!(parse(&format!("{base} --utc-offset +02:00")).unwrap().zone, ServerZone::parse("+02:00").unwrap());
        assert!(parse(&format!("{base} --utc-offset 2")).unwrap_err().contains("--utc-offset"));
    }

    #[test]
    fn https_takes_a_certificate_and_its_key_together() {
        let options = parse("--listen [::1]:0 --api-key K --secret-key S --tls-cert c.pem --tls-key k.pem").unwrap();
        assert_eq!(options.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));
        let alone = parse("--listen [::1]:0 --api-key K --secret-key S --tls-cert c.pem").unwrap_err();
        assert!(alone.contains("'--tls-cert' and '--tls-key' go together"), "{alone}");
        assert!(parse("--listen [::1]:0 --api-key K --secret-key S --tls-key k.pem").is_err());
    }

    #[test]
    fn a_blackhole_address_is_an_address_too() {
        let options = parse("--listen [::1]:8080 --api-key K --secret-key S --blackhole-listen [::1]:8081").unwrap();
        assert_eq!(options.blackhole_listen, Some("[::1]:8081".parse().unwrap()));
        let error = parse("--listen [::1]:8080 --api-key K --secret-key S --blackhole-listen 8081").unwrap_err();
        assert!(error.contains("'--blackhole-listen' must be ADDR:PORT"), "{error}");
    }

    #[test]
    fn equals_form_and_page_size_are_understood() {
        let options =
            parse("--listen=[::1]:0 --api-key=K --secret-key=S --default-page-size=100 --cloud c.json").unwrap();
        assert_eq!(options.default_page_size, 100);
        assert_eq!(options.cloud, CloudSource::File("c.json".into()));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("--api-key K --secret-key S").unwrap_err().contains("--listen"));
        assert!(parse("--listen [::1]:0 --secret-key S").unwrap_err().contains("--api-key"));
        assert!(parse("--listen ::1 --api-key K --secret-key S").unwrap_err().contains("ADDR:PORT"));
        assert!(parse("--listen [::1]:0 --api-key K --secret-key S --cloud a --sample-cloud 3")
            .unwrap_err()
            .contains("exclude"));
        assert!(parse("--listen [::1]:0 --api-key K --secret-key S --default-page-size 0").is_err());
        assert!(parse("--listen [::1]:0 --api-key K --secret-key S --verbose").unwrap_err().contains("--verbose"));
        assert!(parse("--listen [::1]:0 --api-key K --secret-key").unwrap_err().contains("needs a value"));
    }
}
