//! The ways the stand-in answers over HTTP: normally, or broken on purpose.

use std::io::Write;

use tiny_http::{Header, Request, Response, StatusCode};

use crate::connection_cut;

/// CloudStack's content type for JSON answers.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// Jetty's `requestHeaderSize` as CloudStack's `ServerDaemon` sets it: the request line and the headers together
/// must fit in 8 KiB, so a GET whose query names a few hundred UUIDs is refused before CloudStack sees it (a POST
/// with a form body is not: its parameters are in the body).
pub const REQUEST_HEADER_SIZE: usize = 8192;

/// Jetty's refusal of a request whose head does not fit: 414 when the request line alone is too long, 431 when the
/// headers tip it over; `None` when it fits. Counted as the bytes on the wire, give or take a separator.
pub fn oversized_head(request: &Request) -> Option<(u16, &'static str)> {
    let line = request.method().as_str().len() + 1 + request.url().len() + " HTTP/1.1\r\n".len();
    if line > REQUEST_HEADER_SIZE {
        return Some((414, "URI Too Long"));
    }
    let headers: usize =
        request.headers().iter().map(|h| h.field.as_str().as_str().len() + 2 + h.value.as_str().len() + 2).sum();
    (line + headers + 2 > REQUEST_HEADER_SIZE).then_some((431, "Request Header Fields Too Large"))
}

/// Jetty's own error page for a request it refused before any servlet saw it.
pub fn respond_jetty_error(request: Request, status: u16, reason: &str) {
    let page = format!("<h1>Bad Message {status}</h1><pre>reason: {reason}</pre>");
    respond_with(request, status, page, "text/html;charset=iso-8859-1");
}

/// Splits a request target into path and query (empty if there is none).
pub fn split_target(target: &str) -> (&str, &str) {
    target.split_once('?').unwrap_or((target, ""))
}

/// Reads the whole request body as UTF-8.
pub fn read_body(request: &mut Request) -> Result<String, String> {
    let mut body = String::new();
    request.as_reader().read_to_string(&mut body).map_err(|e| format!("unreadable body: {e}"))?;
    Ok(body)
}

/// Whether the client declared a form-encoded body (how CloudStack clients POST their parameters).
pub fn has_form_body(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Content-Type")
            && h.value.as_str().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    })
}

fn content_type(value: &str) -> Header {
    Header::from_bytes(&b"Content-Type"[..], value.as_bytes()).expect("a valid header")
}

/// Answers with a JSON body.
pub fn respond_json(request: Request, status: u16, body: String) {
    respond_with(request, status, body, JSON_CONTENT_TYPE);
}

/// Answers with any body and content type.
pub fn respond_with(request: Request, status: u16, body: String, kind: &str) {
    let response = Response::from_data(body.into_bytes()).with_status_code(status).with_header(content_type(kind));
    // A client that went away is its own problem; nothing useful to do about a failed write.
    let _ = request.respond(response);
}

/// Closes the connection without a single byte of answer.
pub fn refuse(request: Request, local_port: u16) {
    let peer = request.remote_addr().copied();
    // Taking the writer stops tiny_http from sending its automatic 500 when the request is dropped.
    let writer = request.into_writer();
    if !peer.is_some_and(|peer| connection_cut::cut(peer, local_port)) {
        eprintln!("cloudstack-standin: could not find the connection of {peer:?} to refuse it");
    }
    drop(writer);
}

/// Sends the status line, headers announcing the full length, half of the body, then closes the connection.
pub fn respond_truncated(request: Request, status: u16, body: &str, local_port: u16) {
    let peer = request.remote_addr().copied();
    let mut writer = request.into_writer();
    let half = &body.as_bytes()[..body.len() / 2];
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {JSON_CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
        StatusCode(status).default_reason_phrase(),
        body.len()
    );
    // Flushed before the cut, or tiny_http's buffer would swallow the half body along with the connection.
    let _ = writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(half)).and_then(|_| writer.flush());
    if !peer.is_some_and(|peer| connection_cut::cut(peer, local_port)) {
        eprintln!("cloudstack-standin: could not find the connection of {peer:?} to truncate it");
    }
    drop(writer);
}
