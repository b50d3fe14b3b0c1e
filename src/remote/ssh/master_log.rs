//! What a master says on stderr. It runs with `-v` for one line: OpenSSH logs
//! `client_input_global_request: rtype hostkeys-00@openssh.com` when the host's post-login
//! message arrives, and a session asked for after that no longer waits 40 ms for its
//! confirmation (`SESSION_WAIT` in mod.rs). Everything else `-v` adds — the `debug1:`
//! lines, the version banner, `Authenticated to …`, the byte counts at exit — is dropped,
//! so messages quote ssh's own words as they did without `-v`.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The line that says the host's post-login message (its host keys) arrived.
const POST_LOGIN: &str = "hostkeys-00@openssh.com";

/// A master's stderr, read by a thread of its own.
#[derive(Clone)]
pub struct MasterLog {
    /// ssh's own words (not `-v`'s), the last `keep` bytes.
    pub words: Arc<Mutex<Vec<u8>>>,
    post_login: Arc<(Mutex<bool>, Condvar)>,
}

impl MasterLog {
    /// Start reading `pipe`, keeping the last `keep` bytes of ssh's own words.
    pub fn read(pipe: impl Read + Send + 'static, keep: usize) -> MasterLog {
        let log = MasterLog {
            words: Arc::new(Mutex::new(Vec::new())),
            post_login: Arc::new((Mutex::new(false), Condvar::new())),
        };
        let shared = log.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(pipe);
            let mut line = Vec::new();
            while matches!(lines.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                shared.take(&line, keep);
                line.clear();
            }
            // No more lines: nobody should wait for one.
            shared.saw_post_login();
        });
        log
    }

    fn take(&self, line: &[u8], keep: usize) {
        let text = String::from_utf8_lossy(line);
        if text.contains(POST_LOGIN) {
            self.saw_post_login();
        }
        if is_verbose_only(&text) {
            return;
        }
        if let Ok(mut words) = self.words.lock() {
            words.extend_from_slice(line);
            if words.len() > keep {
                let cut = words.len() - keep;
                words.drain(..cut);
            }
        }
    }

    fn saw_post_login(&self) {
        let (seen, cond) = &*self.post_login;
        if let Ok(mut s) = seen.lock() {
            *s = true;
        }
        cond.notify_all();
    }

    /// Wait until the host's post-login message has arrived (or the master ended), at most
    /// until `deadline`; whether it did.
    pub fn wait_post_login(&self, deadline: Instant) -> bool {
        let (seen, cond) = &*self.post_login;
        let Ok(mut s) = seen.lock() else {
            return false;
        };
        while !*s {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = match cond.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(_) => return false,
            };
        }
        true
    }
}

/// Whether a line is one that only `-v` prints.
fn is_verbose_only(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("debug1:")
        || line.starts_with("debug2:")
        || line.starts_with("debug3:")
        || line.starts_with("OpenSSH_")
        || line.starts_with("Authenticated to ")
        || line.starts_with("Transferred: ")
        || line.starts_with("Bytes per second: ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A master's stderr as OpenSSH 9.2 writes it with `-v`, cut down.
    const VERBOSE: &str = "OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026\n\
        debug1: Reading configuration data /etc/ssh/ssh_config\n\
        Authenticated to 198.19.249.2 ([198.19.249.2]:22) using \"publickey\".\n\
        debug1: setting up multiplex master socket\n\
        debug1: client_input_global_request: rtype hostkeys-00@openssh.com want_reply 0\n\
        Connection to 198.19.249.2 closed by remote host.\n\
        Transferred: sent 2796, received 3060 bytes, in 0.3 seconds\n\
        Bytes per second: sent 8419.7, received 9213.5\n";

    fn wait_for_end(log: &MasterLog) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.words.lock().map(|w| w.is_empty()).unwrap_or(true) {
            assert!(Instant::now() < deadline, "the reader never finished");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn only_ssh_own_words_are_kept() {
        let log = MasterLog::read(std::io::Cursor::new(VERBOSE.as_bytes().to_vec()), 4096);
        wait_for_end(&log);
        assert!(log.wait_post_login(Instant::now() + Duration::from_secs(10)));
        let words = log.words.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&words),
            "Connection to 198.19.249.2 closed by remote host.\n"
        );
    }

    #[test]
    fn the_wait_ends_at_its_deadline_when_the_line_never_comes() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let log = MasterLog::read(reader, 4096);
        let started = Instant::now();
        assert!(!log.wait_post_login(Instant::now() + Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(writer);
        // A master that ended wakes every waiter.
        assert!(log.wait_post_login(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn the_tail_is_bounded() {
        let many = "Warning: something\n".repeat(1000);
        let log = MasterLog::read(std::io::Cursor::new(many.into_bytes()), 100);
        assert!(log.wait_post_login(Instant::now() + Duration::from_secs(10)));
        let kept = log.words.lock().map(|w| w.len()).unwrap_or(0);
        assert!(kept <= 100, "{kept}");
    }
}
