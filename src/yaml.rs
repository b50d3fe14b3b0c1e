//! The only module that knows the YAML crate.
//!
//! Loaders call [`parse_file`] / [`parse_str`] and get either their typed value or one
//! [`ConfigError`] that names the file, line and column and says what was expected.
//! Options are strict on purpose: YAML 1.1 booleans (`yes`, `on`) are rejected, duplicate
//! keys are errors, and `0755` stays the string the user meant instead of becoming 755.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::ConfigError;
use crate::read_log::ReadLog;

/// A value together with where it was written, for checks made after parsing
/// (duplicate machines, unknown groups, unknown handlers).
pub type Spanned<T> = serde_saphyr::Spanned<T>;

/// A position in a YAML file (`Location::UNKNOWN` for a value written nowhere).
pub type Location = serde_saphyr::Location;

/// Files larger than this are refused before parsing: an inventory or operations file is
/// text a person writes, and a huge one is a mistake (or an attack on the parser).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Read and parse one YAML file, noting it in the run's read log.
pub fn parse_file<T: DeserializeOwned>(path: &Path, log: &ReadLog) -> Result<T, ConfigError> {
    let text = read_text(path, log)?;
    parse_str(&text, path)
}

/// Read a text file a user wrote, with the checks every loaded file gets: it exists, it is
/// not too large, it is UTF-8 and it is not empty.
pub fn read_text(path: &Path, log: &ReadLog) -> Result<String, ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::in_file(path, format!("cannot read file: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(ConfigError::in_file(
            path,
            "is a directory, expected a YAML file",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::in_file(
            path,
            format!(
                "file is too large ({} bytes; the limit is {} bytes)",
                meta.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::in_file(path, format!("cannot read file: {}", io_reason(&e))))?;
    log.note(path, &bytes);
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let column = (offset
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)) as u64
            + 1;
        ConfigError::at(path, line, column, "file is not valid UTF-8 text")
    })?;
    if text.trim().is_empty() {
        return Err(ConfigError::in_file(path, "file is empty"));
    }
    Ok(text)
}

/// Parse YAML text that came from `path` (used only for messages).
pub fn parse_str<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let message = clean_message(&e.to_string());
        // A syntax error shows its line, unless the line is too long to read (the
        // nesting limit is met in a line of brackets).
        let syntax = matches!(e, serde_saphyr::Error::ExternalMessage { .. })
            && message != "recursion limit exceeded";
        match e.location() {
            Some(loc) if loc.line() > 0 && syntax => ConfigError::at(
                path,
                loc.line(),
                loc.column(),
                syntax_message(text, loc.line(), loc.column(), &message),
            ),
            Some(loc) if loc.line() > 0 => {
                let message = in_words(text, loc.line(), loc.column(), message);
                ConfigError::at(path, loc.line(), loc.column(), message)
            }
            _ => ConfigError::in_file(path, message),
        }
    })
}

/// A syntax error as the parser says it, then the line it points at with a caret under
/// the column, then what usually causes it: in a file a person writes, indentation.
fn syntax_message(text: &str, line: u64, column: u64, message: &str) -> String {
    let src = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    // Tabs stay tabs under the line so the caret lines up however a terminal shows them.
    let pad: String = src
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let hint = if src.starts_with('\t') || src.contains(":\t") {
        "YAML does not allow tabs for indentation: indent with spaces"
    } else if message.contains("mapping values are not allowed") {
        "a `key: value` where none can start: indent it under the key it belongs to, or quote a value that contains `: `"
    } else if message.contains("did not find expected ',' or") || message.contains("flow") {
        "a `[` or `{` is not closed, or a value in it needs quotes"
    } else {
        "check the indentation: the keys of one mapping start in the same column, a value indented more than its key belongs to that key, and list items (`- `) line up"
    };
    format!(
        "{message}\n {number} | {src}\n {gutter} | {pad}^\n hint: {hint}",
        src = src.trim_end()
    )
}

/// The parser's words for a value of the wrong shape ("expected mapping start") name
/// neither the key nor what was found; both are on the line it points at.
fn in_words(text: &str, line: u64, column: u64, message: String) -> String {
    let src = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    let at = src
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map_or(src.len(), |(i, _)| i);
    let (before, value) = src.split_at(at);
    let key = key_before(before).or_else(|| key_above(text, line, before.len()));
    let found = found_text(value);
    let with_key = |m: String| match &key {
        Some(k) => format!("`{k}`: {m}"),
        None => m,
    };
    match message.as_str() {
        "expected mapping start" => with_key(format!(
            "expected a mapping (`name: value` pairs), found {found}"
        )),
        "expected sequence start" => with_key(format!("expected a list, found {found}")),
        "invalid boolean (expected true or false)" => with_key(format!(
            "`{}` is not a boolean: write true or false",
            value.trim().trim_end_matches([',', '}', ']']).trim()
        )),
        "recursion limit exceeded" => "nested too deeply".to_string(),
        "expected string scalar" => with_key(format!("expected a string, found {found}")),
        m if m.starts_with("invalid u") || m.starts_with("invalid i") => {
            with_key(format!("expected a whole number, found {found}"))
        }
        m => match m.strip_prefix("invalid type: ") {
            Some(rest) => match rest.split_once(", expected ") {
                Some((got, want)) => with_key(format!("expected {want}, found {}", a_kind(got))),
                None => with_key(m.to_string()),
            },
            None => m.to_string(),
        },
    }
}

