//! `line`: one line present in (or absent from) a text file, optionally replacing the
//! lines that match an extended regular expression.
//!
//! Rules (also in docs/operations.md): with `regexp` and `state: present`, the first matching line
//! that is not already the declared line is replaced by it and later matching lines are
//! removed, so the setting appears once; with no match the line is appended (unless it is
//! already there). With `state: absent`, every line matching `regexp` (or equal to `line`)
//! is removed. The edit runs on the machine with awk (values passed through the
//! environment, so no escape processing happens) into a temporary file that is renamed
//! into place, keeping the file's mode and owner.

use serde::Deserialize;

use crate::facts::scan;
use crate::quote::quote;
use crate::remote::{temp_beside, TEMP_DONE};

use super::{
    text_diff, Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, Presence, RenderCtx,
    RenderError,
};

/// `line:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "line")]
pub struct Spec {
    /// Absolute path of the file.
    pub path: String,
    /// The whole line (without newline). Required for `present`.
    pub line: Option<String>,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// An extended regular expression: lines matching it are replaced by `line`
    /// (present) or removed (absent).
    pub regexp: Option<String>,
    /// Create the file when it is missing (default true for present).
    pub create: Option<bool>,
}

/// A rendered line step.
#[derive(Debug, Clone)]
pub struct Line {
    /// The file.
    pub path: String,
    /// The line (empty only for `absent` with `regexp`).
    pub line: String,
    /// present or absent.
    pub state: Presence,
    /// An extended regular expression.
    pub regexp: Option<String>,
    /// Create the file when missing.
    pub create: bool,
}

// `l` is the line without a CR at its end: a CRLF line equal to `line` is the line (as for
// Ansible's lineinfile, which rewrites it with LF when it is to be present, and removes it).
// `ENVIRON[...] ""` makes a string: awk compares two numeric-looking strings as numbers
// ("1.0" == " 1" == "1"), which would take one line for another.
const AWK: &str = r#"BEGIN { re = ENVIRON["ORBD_RE"] ""; line = ENVIRON["ORBD_LINE"] ""; mode = ENVIRON["ORBD_MODE"]; hasre = (re != ""); put = 0 }
{ l = $0; sub(/\r$/, "", l) }
mode == "present" {
  if (hasre && $0 ~ re && $0 != line) { if (!put) { print line; put = 1 }; next }
  if (!hasre && !put && l == line) { print line; put = 1; next }
  if ($0 == line) put = 1
  print; next
}
mode == "absent" {
  if (hasre) { if ($0 ~ re) next } else if (l == line) next
  print
}
END { if (mode == "present" && !put) print line }"#;

impl Line {
    fn env(&self) -> String {
        let mode = match self.state {
            Presence::Present => "present",
            Presence::Absent => "absent",
        };
        format!(
            "ORBD_RE={} ORBD_LINE={} ORBD_MODE={mode}\nexport ORBD_RE ORBD_LINE ORBD_MODE\n",
            quote(self.regexp.as_deref().unwrap_or("")),
            quote(&self.line)
        )
    }

    fn new_content_script(&self) -> String {
        let p = quote(&self.path);
        format!(
            "{}if [ -f {p} ]; then awk {} {p}; else printf '%s\\n' \"$ORBD_LINE\"; fi\n",
            self.env(),
            quote(AWK)
        )
    }
}

