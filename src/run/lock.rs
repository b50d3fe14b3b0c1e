//! One lock per machine, so two `apply` runs never interleave steps on the same machine:
//! the second waits (saying so) up to `--lock-timeout`, then gives up on that machine.
//! The lock is an `flock` on a file in the temporary directory, released by the kernel
//! when the process ends, even on SIGKILL.

use std::collections::btree_map::{BTreeMap, Entry};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::ssh_target::SshTarget;

/// A held machine lock.
pub struct MachineLock {
    _lock: Flock<File>,
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join(format!("orbdeploy-locks-{}", nix::unistd::getuid()))
}

/// What a lock guards.
#[derive(Debug, Clone, Copy)]
pub enum Guarded<'a> {
    /// A machine of one OrbStack installation: machines are named per installation, and
    /// the orbctl binary and (for orbsim) its state directory tell installations apart.
    Orb {
        /// The orbctl binary.
        orbctl: &'a Path,
    },
    /// An ssh machine: the host it reaches (host, port and jump, as the inventory spells
    /// them), whatever the machine is called, so that two inventories naming one host
    /// differently still take turns. A host written two ways (a name and its address) is
    /// two locks: orbdeploy does not resolve names to tell.
    Ssh(&'a SshTarget),
}

fn lock_path(what: Guarded<'_>, machine: &str) -> PathBuf {
    use sha2::Digest;
    let (identity, label) = match what {
        Guarded::Orb { orbctl } => {
            let real = std::fs::canonicalize(orbctl).unwrap_or_else(|_| orbctl.to_path_buf());
            let home = std::env::var("ORBSIM_HOME").unwrap_or_default();
            (
                format!("{}\0{home}\0{machine}", real.display()),
                machine.to_string(),
            )
        }
        Guarded::Ssh(t) => (
            format!(
                "ssh\0{}\0{}\0{}",
                t.host,
                t.port.map(|p| p.to_string()).unwrap_or_default(),
                t.jump.as_deref().unwrap_or_default()
            ),
            format!("ssh-{}", t.host),
        ),
    };
    let digest = sha2::Sha256::digest(identity);
    let safe: String = label
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

/// The locks one run holds, by file: two machines of one inventory that reach the same
/// ssh host share its lock (the run does not wait for itself).
#[derive(Default)]
pub struct Held {
    locks: BTreeMap<PathBuf, MachineLock>,
}

impl Held {
    /// Take the lock of `machine` (guarding `what`) unless this run holds it already,
    /// waiting up to `wait`; `on_wait` is told once who holds it.
    pub fn take(
        &mut self,
        what: Guarded<'_>,
        machine: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<(), LockError> {
        if let Entry::Vacant(free) = self.locks.entry(lock_path(what, machine)) {
            let lock = acquire_at(free.key(), machine, wait, on_wait)?;
            free.insert(lock);
        }
        Ok(())
    }
}

/// Take the lock file at `path` (of `machine`), waiting up to `wait`; `on_wait` is told
/// once who holds it.
fn acquire_at(
    path: &Path,
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
    let started = Instant::now();
    let mut told = false;
    loop {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| LockError::File {
                what: "open",
                path: path.to_path_buf(),
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

    /// One lock, outside a run's [`Held`].
    fn acquire(
        what: Guarded<'_>,
        machine: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<MachineLock, LockError> {
        acquire_at(&lock_path(what, machine), machine, wait, on_wait)
    }

    #[test]
    fn second_holder_waits_then_gives_up() {
        let bin = Guarded::Orb {
            orbctl: Path::new("/bin/true"),
        };
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

    fn target(host: &str, port: Option<u16>) -> SshTarget {
        SshTarget {
            host: host.into(),
            port,
            user: Some("deploy".into()),
            identity: None,
            jump: None,
            config: None,
            host_key: Default::default(),
            connect_timeout: None,
            options: Vec::new(),
            persist: None,
        }
    }

    #[test]
    fn an_ssh_host_is_one_lock_whatever_the_machine_is_called() {
        let host = format!("locktest-{}.example", std::process::id());
        let t = target(&host, Some(2222));
        let first = acquire(Guarded::Ssh(&t), "web", Duration::ZERO, &mut |_| {}).expect("first");
        // Another name, another login user: the same host.
        let mut other = t.clone();
        other.user = Some("root".into());
        let err = acquire(Guarded::Ssh(&other), "www", Duration::ZERO, &mut |_| {});
        assert!(err.is_err(), "a second lock on the same host");
        // Another port is another sshd; an OrbStack machine of the same name is another
        // machine.
        let t2 = target(&host, Some(2223));
        assert!(acquire(Guarded::Ssh(&t2), "web", Duration::ZERO, &mut |_| {}).is_ok());
        let orb = Guarded::Orb {
            orbctl: Path::new("/bin/true"),
        };
        let web = format!("web-{host}");
        assert!(acquire(orb, &web, Duration::ZERO, &mut |_| {}).is_ok());
        drop(first);
        assert!(acquire(Guarded::Ssh(&other), "www", Duration::ZERO, &mut |_| {}).is_ok());
    }

    #[test]
    fn one_run_takes_a_shared_host_lock_once() {
        let t = target(&format!("heldtest-{}.example", std::process::id()), None);
        let mut held = Held::default();
        for name in ["web", "www"] {
            held.take(Guarded::Ssh(&t), name, Duration::ZERO, &mut |_| {})
                .expect("the run holds it already");
        }
        assert_eq!(held.locks.len(), 1);
        let other = acquire(Guarded::Ssh(&t), "web", Duration::ZERO, &mut |_| {});
        assert!(other.is_err(), "another run waits");
    }
}