/// `key` of a `key: value` (or `- key: value`, `{ a: 1, key: value`) written before a value.
fn key_before(before: &str) -> Option<String> {
    let head = before.trim_end().strip_suffix(':')?;
    let key = head
        .rsplit(['{', ',', ' ', '-'])
        .next()
        .unwrap_or(head)
        .trim_matches(['"', '\'']);
    (!key.is_empty()).then(|| key.to_string())
}

/// The `key:` of a block value that starts on its own line: the nearest line above,
/// indented less than the value, that ends with a colon.
fn key_above(text: &str, line: u64, indent: usize) -> Option<String> {
    let above: Vec<&str> = text.lines().take(line.saturating_sub(1) as usize).collect();
    let parent = above.iter().rev().find(|l| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#') && l.len() - t.len() < indent
    })?;
    key_before(parent.trim_end())
}

/// What a value written at the start of `value` is, in a user's words.
fn found_text(value: &str) -> String {
    let v = value.trim();
    match v.chars().next() {
        Some('[') => "a list".to_string(),
        Some('{') => "a mapping".to_string(),
        Some('-') if v.starts_with("- ") || v == "-" => "a list".to_string(),
        None => "nothing".to_string(),
        Some(_) => format!("`{}`", v.trim_end_matches([',', '}', ']']).trim()),
    }
}

/// serde's `map`, `sequence`, `integer \`5\``... as a user says them.
fn a_kind(serde_kind: &str) -> String {
    match serde_kind {
        "map" => "a mapping".to_string(),
        "sequence" => "a list".to_string(),
        other => other.to_string(),
    }
}

/// The parser appends " at line L, column C" and sometimes advice meant for programmers;
/// the location goes in front in our format, and the advice is replaced by plain words.
fn clean_message(raw: &str) -> String {
    let mut msg = raw.lines().next().unwrap_or(raw).trim().to_string();
    if let Some(idx) = msg.rfind(" at line ") {
        msg.truncate(idx);
    }
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return format!("duplicate key `{key}`");
    }
    if let Some((head, list)) = msg.split_once(", expected one of ") {
        let names: Vec<&str> = list.split(", ").map(str::trim).collect();
        if let Some(advice) = ansible_advice(head, &names) {
            return format!("{head}: {advice}");
        }
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        return match (quoted.as_slice(), did_you_mean(head, &names)) {
            ([one], _) => format!("{head}, expected {one}"),
            (_, Some(n)) => format!(
                "{head}; did you mean `{n}`? Expected one of {}",
                quoted.join(", ")
            ),
            (_, None) => format!("{head}, expected one of {}", quoted.join(", ")),
        };
    }
    msg.replace(
        "(strict mode expects true/false)",
        "(expected true or false)",
    )
}

/// Ansible's names for what orbdeploy calls otherwise, and what to write instead. Only
/// a name whose replacement is allowed where it was written is answered this way.
const ANSIBLE: &[(&str, &str, &str)] = &[
    ("lineinfile", "line", "use `line`"),
    ("blockinfile", "block", "use `block`"),
    (
        "copy",
        "put",
        "use `put` (`src:` or `content:`, and `dest:`)",
    ),
    ("fetch", "get", "use `get`"),
    (
        "apt",
        "packages",
        "use `packages` (it uses the machine's package manager)",
    ),
    ("package", "packages", "use `packages`"),
    (
        "yum",
        "packages",
        "use `packages` (it uses the machine's package manager)",
    ),
    (
        "dnf",
        "packages",
        "use `packages` (it uses the machine's package manager)",
    ),
    (
        "apk",
        "packages",
        "use `packages` (it uses the machine's package manager)",
    ),
    ("systemd", "service", "use `service`"),
    ("systemd_service", "service", "use `service`"),
    ("get_url", "download", "use `download`"),
    ("wait_for", "wait", "use `wait`"),
    ("synchronize", "sync", "use `sync`"),
    ("sudo", "become", "use `become: true`"),
    (
        "become_user",
        "user",
        "use `user: NAME` (the step runs as that user; `become` is for root)",
    ),
    ("with_items", "loop", "use `loop:` with a list"),
    ("with_list", "loop", "use `loop:` with a list"),
    (
        "loop_control",
        "loop_var",
        "write `loop_var:` and `label:` on the step itself",
    ),
    ("environment", "env", "use `env`"),
    (
        "args",
        "workdir",
        "write the step's settings (`workdir`, `creates`, `unless`) on the step itself",
    ),
    ("chdir", "workdir", "use `workdir` on the step"),
    ("include_tasks", "include", "use `include: FILE`"),
    ("import_tasks", "include", "use `include: FILE`"),
    ("include_role", "role", "use `role: NAME`"),
    ("import_role", "role", "use `role: NAME`"),
    ("tasks", "steps", "use `steps`"),
];

