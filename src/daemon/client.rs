//! Talking to a running mount daemon.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use super::error::DaemonError;
use super::paths;
use super::protocol::{Request, Response};

/// Sends one request to the daemon of the store at `store` and returns its answer.
/// `Response::Error` becomes [`DaemonError::Refused`].
pub fn call(store: &Path, vault: &str, request: &Request) -> Result<Response, DaemonError> {
    let socket = paths::socket(store);
    let mut stream = UnixStream::connect(&socket).map_err(|_| DaemonError::NotRunning {
        vault: vault.to_string(),
        socket: socket.clone(),
    })?;
    // Argon2id for an approval and sealing a large open file both take a while.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
    let mut line = Zeroizing::new(
        serde_json::to_string(request).map_err(|e| DaemonError::Protocol(e.to_string()))?,
    );
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| DaemonError::io(&socket, "send a request", e))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| DaemonError::io(&socket, "read the answer", e))?;
    if answer.is_empty() {
        return Err(DaemonError::Protocol(
            "the daemon closed the connection".into(),
        ));
    }
    match serde_json::from_str(&answer).map_err(|e| DaemonError::Protocol(e.to_string()))? {
        Response::Error { message } => Err(DaemonError::Refused(message)),
        other => Ok(other),
    }
}
