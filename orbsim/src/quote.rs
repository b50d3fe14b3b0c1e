//! Shell quoting as OrbStack's server does it (alessio/shellescape): each argument is
//! quoted so the login shell passes it to the program byte for byte.

/// Quote one argument for a POSIX shell.
pub fn quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Quote and join an argv into one command line.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("ls"), "ls");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn round_trips_through_sh() {
        let cases = [
            "", "a b", "it's", "$HOME", "`id`", "a\nb", "*", "--x", "ünï", "\\", "\"q\"",
        ];
        for c in cases {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(c)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), c, "case {c:?}");
        }
    }
}
