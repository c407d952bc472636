//! Kea's unix control socket, reached from the host through the mounted /run/kea.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// Sends one command and returns Kea's answer; `Err` if the socket is absent, silent or answers garbage.
pub fn send_command(socket: &Path, command: &Value) -> Result<Value, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect {}: {e}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    stream.write_all(command.to_string().as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        // Kea closes the connection after answering, but a complete JSON document is enough.
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if let Ok(value) = serde_json::from_slice(&answer) {
                    return Ok(value);
                }
            }
            Err(e) => return Err(format!("read: {e} after {} bytes", answer.len())),
        }
    }
    serde_json::from_slice(&answer)
        .map_err(|e| format!("answer is not JSON ({e}): {}", String::from_utf8_lossy(&answer)))
}
