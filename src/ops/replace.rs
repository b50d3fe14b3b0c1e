//! `replace`: every match of a regular expression in a text file (or the first `count`)
//! replaced.
//!
//! Rules (also in docs/operations.md): the expression is Rust's `regex` syntax, the same on every
//! machine whatever its awk or sed, matched against the whole file with `^` and `$` at
//! every line (as Ansible's `replace` does); `(?s)` lets `.` match a newline. The
//! replacement refers to groups as `$1`, `${1}` or `${name}`, and `$$` is a `$`; a group it
//! names that the expression does not have is an error, not an empty string. The file is
//! read by the probe and the replacement made here (see `src/ops/text.rs`), so decide and
//! `--diff` are exact, and the file is written back (atomically, keeping its mode and
//! owner) only when the result differs. The step is idempotent once no match is left to
//! change: a replacement that the expression matches again and rewrites to the same text
//! (`^port=.*` → `port=8080`) changes nothing the second time.

use serde::Deserialize;

use super::text;
use super::{
    text_diff, Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, RenderCtx,
    RenderError,
};

/// `replace:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "replace")]
pub struct Spec {
    /// Absolute path of the file.
    pub path: String,
    /// The regular expression (Rust `regex` syntax, multi-line).
    pub regexp: String,
    /// What each match becomes (`$1`, `${name}`; `$$` for `$`). Default: nothing.
    #[serde(default)]
    pub replace: String,
    /// Replace only the first `count` matches (default: every match).
    pub count: Option<u32>,
}

/// A rendered replace step.
#[derive(Debug, Clone)]
pub struct Replace {
    /// The file.
    pub path: String,
    /// The compiled expression.
    pub regexp: regex::Regex,
    /// The replacement.
    pub replace: String,
    /// At most this many matches (0: every match).
    pub count: usize,
}

/// The first group `replacement` names that `re` does not have, as written (`$2`).
fn unknown_group(re: &regex::Regex, replacement: &str) -> Option<String> {
    let names: Vec<&str> = re.capture_names().flatten().collect();
    let b = replacement.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        // `${name}`, or the longest run of name characters (the crate's own rule).
        let (name, end) = if b.get(i + 1) == Some(&b'{') {
            match replacement[i + 2..].find('}') {
                Some(close) => (&replacement[i + 2..i + 2 + close], i + 3 + close),
                None => return Some(replacement[i..].to_string()),
            }
        } else {
            let len = replacement[i + 1..]
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            (&replacement[i + 1..i + 1 + len], i + 1 + len)
        };
        let known = match name.parse::<usize>() {
            Ok(n) => n < re.captures_len(),
            Err(_) => names.contains(&name),
        };
        // A `$` followed by nothing a name is made of is kept as it is.
        if !name.is_empty() && !known {
            return Some(replacement[i..end].to_string());
        }
        i = end.max(i + 1);
    }
    None
}

fn compile(pattern: &str, replacement: Option<&str>) -> Result<regex::Regex, String> {
    let re = text::regex("regexp", pattern, true)?;
    if let Some(group) = replacement.and_then(|r| unknown_group(&re, r)) {
        return Err(format!(
            "`replace` refers to `{group}`, a group the regexp does not have (write `$$` for a `$`, `${{1}}x` for group 1 followed by x)"
        ));
    }
    Ok(re)
}

impl Replace {
    /// The file as it should be, and how many matches were replaced.
    pub fn edit(&self, old: &str) -> (String, usize) {
        let n = self.regexp.find_iter(old).count();
        let n = if self.count > 0 { n.min(self.count) } else { n };
        let new = self
            .regexp
            .replacen(old, self.count, self.replace.as_str())
            .into_owned();
        (new, n)
    }

    fn old_and_new(&self, facts: &Facts) -> Result<(String, String, usize), Failure> {
        let Some(old) = text::read(facts, &self.path)? else {
            return Err(Failure::msg(format!("{} does not exist", self.path)));
        };
        let (new, n) = self.edit(&old);
        Ok((old, new, n))
    }
}

impl Operation for Replace {
    const KEY: &'static str = "replace";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.count == Some(0) {
            return Err(CheckError::of::<Replace>(
                "`count` is 0; leave it out to replace every match",
            ));
        }
        if text::is_template(&spec.regexp) {
            return Ok(());
        }
        let replacement = Some(spec.replace.as_str()).filter(|r| !text::is_template(r));
        compile(&spec.regexp, replacement)
            .map(|_| ())
            .map_err(CheckError::of::<Replace>)
    }

    fn summary(spec: &Spec) -> String {
        spec.path.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Replace, RenderError> {
        let path = ctx.abs_path("path", &spec.path)?;
        let pattern = ctx.text("regexp", &spec.regexp)?;
        let replace = ctx.text("replace", &spec.replace)?;
        let regexp =
            compile(&pattern, Some(&replace)).map_err(|message| RenderError::Template {
                field: "regexp".into(),
                message,
            })?;
        Ok(Replace {
            path,
            regexp,
            replace,
            count: spec.count.unwrap_or(0) as usize,
        })
    }

    fn probe(&self) -> Option<String> {
        Some(text::probe(&self.path))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let (old, new, n) = self.old_and_new(facts)?;
        Ok(if old == new {
            Decision::Unchanged
        } else {
            let matches = if n == 1 { "match" } else { "matches" };
            Decision::Change(vec![format!("replace {n} {matches} in {}", self.path)])
        })
    }

    fn diff(&self, _ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        let (old, new, _) = self.old_and_new(facts).ok()?;
        Some(text_diff(&self.path, old.as_bytes(), new.as_bytes()))
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let (old, new, _) = self.old_and_new(facts)?;
        if old == new {
            return Ok(Applied::default());
        }
        text::write(ctx, &self.path, Some(&old), &new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(re: &str, with: &str, count: usize) -> Replace {
        Replace {
            path: "/x".into(),
            regexp: compile(re, Some(with)).unwrap(),
            replace: with.into(),
            count,
        }
    }

    #[test]
    fn matches_are_replaced_line_by_line_and_idempotently() {
        let r = replace(r"^port=\d+$", "port=8080", 0);
        let (once, n) = r.edit("a\nport=1\nport=2\n");
        assert_eq!((once.as_str(), n), ("a\nport=8080\nport=8080\n", 2));
        assert_eq!(r.edit(&once).0, once, "the same text the second time");
        let first = replace("x", "y", 1);
        assert_eq!(first.edit("xxx").0, "yxx");
        let groups = replace(r"(?P<k>\w+) = (\w+)", "${k}=$2 $$", 0);
        assert_eq!(groups.edit("a = 1\n").0, "a=1 $\n");
        let dotall = replace(r"(?s)<a>.*</a>\n", "", 0);
        assert_eq!(dotall.edit("<a>\n1\n</a>\nz\n").0, "z\n");
    }

    #[test]
    fn a_group_the_regexp_lacks_is_an_error() {
        assert!(compile("(a)", Some("$1 ${1} $0")).is_ok());
        assert!(compile("(?P<n>a)", Some("$n")).is_ok());
        assert!(compile("a", Some("costs $ 5, $$")).is_ok());
        let e = compile("(a)", Some("$2")).unwrap_err();
        assert!(e.contains("`$2`"), "{e}");
        let e = compile("(a)", Some("$1x")).unwrap_err();
        assert!(e.contains("`$1x`") && e.contains("${1}x"), "{e}");
        let e = compile("(", Some("")).unwrap_err();
        assert!(e.contains("unclosed group"), "{e}");
    }
}
