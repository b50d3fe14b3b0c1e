//! The identities that may decrypt an age file, in the order they are tried: every
//! `--identity FILE`, then the files `ORBDEPLOY_AGE_IDENTITY` names (separated like
//! `PATH`), then the user's own ssh keys (`~/.ssh/id_ed25519`, `~/.ssh/id_rsa`), since age
//! decrypts to ssh-ed25519 and ssh-rsa recipients.
//!
//! A file the user named must be readable and hold identities; the default ssh keys are
//! tried when they exist. ssh keys protected by a passphrase are skipped (orbdeploy asks
//! for no passphrase: a deploy runs unattended) and the error that follows says so.
//! Identities are read once, on the first encrypted file, and only then.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// An identity age can decrypt with.
pub type Identity = Box<dyn age::Identity + Send + Sync>;

/// Where identities come from, read on first use.
pub struct Keyring {
    candidates: Vec<Candidate>,
    loaded: OnceCell<Result<Loaded, ConfigError>>,
}

/// One place an identity may be.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    /// Named by the user (`--identity`, the environment): it must be there.
    named: Option<&'static str>,
}

/// The identities read, and what was tried (for the message when none fits).
pub struct Loaded {
    /// Every identity found, in order.
    pub identities: Vec<Identity>,
    /// Each file tried, with a note when it gave nothing.
    pub tried: Vec<String>,
}

/// The environment variable that names identity files.
pub const IDENTITY_ENV: &str = "ORBDEPLOY_AGE_IDENTITY";

impl Keyring {
    /// `--identity` files first, then the environment's, then the user's ssh keys.
    pub fn new(flags: &[PathBuf]) -> Self {
        let mut candidates: Vec<Candidate> = flags
            .iter()
            .map(|p| Candidate {
                path: p.clone(),
                named: Some("--identity"),
            })
            .collect();
        if let Some(paths) = std::env::var_os(IDENTITY_ENV) {
            candidates.extend(
                std::env::split_paths(&paths)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|path| Candidate {
                        path,
                        named: Some(IDENTITY_ENV),
                    }),
            );
        }
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            let ssh = PathBuf::from(home).join(".ssh");
            for key in ["id_ed25519", "id_rsa"] {
                candidates.push(Candidate {
                    path: ssh.join(key),
                    named: None,
                });
            }
        }
        Keyring {
            candidates,
            loaded: OnceCell::new(),
        }
    }

    /// Only these files, nothing from the environment or `~/.ssh` (for tests).
    pub fn only(paths: &[PathBuf]) -> Self {
        Keyring {
            candidates: paths
                .iter()
                .map(|p| Candidate {
                    path: p.clone(),
                    named: Some("--identity"),
                })
                .collect(),
            loaded: OnceCell::new(),
        }
    }

    /// The identities, read on the first call.
    pub fn identities(&self) -> Result<&Loaded, ConfigError> {
        self.loaded
            .get_or_init(|| read_all(&self.candidates))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn read_all(candidates: &[Candidate]) -> Result<Loaded, ConfigError> {
    let mut loaded = Loaded {
        identities: Vec::new(),
        tried: Vec::new(),
    };
    for c in candidates {
        let shown = c.path.display().to_string();
        let bytes = match std::fs::read(&c.path) {
            Ok(b) => b,
            Err(_) if c.named.is_none() => continue,
            Err(e) => {
                return Err(ConfigError::plain(format!(
                    "{}: identity file {shown}: cannot read it: {}",
                    c.named.unwrap_or_default(),
                    crate::yaml::io_reason(&e)
                )))
            }
        };
        match parse(&bytes, &c.path) {
            Ok(Parsed::Keys(mut ids)) => {
                loaded.tried.push(shown);
                loaded.identities.append(&mut ids);
            }
            Ok(Parsed::Skipped(why)) => loaded.tried.push(format!("{shown} ({why})")),
            Err(why) => {
                let source = c.named.unwrap_or("ssh key");
                return Err(ConfigError::plain(format!(
                    "{source}: identity file {shown}: {why}"
                )));
            }
        }
    }
    Ok(loaded)
}

/// What one identity file gave.
enum Parsed {
    /// Identities to try.
    Keys(Vec<Identity>),
    /// Nothing usable, and why (a passphrase, an unsupported key type).
    Skipped(&'static str),
}

/// An ssh private key (OpenSSH or PEM), or an age identity file (`AGE-SECRET-KEY-…` lines,
/// comments allowed).
fn parse(bytes: &[u8], path: &Path) -> Result<Parsed, String> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim_start().starts_with("-----BEGIN") {
        let name = Some(path.display().to_string());
        let key = age::ssh::Identity::from_buffer(bytes, name)
            .map_err(|_| "not an ssh private key age can read".to_string())?;
        return Ok(match key {
            age::ssh::Identity::Unencrypted(_) => Parsed::Keys(vec![Box::new(key)]),
            age::ssh::Identity::Encrypted(_) => {
                Parsed::Skipped("protected by a passphrase: skipped, orbdeploy asks for none")
            }
            age::ssh::Identity::Unsupported(_) => Parsed::Skipped("an ssh key type age cannot use"),
        });
    }
    let file = age::IdentityFile::from_buffer(bytes)
        .map_err(|e| format!("not an age identity file ({e})"))?;
    let ids = file
        .into_identities()
        .map_err(|e| format!("cannot use its identities ({e})"))?;
    if ids.is_empty() {
        return Err("holds no identity (expected AGE-SECRET-KEY-… lines)".into());
    }
    Ok(Parsed::Keys(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn an_age_identity_file_with_comments_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let key = age::x25519::Identity::generate();
        let path = dir.path().join("key.txt");
        use age::secrecy::ExposeSecret;
        let text = format!("# created: now\n{}\n", key.to_string().expose_secret());
        std::fs::write(&path, text).unwrap();
        let ring = Keyring::only(&[path]);
        let loaded = ring.identities().unwrap();
        assert_eq!(loaded.identities.len(), 1);
        assert_eq!(loaded.tried.len(), 1);
    }

    #[test]
    fn a_named_identity_that_is_missing_or_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = Keyring::only(&[missing]).identities().err().unwrap();
        assert!(e.message.contains("cannot read it"), "{e}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello\n").unwrap();
        let e = Keyring::only(&[junk]).identities().err().unwrap();
        assert!(e.message.contains("not an age identity file"), "{e}");
        assert!(!e.message.contains("hello"), "{e}");
    }
}