impl Operation for Line {
    const KEY: &'static str = "line";
    const APPLIES_BLINDLY: bool = true;
    const SCANS_AHEAD: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.state == Presence::Present && spec.line.is_none() {
            return Err(CheckError::of::<Line>("`state: present` needs `line`"));
        }
        if spec.line.is_none() && spec.regexp.is_none() {
            return Err(CheckError::of::<Line>("needs `line` or `regexp`"));
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        spec.path.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Line, RenderError> {
        let text = ctx.opt("line", &spec.line)?.unwrap_or_default();
        if text.contains('\n') {
            return Err(RenderError::Refused {
                field: "line",
                problem: "must be one line (no newline)",
            });
        }
        let regexp = ctx.opt("regexp", &spec.regexp)?;
        if regexp.as_deref() == Some("") {
            // Ansible's lineinfile takes it as matching every line; here it would be no
            // regexp at all. Neither is what a user means.
            return Err(RenderError::Refused {
                field: "regexp",
                problem: "must not be empty (it would match every line)",
            });
        }
        Ok(Line {
            path: ctx.abs_path("path", &spec.path)?,
            line: text,
            state: spec.state,
            regexp,
            create: spec.create.unwrap_or(true),
        })
    }

    fn scan(&self) -> Option<scan::Item> {
        match (&self.regexp, self.state) {
            (None, Presence::Present) => scan::Item::line(&self.path, &self.line),
            _ => None,
        }
    }

    fn probe(&self) -> Option<String> {
        let p = quote(&self.path);
        let l = quote(&self.line);
        if self.regexp.is_none() && self.state == Presence::Present {
            // `__od_lx` (probe library): the count from the batch's scan, else grep. The
            // exact line only: a CRLF one is rewritten.
            return Some(format!("__od_lx {p} {l}\n"));
        }
        let mut s = format!("if [ -f {p} ]; then echo .exists 1\n");
        if self.regexp.is_none() {
            // To remove: the line with a CR at its end too.
            let cr = quote(&format!("{}\r", self.line));
            s.push_str(&format!(
                "printf '.exact '; grep -c -x -F -e {l} -e {cr} -- {p}\n"
            ));
        } else {
            s.push_str(&format!("printf '.exact '; grep -c -x -F -e {l} -- {p}\n"));
        }
        if let Some(re) = &self.regexp {
            let re = quote(re);
            s.push_str(&format!(
                "printf '.other '; grep -E -e {re} -- {p} | grep -c -v -x -F -e {l}\n\
                 printf '.matching '; grep -c -E -e {re} -- {p}\n"
            ));
        }
        s.push_str(&format!(
            "elif [ -e {p} ]; then echo .exists notfile; else echo .exists 0; fi\n"
        ));
        Some(s)
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let count = |k: &str| -> Result<u64, Failure> {
            facts
                .get(k)
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    Failure::msg(format!("cannot read {}: {}", self.path, facts.noise_text()))
                })
        };
        match facts.get("exists") {
            Some("1") => {}
            Some("0") => {
                return match self.state {
                    Presence::Absent => Ok(Decision::Unchanged),
                    Presence::Present if self.create => Ok(Decision::Change(vec![format!(
                        "create {} with the line",
                        self.path
                    )])),
                    Presence::Present => Err(Failure::msg(format!(
                        "{} does not exist (set `create: true` to create it)",
                        self.path
                    ))),
                }
            }
            Some(_) => return Err(Failure::msg(format!("{} is not a regular file", self.path))),
            None => {
                return Err(Failure::msg(format!(
                    "cannot inspect {}: {}",
                    self.path,
                    facts.noise_text()
                )))
            }
        }
        let exact = count("exact")?;
        Ok(match (self.state, &self.regexp) {
            (Presence::Present, Some(_)) => {
                let other = count("other")?;
                if other > 0 {
                    Decision::Change(vec![format!(
                        "replace {other} matching {} in {}",
                        lines(other),
                        self.path
                    )])
                } else if exact > 0 {
                    Decision::Unchanged
                } else {
                    Decision::Change(vec![format!("append the line to {}", self.path)])
                }
            }
            (Presence::Present, None) if exact > 0 => Decision::Unchanged,
            (Presence::Present, None) => {
                Decision::Change(vec![format!("append the line to {}", self.path)])
            }
            (Presence::Absent, Some(_)) => match count("matching")? {
                0 => Decision::Unchanged,
                n => Decision::Change(vec![format!(
                    "remove {n} matching {} from {}",
                    lines(n),
                    self.path
                )]),
            },
            (Presence::Absent, None) if exact > 0 => {
                Decision::Change(vec![format!("remove {exact} line(s) from {}", self.path)])
            }
            (Presence::Absent, None) => Decision::Unchanged,
        })
    }

    fn diff(&self, ctx: &mut Ctx<'_>, _facts: &Facts) -> Option<String> {
        let mut old = Vec::new();
        let _ = ctx
            .remote
            .read_file(&self.path, ctx.user.as_deref(), &mut old);
        let new = ctx.remote.exec(&ctx.exec(self.new_content_script())).ok()?;
        (new.status == 0).then(|| text_diff(&self.path, &old, &new.stdout))
    }

    fn apply(&self, ctx: &mut Ctx<'_>, _facts: &Facts) -> Result<Applied, Failure> {
        ctx.run(&format!("editing {}", self.path), self.apply_script())
            .map(|_| Applied::default())
    }
}

