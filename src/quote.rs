//! The one function that puts a value into a remote shell command.
//!
//! Every path, line, package name, user name or argument that reaches `sh` on a machine
//! goes through [`quote`]. Single quotes make every byte literal except `'` itself, which
//! is written as `'\''` (close, escaped quote, reopen). That is the whole POSIX rule, so
//! this is correct for dash, bash, busybox ash and zsh alike, for any bytes including
//! newlines, `$`, backquotes, `;` and non-UTF-8 (which cannot occur in a Rust `str`).

use std::ffi::OsStr;

/// Quote `value` as one word for a POSIX shell.
///
/// Words made only of characters no shell treats specially are returned unchanged, so
/// the commands shown by `plan --show-calls` stay readable.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    // A leading `-` or `=` is harmless to the shell but `=` first could read as an
    // assignment only when followed by a name; we never emit a bare word in that position.
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote every word and join them with spaces: an argv as one shell command line, to run
/// or to show. The one place words become a command line; an `OsStr` that is not UTF-8
/// (a local path) is shown with U+FFFD where it cannot be read.
pub fn join<S: AsRef<OsStr>>(words: &[S]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(&w.as_ref().to_string_lossy()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// Ask a real `sh` to print its arguments back, NUL-separated.
    fn through_sh(words: &[String]) -> Vec<String> {
        let script = format!("printf '%s\\0' {}", join(words));
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{script}");
        let text = String::from_utf8(out.stdout).expect("utf-8 back");
        let mut parts: Vec<String> = text.split('\0').map(str::to_string).collect();
        parts.pop();
        parts
    }

    #[test]
    fn hostile_values_stay_one_word() {
        let words: Vec<String> = [
            "a b",
            "it's",
            "$HOME",
            "`id`",
            "x; rm -rf /",
            "line1\nline2",
            "",
            "'",
            "''",
            "\\",
            "-n",
            "*",
            "~",
            "a\tb",
            "ünïcødé",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(through_sh(&words), words);
    }

    #[test]
    fn plain_words_are_left_readable() {
        assert_eq!(quote("/etc/app.conf"), "/etc/app.conf");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn join_takes_strings_and_os_strings_alike() {
        let empty: [&str; 0] = [];
        assert_eq!(join(&empty), "");
        assert_eq!(join(&["ls", "-l", "a b", ""]), "ls -l 'a b' ''");
        let argv = [
            std::ffi::OsString::from("orbctl"),
            std::ffi::OsString::from("run"),
            std::ffi::OsString::from("it's"),
        ];
        assert_eq!(join(&argv), "orbctl run 'it'\\''s'");
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = std::ffi::OsStr::from_bytes(b"a\xffb");
        assert_eq!(join(&[not_utf8]), "'a\u{fffd}b'");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_string_round_trips_through_sh(words in proptest::collection::vec("[^\u{0}]{0,12}", 1..5)) {
            prop_assert_eq!(through_sh(&words), words);
        }
    }
}
