//! Answers the `accept-and-hang` fault holds back: the request was taken, nothing is sent until the test arms
//! another mode.
//!
//! A held request occupies no worker thread (it waits in a list, not in a sleeping thread), so however many are
//! held, `/control/` keeps answering. tiny_http reads every connection on a thread of its own pool, which grows as
//! needed, so new connections are read too.

use std::thread;

use parking_lot::Mutex;
use tiny_http::Request;

use crate::http;

/// One request and the answer it will get once released.
struct HeldAnswer {
    request: Request,
    status: u16,
    body: String,
}

#[derive(Default)]
struct Held {
    /// Bumped at every release: a request that saw the fault before a release must not wait for the next one.
    releases: u64,
    answers: Vec<HeldAnswer>,
}

/// The held answers; shared by all worker threads.
#[derive(Default)]
pub struct HeldAnswers {
    held: Mutex<Held>,
}

impl HeldAnswers {
    /// The release count to pass to `hold`, read before the fault is looked at.
    pub fn releases(&self) -> u64 {
        self.held.lock().releases
    }

    /// Holds `request` until the next release; answers at once if a release happened since `releases_seen`
    /// (the fault was changed while this request was being handled).
    pub fn hold(&self, releases_seen: u64, request: Request, status: u16, body: String) {
        let mut held = self.held.lock();
        if held.releases == releases_seen {
            held.answers.push(HeldAnswer { request, status, body });
        } else {
            drop(held);
            http::respond_json(request, status, body);
        }
    }

    /// How many answers are held now.
    pub fn count(&self) -> usize {
        self.held.lock().answers.len()
    }

    /// Sends every held answer, on a thread of its own so a client that does not read cannot stall the caller.
    pub fn release(&self) {
        let answers = {
            let mut held = self.held.lock();
            held.releases += 1;
            std::mem::take(&mut held.answers)
        };
        if !answers.is_empty() {
            thread::spawn(move || {
                for held in answers {
                    http::respond_json(held.request, held.status, held.body);
                }
            });
        }
    }
}
