//! `ORBSIM_LOG=PATH`: one JSON line per invocation, so tests and benchmarks can count and
//! inspect the orbctl calls a client makes.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Open `$ORBSIM_LOG` now: `run` later enters a machine, whose root is not the host's.
pub fn open() -> Option<std::fs::File> {
    let path = std::env::var_os("ORBSIM_LOG")?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Append `{"argv":[..],"exit":N,"duration_ms":F,"pid":P,"start":MS}` to the log.
/// One `write` on an `O_APPEND` file, so concurrent invocations never interleave lines.
pub fn append(log: Option<std::fs::File>, argv: &[String], exit: i32, elapsed: Duration) {
    let Some(mut f) = log else {
        return;
    };
    let start_ms = SystemTime::now()
        .checked_sub(elapsed)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64);
    let line = serde_json::json!({
        "argv": argv,
        "exit": exit,
        "duration_ms": elapsed.as_secs_f64() * 1000.0,
        "pid": std::process::id(),
        "start": start_ms,
    });
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    let _ = f.write_all(&bytes);
}