impl Line {
    /// The edit: awk into a temporary file beside the file, renamed into place.
    fn apply_script(&self) -> String {
        // A symbolic link is followed: the file it points to is edited and the link stays
        // (as Ansible's lineinfile does). A file to create gets its missing parent
        // directories, as lineinfile makes them (`create` is checked before: a missing
        // file without it fails).
        format!(
            "{env}f={p}\n\
             if [ -L \"$f\" ]; then f=$(readlink -f -- \"$f\") || exit 1; fi\n\
             d=$(dirname -- \"$f\") || exit 1\n\
             [ -e \"$f\" ] || mkdir -p -- \"$d\" || exit 1\n\
             {temp}\
             if [ -f \"$f\" ]; then\n\
               awk {awk} \"$f\" > \"$t\" || exit 1\n\
               chmod \"$(stat -c %a -- \"$f\")\" \"$t\" || exit 1\n\
               chown \"$(stat -c %u:%g -- \"$f\")\" \"$t\" 2>/dev/null || true\n\
             else\n\
               printf '%s\\n' \"$ORBD_LINE\" > \"$t\" || exit 1\n\
               chmod 644 \"$t\" || exit 1\n\
             fi\n\
             mv -f \"$t\" \"$f\" || exit 1\n\
             {TEMP_DONE}",
            p = quote(&self.path),
            env = self.env(),
            temp = temp_beside("\"$d\"", ".orbdeploy"),
            awk = quote(AWK),
        )
    }
}

/// `line` or `lines`, for a count.
fn lines(n: u64) -> &'static str {
    if n == 1 {
        "line"
    } else {
        "lines"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the awk program locally on `input`.
    fn edit(input: &str, line: &str, re: Option<&str>, state: Presence) -> String {
        let l = Line {
            path: "/x".into(),
            line: line.into(),
            state,
            regexp: re.map(str::to_string),
            create: true,
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}printf '%s' {} | awk {}",
                l.env(),
                quote(input),
                quote(AWK)
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `l`'s apply script locally; it must succeed.
    fn applied(l: &Line) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(l.apply_script())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A file to create gets its missing parent directories, as with Ansible's lineinfile.
    #[test]
    fn create_makes_the_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("it's/a b/f");
        let l = Line {
            path: p.to_string_lossy().into_owned(),
            line: "x".into(),
            state: Presence::Present,
            regexp: None,
            create: true,
        };
        applied(&l);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x\n");
        // Through a symbolic link: the file it points to is edited, the link stays.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let l = Line {
            path: link.to_string_lossy().into_owned(),
            line: "y".into(),
            ..l
        };
        applied(&l);
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x\ny\n");
    }

    #[test]
    fn awk_rules() {
        use Presence::*;
        assert_eq!(edit("a\nb\n", "c", None, Present), "a\nb\nc\n");
        assert_eq!(edit("a\nc\n", "c", None, Present), "a\nc\n");
        assert_eq!(
            edit("a\nb", "c", None, Present),
            "a\nb\nc\n",
            "adds the missing newline"
        );
        assert_eq!(
            edit("x=1\ny\nx=2\n", "x=3", Some("^x="), Present),
            "x=3\ny\n",
            "first match replaced, later ones removed"
        );
        assert_eq!(edit("x=3\n", "x=3", Some("^x="), Present), "x=3\n");
        assert_eq!(edit("a\nb\na\n", "a", None, Absent), "b\n");
        assert_eq!(
            edit("1.0\n 1\n", "1", None, Present),
            "1.0\n 1\n1\n",
            "lines are compared as text, never as numbers"
        );
        assert_eq!(edit("1.0\n1\n01\n", "1", None, Absent), "1.0\n01\n");
        assert_eq!(edit("k=1\nb\nk=2\n", "", Some("^k="), Absent), "b\n");
        assert_eq!(
            edit("a\r\nb\r\n", "b", None, Present),
            "a\r\nb\n",
            "a CRLF line that is the line is rewritten, not added again (as lineinfile)"
        );
        assert_eq!(
            edit("a\r\nb\r\nc\r\n", "b", None, Absent),
            "a\r\nc\r\n",
            "a CRLF line that is the line is removed"
        );
        assert_eq!(
            edit("a\n", "$HOME \\n 'q' `id`", None, Present),
            "a\n$HOME \\n 'q' `id`\n",
            "no escape processing"
        );
    }
}
