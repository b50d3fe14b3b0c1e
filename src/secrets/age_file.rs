//! Encrypting and decrypting one age file, in memory. Encrypted files are written ASCII
//! armored (`-----BEGIN AGE ENCRYPTED FILE-----`), which git and review tools treat as
//! text; binary age files are read as well.

use std::io::{Read, Write};
use std::path::Path;

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use super::keyring::Keyring;
use super::recipients::Recipient;
use crate::error::ConfigError;

/// The plaintext of `bytes`, the content of `path` (named in errors with the identities
/// that were tried).
pub fn decrypt(path: &Path, bytes: &[u8], keys: &Keyring) -> Result<Vec<u8>, ConfigError> {
    let fail = |m: String| ConfigError::in_file(path, m);
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(bytes))
        .map_err(|e| fail(format!("not a readable age file (corrupted?): {e}")))?;
    let loaded = keys.identities()?;
    if loaded.identities.is_empty() {
        return Err(fail(format!(
            "cannot decrypt it: no identity ({}; give --identity FILE, set {}, or keep a key in ~/.ssh/id_ed25519 or ~/.ssh/id_rsa)",
            tried(&loaded.tried),
            super::keyring::IDENTITY_ENV
        )));
    }
    let ids = loaded
        .identities
        .iter()
        .map(|i| i.as_ref() as &dyn age::Identity);
    let mut reader = decryptor.decrypt(ids).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => fail(format!(
            "cannot decrypt it: it is not encrypted for any of the identities tried ({})",
            tried(&loaded.tried)
        )),
        other => fail(format!("cannot decrypt it (corrupted?): {other}")),
    })?;
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|e| fail(format!("cannot decrypt it (corrupted?): {e}")))?;
    Ok(plain)
}

fn tried(tried: &[String]) -> String {
    if tried.is_empty() {
        "no identity file found".to_string()
    } else {
        format!("tried {}", tried.join(", "))
    }
}

/// `plain` encrypted for `recipients`, armored.
pub fn encrypt(plain: &[u8], recipients: &[Recipient]) -> Result<Vec<u8>, String> {
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| format!("cannot encrypt for these recipients: {e}"))?;
    let io = |e: std::io::Error| format!("cannot encrypt: {e}");
    let armored = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armored).map_err(io)?;
    writer.write_all(plain).map_err(io)?;
    writer.finish().and_then(|a| a.finish()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[allow(deprecated)]
    fn key(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
        let id = age::x25519::Identity::generate();
        let path = dir.join(name);
        std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
        (path, id.to_public().to_string())
    }

    #[test]
    fn round_trip_and_the_wrong_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (mine, public) = key(dir.path(), "mine");
        let (other, _) = key(dir.path(), "other");
        let r = vec![super::super::recipients::parse_one(&public).unwrap()];
        let sealed = encrypt(b"token: hunter2\n", &r).unwrap();
        assert!(sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let f = Path::new("v.yaml.age");
        let plain = decrypt(f, &sealed, &Keyring::only(&[mine])).unwrap();
        assert_eq!(plain, b"token: hunter2\n");
        let e = decrypt(f, &sealed, &Keyring::only(std::slice::from_ref(&other))).unwrap_err();
        assert_eq!(e.location.as_deref(), Some("v.yaml.age"));
        assert!(e.message.contains("not encrypted for any"), "{e}");
        assert!(e.message.contains(&other.display().to_string()), "{e}");
    }

    #[test]
    fn a_corrupted_file_is_an_error_not_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let (mine, public) = key(dir.path(), "mine");
        let r = vec![super::super::recipients::parse_one(&public).unwrap()];
        let mut sealed = encrypt(&[b'x'; 300], &r).unwrap();
        // A character of the payload changed (inside the base64, past the header).
        let at = sealed.len() - 60;
        sealed[at] = if sealed[at] == b'A' { b'B' } else { b'A' };
        let e = decrypt(
            Path::new("c.age"),
            &sealed,
            &Keyring::only(std::slice::from_ref(&mine)),
        );
        assert!(e.unwrap_err().message.contains("corrupted"));
        let e = decrypt(
            Path::new("c.age"),
            b"plain: text\n",
            &Keyring::only(&[mine]),
        );
        assert!(e.unwrap_err().message.contains("not a readable age file"));
    }
}
