//! A PostgreSQL lease database for a cluster: Debian trixie's `postgresql` in its own container (image
//! `KC_POSTGRES_IMAGE`, default `kea-cloudstack-postgres:latest`, built from tests/setup/postgres/Dockerfile), on the
//! router link with a ULA address, its schema made by `kea-admin db-init pgsql` from the Kea image under test.
use std::net::Ipv6Addr;
use std::time::Duration;

use serde_json::{json, Value};

use super::host::{output, run, run_quietly, wait_until, NetNs};
use super::leases::LeaseRow;
use super::sweep::OWNER_LABEL;

/// The role, password and database the image makes (test-only: reachable inside the lab's namespaces alone).
pub const DB_USER: &str = "kea";
pub const DB_PASSWORD: &str = "kea-lab";
pub const DB_NAME: &str = "kea";

/// A running PostgreSQL container; removed on drop.
pub struct Postgres {
    container: String,
    addr: Ipv6Addr,
}

impl Postgres {
    /// Starts the container `name` without a network, links it to `bridge` in the router namespace through a veth
    /// (`link` is the host-side name while it moves), gives it `addr` and waits until PostgreSQL accepts logins.
    pub fn start(name: &str, router_ns: &NetNs, bridge: &str, link: &str, addr: Ipv6Addr) -> Postgres {
        let image = std::env::var("KC_POSTGRES_IMAGE").unwrap_or_else(|_| "kea-cloudstack-postgres:latest".to_string());
        let inspect = output("docker", &["image", "inspect", "--format", "{{.Id}}", &image]);
        if !inspect.status.success() {
            panic!("lab: docker image {image:?} is missing (set KC_POSTGRES_IMAGE or run `make image`)");
        }
        run_quietly("docker", &["rm", "-f", name]);
        let label = format!("{OWNER_LABEL}={}", std::process::id());
        run("docker", &[
            "run", "-d", "--name", name, "--label", &label, "--network", "none",
            "--sysctl", "net.ipv6.conf.all.disable_ipv6=0", "--sysctl", "net.ipv6.conf.default.disable_ipv6=0",
            "--sysctl", "net.ipv6.conf.all.accept_dad=0", "--sysctl", "net.ipv6.conf.default.accept_dad=0",
            &image,
        ]);
        let pg = Postgres { container: name.to_string(), addr };
        let pid = run("docker", &["inspect", "-f", "{{.State.Pid}}", name]).trim().to_string();
        super::ha::link_to_bridge(router_ns, bridge, link, &format!("{link}r"));
        run("ip", &["link", "set", link, "netns", &pid]);
        let nsenter = |args: &[&str]| {
            let mut all = vec!["-t", &pid, "-n", "ip"];
            all.extend_from_slice(args);
            run("nsenter", &all);
        };
        nsenter(&["link", "set", link, "name", "eth0"]);
        nsenter(&["addr", "add", &format!("{addr}/64"), "dev", "eth0", "nodad"]);
        nsenter(&["link", "set", "eth0", "up"]);
        nsenter(&["link", "set", "lo", "up"]);
        let host = addr.to_string();
        let ready = wait_until(Duration::from_secs(60), || {
            output("docker", &["exec", name, "pg_isready", "-q", "-h", &host, "-U", DB_USER, "-d", DB_NAME]).status.success()
        });
        assert!(ready, "lab: PostgreSQL did not accept connections within 60 s:\n{}", pg.log());
        pg
    }

    /// Makes Kea's lease schema with `kea-admin db-init pgsql` from `kea_image`, run in this container's network.
    pub fn create_kea_schema(&self, kea_image: &str) {
        let network = format!("container:{}", self.container);
        let host = self.addr.to_string();
        let init = output("docker", &[
            "run", "--rm", "--network", &network, "--entrypoint", "kea-admin", kea_image,
            "db-init", "pgsql", "-h", &host, "-u", DB_USER, "-p", DB_PASSWORD, "-n", DB_NAME,
        ]);
        assert!(init.status.success(), "lab: kea-admin db-init pgsql failed: {}{}",
            String::from_utf8_lossy(&init.stdout), String::from_utf8_lossy(&init.stderr));
    }

