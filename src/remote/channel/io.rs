//! The plumbing under a session: a pipe reader with a deadline, exact-length copies, the
//! session nonce and the optional trace of every script sent.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Which side of [`copy_exact`] failed.
pub enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copy exactly `len` bytes, never holding more than one buffer in memory.
pub fn copy_exact(from: &mut dyn Read, to: &mut dyn Write, len: u64) -> Result<(), CopyError> {
    if len == 0 {
        return Ok(());
    }
    // No bigger than needed: most replies are a few bytes.
    let mut buf = vec![0u8; len.min(64 * 1024) as usize];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = from.read(&mut buf[..want]).map_err(CopyError::Read)?;
        if n == 0 {
            return Err(CopyError::Read(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{left} bytes missing"),
            )));
        }
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        left -= n as u64;
    }
    Ok(())
}

/// A pipe reader whose reads fail with `TimedOut` after a deadline.
pub struct DeadlineReader {
    inner: File,
    /// Reads after this instant fail; `None`: no limit.
    pub deadline: Option<Instant>,
}

impl DeadlineReader {
    /// A reader of `inner` with no deadline yet.
    pub fn new(inner: File) -> Self {
        DeadlineReader {
            inner,
            deadline: None,
        }
    }
}

impl AsFd for DeadlineReader {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(deadline) = self.deadline {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                let ms = left.as_millis().min(60_000) as u16;
                let mut fds = [PollFd::new(self.inner.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) => continue,
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(std::io::Error::from(e)),
                }
            }
        }
        self.inner.read(buf)
    }
}

/// 128 random bits in hex: a session's nonce, and the names of orbdeploy's staging paths on
/// machines (a push's directory, a sync's staging directory), which nobody can guess first.
pub fn nonce() -> String {
    // Random, so that no file a probe reads can contain the end marker of a text reply.
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !random {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes[..16].copy_from_slice(&(t ^ ((std::process::id() as u128) << 64)).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
