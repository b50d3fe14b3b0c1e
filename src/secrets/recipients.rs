//! Who a file is encrypted for: a `.age-recipients` file beside it (age public keys or
//! ssh public keys, one a line; `#` comments and blank lines allowed), or `--recipient`.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// A public key age can encrypt to.
pub type Recipient = Box<dyn age::Recipient + Send>;

/// The recipients file that belongs to `encrypted`: `.age-recipients` in its directory.
pub fn file_beside(encrypted: &Path) -> PathBuf {
    let dir = encrypted.parent().filter(|d| !d.as_os_str().is_empty());
    dir.unwrap_or(Path::new(".")).join(".age-recipients")
}

/// One recipient as written: `age1…`, `age1pq…`, `ssh-ed25519 …` or `ssh-rsa …`.
#[allow(deprecated)] // x25519 keys are what most people hold; age calls them legacy.
pub fn parse_one(line: &str) -> Result<Recipient, String> {
    let line = line.trim();
    let expected =
        "expected an age public key (age1…) or an ssh public key (ssh-ed25519 …, ssh-rsa …)";
    if line.starts_with("ssh-") {
        return match line.parse::<age::ssh::Recipient>() {
            Ok(r) => Ok(Box::new(r)),
            Err(age::ssh::ParseRecipientKeyError::RsaModulusTooSmall) => {
                Err("an ssh-rsa key shorter than 2048 bits, which age refuses".into())
            }
            Err(_) => Err(format!("not a valid ssh public key: {expected}")),
        };
    }
    if line.starts_with("age1pq") {
        if let Ok(r) = line.parse::<age::pq::Recipient>() {
            return Ok(Box::new(r));
        }
    } else if let Ok(r) = line.parse::<age::x25519::Recipient>() {
        return Ok(Box::new(r));
    }
    Err(format!("not a recipient: {expected}"))
}

/// The recipients of a recipients file; a bad line is an error at its line.
pub fn read_file(path: &Path) -> Result<Vec<Recipient>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::in_file(
            path,
            format!(
                "cannot read the recipients file: {}",
                crate::yaml::io_reason(&e)
            ),
        )
    })?;
    let recipients = parse_text(&text).map_err(|(line, m)| ConfigError::at(path, line, 1, m))?;
    if recipients.is_empty() {
        return Err(ConfigError::in_file(path, "names no recipient"));
    }
    Ok(recipients)
}

/// Every recipient of a recipients file's text, or the first bad line and why.
pub fn parse_text(text: &str) -> Result<Vec<Recipient>, (u64, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_one(line).map_err(|m| (n as u64 + 1, m))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn comments_blank_lines_age_and_ssh_keys() {
        let age = age::x25519::Identity::generate().to_public().to_string();
        let pq = age::pq::Identity::generate().to_public().to_string();
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBn8MZesKrzs9RK3Vuxih2IkdDlCQnGgXCx08bwatdgP me@host";
        let text = format!("# team\n\n{age}\n  {pq}  \n{ssh}\n");
        assert_eq!(parse_text(&text).map_err(|e| e.1).unwrap().len(), 3);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let (line, why) = parse_text("# ok\nage1nope\n").err().unwrap();
        assert_eq!(line, 2);
        assert!(why.starts_with("not a recipient: expected"), "{why}");
        let (line, why) = parse_text("ssh-ed25519 AAAA\n").err().unwrap();
        assert_eq!(line, 1);
        assert!(why.starts_with("not a valid ssh public key"), "{why}");
    }

    #[test]
    fn the_recipients_file_is_beside_the_encrypted_one() {
        assert_eq!(
            file_beside(Path::new("a/b.yaml.age")),
            Path::new("a/.age-recipients")
        );
        assert_eq!(
            file_beside(Path::new("b.age")),
            Path::new("./.age-recipients")
        );
    }
}
