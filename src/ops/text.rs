//! What `block` and `replace` share: they read a text file with the probe (`__od_text` of
//! the probe library: builtins only, no process), compute its new content here in Rust, and
//! write it back atomically only when it differs. Doing the edit in orbdeploy makes the
//! decision and `--diff` exact, and the regular-expression syntax the same on every machine,
//! whatever awk or sed it has (Rust's `regex` crate).
//!
//! The write replaces the file only while its SHA-256 is that of the text the probe read
//! (a compare-and-swap on the machine). That catches what a line-based probe cannot carry
//! (NUL bytes) and a file changed since it was read: either fails the step, and nothing is
//! written.

use crate::quote::quote;
use crate::remote::{temp_beside, TEMP_DONE};

use super::{Applied, Ctx, Facts, Failure};

/// The probe: the file's text as `.text`, `.l` and `.eof` facts.
pub fn probe(path: &str) -> String {
    format!("__od_text {}\n", quote(path))
}

/// The file's text from the facts of [`probe`]: `None` when it does not exist.
pub fn read(facts: &Facts, path: &str) -> Result<Option<String>, Failure> {
    match facts.get("text") {
        Some("file") => {}
        Some("missing") => return Ok(None),
        Some("notfile") => return Err(Failure::msg(format!("{path} is not a regular file"))),
        Some("unreadable") => {
            return Err(Failure::msg(format!(
                "cannot read {path}: permission denied; add `become: true` to edit it as root"
            )))
        }
        _ => return Err(cannot_read(facts, path)),
    }
    if facts.get("big").is_some() {
        return Err(Failure::msg(format!(
            "{path} is larger than 1 MiB; block and replace edit text files up to 1 MiB"
        )));
    }
    let Some(eof) = facts.get("eof") else {
        return Err(cannot_read(facts, path));
    };
    let mut text = String::new();
    for l in facts.all("l") {
        let (cr, line) = match l.split_at_checked(1) {
            Some(("^", rest)) => (true, rest),
            Some(("|", rest)) => (false, rest),
            _ => return Err(cannot_read(facts, path)),
        };
        text.push_str(line);
        if cr {
            text.push('\r');
        }
        text.push('\n');
    }
    if eof == "nonl" {
        text.pop();
    }
    // The reply is read as UTF-8, invalid bytes becoming U+FFFD: writing that back would
    // change bytes nobody asked to change.
    if text.contains('\u{FFFD}') {
        return Err(Failure::msg(format!(
            "{path} is not UTF-8 text; block and replace edit UTF-8 text files only"
        )));
    }
    Ok(Some(text))
}

fn cannot_read(facts: &Facts, path: &str) -> Failure {
    let noise = facts.noise_text();
    Failure::msg(format!(
        "could not read {path}: {}",
        if noise.trim().is_empty() {
            "the probe printed nothing"
        } else {
            noise.trim()
        }
    ))
}

/// The script that writes stdin to `path` atomically, if the file is still what was read:
/// its SHA-256 is `old` (`None`: it did not exist). A symbolic link is followed: the file
/// it points to is edited, and stays a link. An existing file keeps its mode and owner; a
/// new one gets 0644, and its missing parent directories are made (as Ansible's
/// blockinfile does with `create`).
pub fn write_script(path: &str, old: Option<&str>) -> String {
    let parents = match old {
        Some(_) => "",
        None => "[ -e \"$f\" ] || mkdir -p -- \"${d:-/}\" || exit 1\n",
    };
    let check = match old {
        Some(sha) => format!(
            "if [ ! -f \"$f\" ]; then echo \"$f is gone since it was read; nothing was written\" >&2; exit 1; fi\n\
             h=$(sha256sum < \"$f\") || exit 1\n\
             if [ \"${{h%% *}}\" != {sha} ]; then echo \"$f changed since it was read, or holds bytes a text edit cannot keep (NUL); nothing was written\" >&2; exit 1; fi\n\
             chmod \"$(stat -c %a -- \"$f\")\" \"$t\" || exit 1\n\
             chown \"$(stat -c %u:%g -- \"$f\")\" \"$t\" 2>/dev/null || true\n"
        ),
        None => "if [ -e \"$f\" ]; then echo \"$f appeared since it was read; nothing was written\" >&2; exit 1; fi\n\
                 chmod 644 \"$t\" || exit 1\n"
            .to_string(),
    };
    format!(
        "f={p}\n\
         if [ -L \"$f\" ]; then f=$(readlink -f -- \"$f\") || exit 1; fi\n\
         d=${{f%/*}}\n\
         {parents}\
         {temp}\
         cat > \"$t\" || exit 1\n\
         {check}\
         mv -f \"$t\" \"$f\" || exit 1\n\
         {TEMP_DONE}",
        p = quote(path),
        temp = temp_beside("\"${d:-/}\"", ".orbdeploy"),
    )
}

