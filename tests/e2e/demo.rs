//! `make demo`: a sample cloud (two VLANs, projects, more than 500 VMs so listings page) behind
//! the real Kea with the hook; every NIC asks through its VLAN's router and the table of
//! MAC -> delegated prefix is printed. Ignored in `make test` (it is a show), run by `make demo`.
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::time::Instant;

use serde_json::Value;

use crate::lab::dhcp6::{Client, MacCarrier, Router};
use crate::lab::{Lab, LabSpec, VlanSpec};

const SAMPLE_VMS: &str = "1200";

#[test]
#[ignore]
fn demo_sample_cloud_gets_its_prefixes() {
    let vlans = vec![
        VlanSpec { vlan: 709, interface_id: "VLAN709".into(), prefix: "2a00:f10:500::/40".into(), index: None },
        VlanSpec { vlan: 710, interface_id: "VLAN710".into(), prefix: "2a00:f10:600::/40".into(), index: Some("mac".into()) },
    ];
    let lab = Lab::start(LabSpec { vlans, standin_args: vec!["--sample-cloud".into(), SAMPLE_VMS.into()], ..LabSpec::default() });
    let cloud: Value = serde_json::from_str(&lab.standin().control("GET", "/control/cloud", None).body).expect("cloud JSON");
    let vms = cloud["vms"].as_array().expect("the stand-in's cloud");
    let server = SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    let socket = lab.router_socket();
    let routers = [
        (709u16, Router::new(socket.try_clone().unwrap(), server, "2a00:f10:500::1".parse().unwrap(), b"VLAN709", MacCarrier::ClientLinkLayer)),
        (710u16, Router::new(socket, server, "2a00:f10:600::1".parse().unwrap(), b"VLAN710", MacCarrier::RemoteIdRaw { enterprise: 2636 })),
    ];

    println!("{:<20} {:<6} {:<10} {:<10} {:<18} {}", "VM", "VLAN", "project", "state", "MAC", "delegated prefix");
    let started = Instant::now();
    let (mut delegated, mut refused, mut wrong) = (0, 0, 0);
    for vm in vms {
        let nic = &vm["nics"][0];
        let vlan = nic_vlan(nic);
        let Some((_, router)) = routers.iter().find(|(tag, _)| Some(*tag) == vlan) else { continue };
        let mac_text = nic["macaddress"].as_str().unwrap_or_default();
        let mac = parse_mac(mac_text);
        let state = vm["state"].as_str().unwrap_or_default();
        let answer = router.acquire(&Client::new(mac)).expect("the exchange runs");
        let got = answer.as_ref().and_then(|a| a.prefixes.iter().find(|p| p.valid > 0)).map(|p| format!("{}/{}", p.prefix, p.len));
        let expected = expected_prefix(vlan.unwrap(), nic, mac);
        let live = !matches!(state, "Destroyed" | "Expunging" | "Error");
        match (&got, live) {
            (Some(p), true) if *p == expected => delegated += 1,
            (None, false) => refused += 1,
            _ => wrong += 1,
        }
        println!(
            "{:<20} {:<6} {:<10} {:<10} {:<18} {}",
            vm["name"].as_str().unwrap_or("?"),
            vlan.unwrap(),
            vm["projectid"].as_str().unwrap_or("-"),
            state,
            mac_text,
            got.as_deref().unwrap_or("(none)")
        );
    }
    println!(
        "\n{delegated} NICs got their prefix, {refused} NICs of destroyed VMs got none, {wrong} wrong; {} exchanges in {:.1} s",
        delegated + refused + wrong,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(wrong, 0, "every live NIC gets exactly its prefix, no destroyed one gets any");
    assert!(delegated > 500, "the sample spans more than one API page");
}

fn nic_vlan(nic: &Value) -> Option<u16> {
    nic["vlanid"].as_u64().map(|v| v as u16).or_else(|| {
        nic["broadcasturi"].as_str().and_then(|u| u.strip_prefix("vlan://")).and_then(|t| t.parse().ok())
    })
}

/// The contract's rule, written out again here as the demo's own check.
fn expected_prefix(vlan: u16, nic: &Value, mac: [u8; 6]) -> String {
    let (base, n): (u128, u128) = if vlan == 709 {
        let ip: Ipv4Addr = nic["ipaddress"].as_str().unwrap().parse().unwrap();
        let mask: Ipv4Addr = nic["netmask"].as_str().unwrap().parse().unwrap();
        (u128::from("2a00:f10:500::".parse::<Ipv6Addr>().unwrap()), u128::from(u32::from(ip) & !u32::from(mask)))
    } else {
        let low20 = mac.iter().fold(0u128, |n, &b| (n << 8) | u128::from(b)) & 0xf_ffff;
        (u128::from("2a00:f10:600::".parse::<Ipv6Addr>().unwrap()), low20)
    };
    format!("{}/60", Ipv6Addr::from(base | (n << 68)))
}

fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16).expect("hex")).collect();
    bytes.try_into().unwrap_or_else(|_| panic!("'{text}' is not a MAC"))
}
