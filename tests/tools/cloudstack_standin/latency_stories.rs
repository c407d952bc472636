//! Stories of the latency model told over real HTTP: answers as slow as the model says, never faster, and slow
//! answers that starve nothing. Only lower bounds on time: the model may never answer early, but a loaded machine
//! may answer late.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::latency::Latency;
use crate::sample_cloud;
use crate::server_tests::{fresh_agent, start_slow, Client};

/// A second client on the same stand-in, with connections of its own.
fn another(client: &Client) -> Client {
    Client { base: client.base.clone(), agent: fresh_agent() }
}

/// Opens `client`'s connection (a control request), so later requests on it open none: tiny_http's thread pool can
/// leave one of two connections accepted at the same instant unread until another closes (a race in its count of
/// idle threads), so the stories open one connection at a time.
fn connect(client: &Client) {
    assert_eq!(client.control("GET", "clock", "").0, 200);
}

/// Polls the request counts until the stand-in has taken `n` listing pages off the wire.
fn wait_until_taken(client: &Client, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = client.control("GET", "requests/count", "").1;
        if counts["listing-pages"] == n {
            break;
        }
        assert!(Instant::now() < deadline, "the stand-in never took {n} listing pages: {counts}");
        thread::yield_now();
    }
}

#[test]
fn a_page_at_offset_10000_costs_at_least_its_skipped_rows() {
    // 1 µs per skipped row, nothing else: page 21 of 500 skips 10,000 rows, so at least 10 ms.
    let latency = Latency { skipped_row: Duration::from_micros(1), ..Latency::default() };
    let (client, _) = start_slow(sample_cloud::generate(13_200), None, latency);
    let started = Instant::now();
    let (status, answer) = client.list(&[("page", "21"), ("pagesize", "500")]);
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(crate::server_tests::vm_names(&answer).len(), 500, "10,560 VMs outside projects: page 21 is whole");
    assert!(took >= Duration::from_millis(10), "{took:?}");
}

#[test]
fn rows_and_requests_cost_too_and_errors_cost_the_request_alone() {
    let latency = Latency { request: Duration::from_millis(30), row: Duration::from_micros(200), ..Latency::default() };
    let (client, _) = start_slow(sample_cloud::generate(600), None, latency);
    let started = Instant::now();
    assert_eq!(client.list(&[("page", "1"), ("pagesize", "500")]).0, 200);
    assert!(started.elapsed() >= Duration::from_millis(30 + 100), "{:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(client.list(&[("page", "1")]).0, 431);
    assert!(started.elapsed() >= Duration::from_millis(30), "{:?}", started.elapsed());
}

#[test]
fn with_one_worker_two_requests_at_once_are_served_one_after_the_other() {
    let latency = Latency { request: Duration::from_millis(300), workers: 1, ..Latency::default() };
    let (client, _) = start_slow(sample_cloud::generate(3), None, latency);
    connect(&client);
    let started = Instant::now();
    let second = another(&client);
    let other = thread::spawn(move || second.list(&[]).0);
    // The second request is in, on a connection of its own, before the first goes out on the client's.
    wait_until_taken(&client, 1);
    assert_eq!(client.list(&[]).0, 200);
    assert_eq!(other.join().unwrap(), 200);
    assert!(started.elapsed() >= Duration::from_millis(600), "queued, not side by side: {:?}", started.elapsed());
}

#[test]
fn slow_answers_hold_no_worker_so_control_answers_while_more_of_them_wait_than_there_are_workers() {
    let latency = Latency { request: Duration::from_secs(5), ..Latency::default() };
    let (client, _) = start_slow(sample_cloud::generate(3), None, latency);
    let answered = Arc::new(AtomicUsize::new(0));
    let waiting = crate::WORKERS + 2;
    let started = Instant::now();
    // One connection at a time (see `connect`).
    connect(&client);
    let slow: Vec<_> = (1..=waiting)
        .map(|taken| {
            let (slow_client, answered) = (another(&client), Arc::clone(&answered));
            let thread = thread::spawn(move || {
                let status = slow_client.list(&[]).0;
                answered.fetch_add(1, Ordering::SeqCst);
                status
            });
            wait_until_taken(&client, taken as u64);
            thread
        })
        .collect();

    assert_eq!(client.control("PUT", "fault", r#"{"mode":"none"}"#).0, 200, "control answers at once");
    assert_eq!(answered.load(Ordering::SeqCst), 0, "while every slow answer still waits");
    for thread in slow {
        assert_eq!(thread.join().unwrap(), 200);
    }
    assert!(started.elapsed() >= Duration::from_secs(5), "{:?}", started.elapsed());
}
