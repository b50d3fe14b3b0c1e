//! One lock per machine, so two `apply` runs never interleave steps on the same machine:
//! the second waits (saying so) up to `--lock-timeout`, then gives up on that machine.
//! The lock is an `flock` on a file in the temporary directory, released by the kernel
//! when the process ends, even on SIGKILL.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// A held machine lock.
pub struct MachineLock {
    _lock: Flock<File>,
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join(format!("orbdeploy-locks-{}", nix::unistd::getuid()))
}

fn lock_path(orbctl: &Path, machine: &str) -> PathBuf {
    use sha2::Digest;
    // Machines are named per OrbStack installation: the orbctl binary and (for orbsim) its
    // state directory tell installations apart.
    let real = std::fs::canonicalize(orbctl).unwrap_or_else(|_| orbctl.to_path_buf());
    let home = std::env::var("ORBSIM_HOME").unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("{}\0{home}\0{machine}", real.display()));
    let safe: String = machine
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    lock_dir().join(
        format!("{safe}-{:x}.lock", digest)
            .chars()
            .take(80)
            .collect::<String>(),
    )
}

/// Why a machine's lock was not taken: the machine is left alone by this run.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file or its directory could not be made or opened.
    #[error("cannot {what} {}: {source}", .path.display())]
    File {
        /// create or open.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another run held the lock for longer than we were to wait.
    #[error("machine `{machine}` is in use by another orbdeploy run (pid {holder}); gave up after {}s (--lock-timeout)", .waited.as_secs())]
    Busy {
        /// The machine.
        machine: String,
        /// The pid the holder wrote into the lock file.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// Ctrl-C arrived while we waited.
    #[error("interrupted while waiting for the machine lock")]
    Interrupted,
}

/// Take the lock of `machine`, waiting up to `wait`; `on_wait` is told once who holds it.
pub fn acquire(
    orbctl: &Path,
    machine: &str,
    wait: Duration,
    on_wait: &mut dyn FnMut(&str),
) -> Result<MachineLock, LockError> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).map_err(|source| LockError::File {
        what: "create",
        path: dir.clone(),
        source,
    })?;
    let path = lock_path(orbctl, machine);
    let started = Instant::now();
    let mut told = false;
    loop {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LockError::File {
                what: "open",
                path: path.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = write!(lock, "{}", std::process::id());
                return Ok(MachineLock { _lock: lock });
            }
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().to_string();
                if started.elapsed() >= wait {
                    return Err(LockError::Busy {
                        machine: machine.to_string(),
                        holder,
                        waited: wait,
                    });
                }
                if !told {
                    on_wait(&format!(
                        "waiting for machine `{machine}`: another orbdeploy run (pid {holder}) is applying to it"
                    ));
                    told = true;
                }
                if crate::interrupt::requested() {
                    return Err(LockError::Interrupted);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let bin = Path::new("/bin/true");
        let name = format!("locktest-{}", std::process::id());
        let first = acquire(bin, &name, Duration::ZERO, &mut |_| {}).expect("first");
        let mut said = Vec::new();
        let err = acquire(bin, &name, Duration::from_millis(250), &mut |m| {
            said.push(m.to_string())
        })
        .err()
        .expect("second refused");
        assert!(
            err.to_string().contains("in use by another orbdeploy run"),
            "{err}"
        );
        assert_eq!(said.len(), 1);
        drop(first);
        assert!(acquire(bin, &name, Duration::ZERO, &mut |_| {}).is_ok());
    }
}
