//! URLs as `git` and `download` steps take them: the scheme, and the credentials a URL may
//! carry in its userinfo (`https://user:token@host/...`), which never appear in what
//! orbdeploy prints or reports.

use super::Failure;

/// The scheme of `url` in lower case (`https` for `HTTPS://x`), when it has one.
pub fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    let ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    ok.then(|| scheme.to_ascii_lowercase())
}

/// The userinfo of a `scheme://userinfo@host/...` URL, as written (`None`: it has none).
pub fn userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (info, _) = authority.rsplit_once('@')?;
    (!info.is_empty()).then_some(info)
}

/// `url` with its userinfo replaced by `***`.
pub fn masked(url: &str) -> String {
    match (userinfo(url), url.split_once("://")) {
        (Some(info), Some((scheme, rest))) => {
            format!("{scheme}://***{}", &rest[info.len()..])
        }
        _ => url.to_string(),
    }
}

/// What to hide of a URL's credentials in any text: the whole userinfo and, when it has
/// one, the password alone (a tool may print either), longest first.
pub fn secrets(url: &str) -> Vec<String> {
    let Some(info) = userinfo(url) else {
        return Vec::new();
    };
    let mut out = vec![info.to_string()];
    if let Some((_, password)) = info.split_once(':') {
        if !password.is_empty() {
            out.push(password.to_string());
        }
    }
    out
}

/// `text` with every secret of [`secrets`] replaced by `***`.
pub fn hide(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// A failure with the URL's credentials hidden in every part a report shows.
pub fn hide_in_failure(mut f: Failure, secrets: &[String]) -> Failure {
    if secrets.is_empty() {
        return f;
    }
    f.message = hide(&f.message, secrets);
    f.command = f.command.map(|c| hide(&c, secrets));
    f.stdout_tail = hide(&f.stdout_tail, secrets);
    f.stderr_tail = hide(&f.stderr_tail, secrets);
    if let Some(out) = f.output.as_mut() {
        out.stdout = hide(&out.stdout_text(), secrets).into_bytes();
        out.stderr = hide(&out.stderr_text(), secrets).into_bytes();
    }
    f
}

/// The path of a `file://` URL: `file:///a%20b` is `/a b` (`file://localhost/x` is `/x`).
/// `None` when it names another host, is not absolute, or decodes to something that is
/// not a path (a NUL, a newline, bytes that are not UTF-8).
pub fn file_path(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = percent_decode(rest)?;
    let path = String::from_utf8(bytes).ok()?;
    (!path.contains('\0') && !path.contains('\n')).then_some(path)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_and_found() {
        assert_eq!(
            masked("https://bob:s3cr3t@example.com/r.git"),
            "https://***@example.com/r.git"
        );
        assert_eq!(
            masked("https://tok@example.com/a@b"),
            "https://***@example.com/a@b"
        );
        assert_eq!(masked("https://example.com/x"), "https://example.com/x");
        assert_eq!(masked("git@github.com:o/r.git"), "git@github.com:o/r.git");
        assert_eq!(
            secrets("https://bob:pw@h/x"),
            vec!["bob:pw".to_string(), "pw".to_string()]
        );
        assert_eq!(
            hide(
                "fatal: https://bob:pw@h/x and pw",
                &secrets("https://bob:pw@h/x")
            ),
            "fatal: https://***@h/x and ***"
        );
    }

    #[test]
    fn schemes_and_file_paths() {
        assert_eq!(scheme("HTTPS://x").as_deref(), Some("https"));
        assert_eq!(scheme("ftp://x").as_deref(), Some("ftp"));
        assert_eq!(scheme("/just/a/path"), None);
        assert_eq!(file_path("file:///a%20b/c").as_deref(), Some("/a b/c"));
        assert_eq!(file_path("file://localhost/x").as_deref(), Some("/x"));
        assert_eq!(file_path("file://other/x"), None);
        assert_eq!(file_path("file:///a%0Ab"), None);
        assert_eq!(file_path("file:///a%zz"), None);
    }
}