    /// Kea's `lease-database` map for this database.
    pub fn lease_database(&self) -> Value {
        json!({
            "type": "postgresql",
            "host": self.addr.to_string(),
            "port": 5432,
            "name": DB_NAME,
            "user": DB_USER,
            "password": DB_PASSWORD,
            "connect-timeout": 5
        })
    }

    /// Its address on the router link.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// Runs one SQL statement as the kea role; the rows, fields separated by tabs.
    pub fn sql(&self, statement: &str) -> String {
        let out = output("docker", &[
            "exec", "-e", &format!("PGPASSWORD={DB_PASSWORD}"), &self.container, "psql", "-h", &self.addr.to_string(),
            "-U", DB_USER, "-d", DB_NAME, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", statement,
        ]);
        assert!(out.status.success(), "lab: psql {statement:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The leases the database holds now (rows with valid lifetime 0 left out, as for a memfile).
    pub fn leases(&self) -> Vec<LeaseRow> {
        let rows = self.sql(
            "SELECT host(address), prefix_len, encode(duid, 'hex'), iaid, valid_lifetime, pref_lifetime, \
             extract(epoch FROM expire)::bigint, subnet_id, coalesce(encode(hwaddr, 'hex'), ''), \
             coalesce(hwaddr_source, 0), state, lease_type, coalesce(user_context, '') FROM lease6 ORDER BY address",
        );
        rows.lines().filter(|l| !l.is_empty()).map(parse_row).filter(|row| row.valid_lifetime != 0).collect()
    }

    /// What PostgreSQL printed.
    pub fn log(&self) -> String {
        let out = output("docker", &["logs", &self.container]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        run_quietly("docker", &["rm", "-f", &self.container]);
    }
}

/// Hex as Kea's memfile writes it: pairs joined by colons.
fn colon_hex(hex: &str) -> String {
    hex.as_bytes().chunks(2).map(|pair| String::from_utf8_lossy(pair).into_owned()).collect::<Vec<_>>().join(":")
}

fn parse_row(line: &str) -> LeaseRow {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f.len(), 13, "lab: a lease6 row of 13 fields: {line:?}");
    let num = |i: usize| f[i].trim().parse::<i64>().unwrap_or_else(|_| panic!("lab: field {i} of {line:?}"));
    LeaseRow {
        address: f[0].parse().unwrap_or_else(|_| panic!("lab: address of {line:?}")),
        prefix_len: num(1) as u8,
        duid: colon_hex(f[2]),
        // Kea keeps the 32-bit IAID in a signed INT column.
        iaid: num(3) as u32,
        valid_lifetime: num(4) as u32,
        preferred_lifetime: num(5) as u32,
        expire: num(6) as u64,
        subnet_id: num(7) as u32,
        hwaddr: colon_hex(f[8]),
        hwaddr_source: num(9) as u32,
        state: num(10) as u32,
        lease_type: num(11) as u8,
        user_context: f[12].to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lease6_row_reads_like_a_memfile_row() {
        let row = super::parse_row(
            "2a00:f10:500:1170::\t60\t000100012a\t-5\t600\t300\t1800000000\t709\t02000ac50017\t4\t0\t2\t{\"cloudstack\": {}}",
        );
        assert_eq!(row.prefix(), "2a00:f10:500:1170::/60");
        assert_eq!(row.duid, "00:01:00:01:2a");
        assert_eq!(row.iaid, u32::MAX - 4);
        assert_eq!(row.hwaddr, "02:00:0a:c5:00:17");
        assert!(row.is_prefix());
        assert_eq!(row.user_context, "{\"cloudstack\": {}}");
    }
}