/// Write `new` to `path` (see [`write_script`]), the file having held `old` when read.
pub fn write(
    ctx: &mut Ctx<'_>,
    path: &str,
    old: Option<&str>,
    new: &str,
) -> Result<Applied, Failure> {
    let sha = old.map(|o| super::put::sha_of_bytes(o.as_bytes()));
    let mut req = ctx.exec(write_script(path, sha.as_deref()));
    req.stdin = new.as_bytes().to_vec();
    let out = ctx.remote.exec(&req)?;
    if out.status != 0 {
        let mut f = Failure::from_output(&format!("editing {path}"), &req.script, &out);
        let err = out.stderr_text();
        if let Some(line) = err.lines().rev().find(|l| !l.trim().is_empty()) {
            f.message = format!("editing {path} failed: {}", line.trim());
        }
        if err.contains("Permission denied") && ctx.user.as_deref() != Some("root") {
            f.message
                .push_str("; permission denied: add `become: true` to edit it as root");
        }
        return Err(f);
    }
    Ok(Applied::default())
}

/// A regular expression compiled with Rust's `regex` syntax (`^` and `$` at every line,
/// a CRLF line end included, when `lines` is set), or the error in one line: the crate's
/// own message spans several lines (the pattern, a caret, the error).
pub fn regex(field: &str, pattern: &str, lines: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .multi_line(lines)
        .crlf(lines)
        .build()
        .map_err(|e| {
            let why = match &e {
                regex::Error::Syntax(s) => s
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or(s)
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string(),
                other => other.to_string(),
            };
            format!("{field}: `{pattern}` is not a valid regular expression: {why}")
        })
}

/// True when `s` is a template (rendered per machine), so it can be checked only then.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_local(content: &[u8]) -> Result<Option<String>, Failure> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, content).unwrap();
        let out = crate::facts::run_with_probe_lib(&probe(&p.to_string_lossy()));
        read(&Facts::parse(&out, 0), "f")
    }

    /// What the probe reads is the file, byte for byte: carriage returns, a missing last
    /// newline, blank lines, backslashes, `$`, leading blanks.
    #[test]
    fn the_probe_reads_text_exactly() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb\r\n",
            "  x \\n $HOME `id`\n\n\tlast",
            "ünï\rcødé\n",
            "-n\n-e\n",
        ] {
            assert_eq!(
                read_local(text.as_bytes()).unwrap().as_deref(),
                Some(text),
                "{text:?}"
            );
        }
        let f = read_local(b"\xff\xfe\n").unwrap_err();
        assert!(f.message.contains("not UTF-8"), "{}", f.message);
        let out = crate::facts::run_with_probe_lib(&probe("/nonexistent/x"));
        assert_eq!(read(&Facts::parse(&out, 0), "x").unwrap(), None);
        let out = crate::facts::run_with_probe_lib(&probe("/"));
        assert!(read(&Facts::parse(&out, 0), "/").is_err());
    }

    /// The write replaces the file only while it holds what was read (NUL bytes, which
    /// the probe cannot carry, make the step fail), keeps its mode, and creates a missing
    /// one with 0644.
    #[test]
    fn the_write_is_a_compare_and_swap() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it's a \"file\" $x;y");
        let path = p.to_string_lossy().into_owned();
        let run = |old: Option<&str>, new: &str| {
            let sha = old.map(|o| super::super::put::sha_of_bytes(o.as_bytes()));
            let mut c = std::process::Command::new("sh");
            c.arg("-c").arg(write_script(&path, sha.as_deref()));
            c.stdin(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(new.as_bytes())
                .unwrap();
            child.wait().unwrap().success()
        };
        assert!(run(None, "one\n"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!run(None, "x\n"), "the file appeared");
        assert!(!run(Some("other\n"), "x\n"), "the file changed");
        assert!(run(Some("one\n"), "two\n"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "an existing file keeps its mode");
        std::fs::write(&p, b"a\0b\n").unwrap();
        assert!(!run(Some("ab\n"), "x\n"), "NUL bytes were not read");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }

    /// A new file's missing parent directories are made, as Ansible's blockinfile makes
    /// them with `create`.
    #[test]
    fn a_new_file_gets_its_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it's/a b/f");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(write_script(&p.to_string_lossy(), None))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }

    #[test]
    fn regex_errors_are_one_line() {
        let e = regex("regexp", "(", true).unwrap_err();
        assert_eq!(
            e,
            "regexp: `(` is not a valid regular expression: unclosed group"
        );
        assert!(regex("regexp", "^a$", true).unwrap().is_match("b\na\n"));
        assert!(regex("regexp", "^a$", true).unwrap().is_match("b\r\na\r\n"));
    }
}
