//! Secrets kept in the repository: age-encrypted files, the identities that open them and
//! the recipients they are encrypted for. The inventory's encrypted `vars_files` and the
//! `orbdeploy secrets` command both go through here (docs/secrets.md).
//!
//! Nothing here writes plaintext to disk: decryption yields bytes in memory, and the one
//! place that must hand plaintext to another program (`secrets edit`) lives with the
//! command, in a private directory it removes.

pub mod age_file;
pub mod keyring;
pub mod recipients;

pub use keyring::Keyring;

/// True for a file that holds age ciphertext by its name (`*.age`).
pub fn is_encrypted(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "age")
}