/// What to write instead of an Ansible name in `unknown field `X``, when `X` is one and
/// its replacement is among the `names` allowed there.
fn ansible_advice(head: &str, names: &[&str]) -> Option<String> {
    let word = head.split('`').nth(1)?;
    let bare = word.strip_prefix("ansible.builtin.").unwrap_or(word);
    let (_, ours, advice) = ANSIBLE.iter().find(|(a, _, _)| *a == bare)?;
    names
        .contains(ours)
        .then(|| format!("that is Ansible's name; in orbdeploy, {advice}"))
}

/// The expected name closest to the unknown one in `unknown field `grups``, when it is
/// close enough to be a typo.
fn did_you_mean<'a>(head: &str, names: &[&'a str]) -> Option<&'a str> {
    let word = head.split('`').nth(1)?;
    names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(word, n), *n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// An I/O error in a few words (`no such file`, `permission denied`).
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Where a spanned value was written, as `file:line:column`.
pub fn position<T>(path: &Path, spanned: &Spanned<T>) -> String {
    format!(
        "{}:{}:{}",
        path.display(),
        spanned.referenced.line(),
        spanned.referenced.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        machines: BTreeMap<String, Machine>,
        #[serde(default)]
        create: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Machine {
        #[serde(default)]
        image: Option<String>,
    }

    fn err(text: &str) -> String {
        parse_str::<Doc>(text, Path::new("inv.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_names_file_line_column() {
        assert_eq!(
            err("machines:\n  a: { imag: x }\n"),
            "inv.yaml:2:8: unknown field `imag`, expected `image`"
        );
    }

    #[test]
    fn unknown_key_lists_the_allowed_keys() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Two {
            alpha: Option<u8>,
            beta: Option<u8>,
        }
        let e = parse_str::<Two>("gamma: 1\n", Path::new("f.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:1:1: unknown field `gamma`, expected one of `alpha`, `beta`"
        );
    }

    #[test]
    fn ansible_names_are_answered_with_ours() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Step {
            line: Option<u8>,
            shell: Option<u8>,
        }
        let e = parse_str::<Step>("lineinfile: 1\n", Path::new("f.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:1:1: unknown field `lineinfile`: that is Ansible's name; in orbdeploy, use `line`"
        );
        // `copy` would be `put`, which is not allowed here: the keys are listed as before.
        let e = parse_str::<Step>("copy: 1\n", Path::new("f.yaml")).unwrap_err();
        assert!(
            e.to_string().contains("expected one of `line`, `shell`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_show_the_line_a_caret_and_a_hint() {
        let e = err("machines:\n  m1: {}\n    m2: {}\n");
        let lines: Vec<&str> = e.lines().collect();
        assert!(lines[0].starts_with("inv.yaml:3:"), "{e}");
        assert_eq!(lines[1], " 3 |     m2: {}");
        assert!(
            lines[2].starts_with("   | ") && lines[2].ends_with('^'),
            "{e}"
        );
        assert!(lines[3].starts_with(" hint: "), "{e}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert_eq!(
            err("machines:\n  a: {}\n  a: {}\n"),
            "inv.yaml:3:3: duplicate key `a`"
        );
    }

    #[test]
    fn yaml11_booleans_are_rejected() {
        assert_eq!(
            err("create: yes\n"),
            "inv.yaml:1:9: `create`: `yes` is not a boolean: write true or false"
        );
    }

    #[test]
    fn wrong_shapes_name_the_key_and_what_was_found() {
        assert_eq!(
            err("machines: [a, b]\n"),
            "inv.yaml:1:11: `machines`: expected a mapping (`name: value` pairs), found a list"
        );
        assert_eq!(
            err("machines:\n  - a\n"),
            "inv.yaml:2:3: `machines`: expected a mapping (`name: value` pairs), found a list"
        );
        assert_eq!(
            err("{ create: on }\n"),
            "inv.yaml:1:11: `create`: `on` is not a boolean: write true or false"
        );
    }

    #[test]
    fn valid_document_parses() {
        let doc: Doc = parse_str(
            "create: true\nmachines:\n  a: { image: debian }\n",
            Path::new("x"),
        )
        .unwrap();
        assert!(doc.create);
        assert_eq!(doc.machines["a"].image.as_deref(), Some("debian"));
    }

    #[test]
    fn non_utf8_file_is_reported_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, b"machines:\n  a\xff: {}\n").unwrap();
        let e = read_text(&path, &ReadLog::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2:4: file is not valid UTF-8 text", path.display())
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.yaml");
        std::fs::write(&path, "  \n").unwrap();
        assert!(read_text(&path, &ReadLog::default())
            .unwrap_err()
            .to_string()
            .ends_with("file is empty"));
    }
}
