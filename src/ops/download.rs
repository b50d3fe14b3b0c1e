//! `download`: a file fetched by the machine itself (curl, wget or busybox wget, whichever
//! it has; a `file://` URL is read with `cat`) into a temporary file beside the
//! destination, checked against `sha256`, then renamed into place.

use serde::Deserialize;

use crate::quote::quote;
use crate::remote::{parent_dir, temp_beside, TEMP_DONE};
use crate::spec::Seconds;

use super::attrs::{self, Attrs, Kind};
use super::put::sha_fact;
use super::url;
use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Mode, Operation, RenderCtx, RenderError,
};

/// Exit status of the download script when the hash differs.
const MISMATCH: i32 = 3;
/// ... when the fetch itself failed.
const FETCH_FAILED: i32 = 4;
/// ... when the machine has no tool to fetch with.
const NO_TOOL: i32 = 5;
/// The line a forced download prints when `dest` already had the bytes it fetched.
const SAME: &str = ".same";

/// `download:` — `url` to `dest`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "download")]
pub struct Spec {
    /// An `http://`, `https://` or `file://` URL.
    pub url: String,
    /// Absolute path of the file on the machine.
    pub dest: String,
    /// The SHA-256 the file must have (64 hex digits).
    pub sha256: Option<String>,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
    /// Download even when `dest` exists (without `sha256`: every time).
    #[serde(default)]
    pub force: bool,
    /// Give up on the transfer after this long (seconds, or `"90s"`, `"5m"`).
    pub timeout: Option<Seconds>,
}

/// Where the file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An http or https URL, fetched with curl or wget.
    Http(String),
    /// A path on the machine (a `file://` URL), read with `cat`.
    File(String),
}

/// A rendered download step.
#[derive(Debug, Clone)]
pub struct Download {
    /// Where the file comes from.
    pub source: Source,
    /// The URL as shown (credentials masked).
    pub shown: String,
    /// Destination on the machine.
    pub dest: String,
    /// Expected SHA-256, lower-case hex.
    pub sha256: Option<String>,
    /// Declared attributes.
    pub attrs: Attrs,
    /// Download even when present.
    pub force: bool,
    /// Transfer time limit in seconds.
    pub timeout: Option<u64>,
    /// The machine's name, for messages.
    pub machine: String,
    /// What to hide in any text shown (the URL's userinfo).
    pub secrets: Vec<String>,
}

fn valid_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

const BAD_SCHEME: &str = "only http, https and file URLs can be downloaded";

/// The source a URL names, or why it cannot be downloaded.
fn source(u: &str) -> Result<Source, &'static str> {
    match url::scheme(u).as_deref() {
        Some("http" | "https") => {
            if u.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err("a URL cannot contain spaces or control characters");
            }
            Ok(Source::Http(u.to_string()))
        }
        Some("file") => url::file_path(u)
            .map(Source::File)
            .ok_or("a file URL must be file:///ABSOLUTE/PATH"),
        _ => Err(BAD_SCHEME),
    }
}

impl Download {
    /// The commands that fetch the source into `"$t"`.
    fn fetch(&self) -> String {
        let t = self.timeout;
        match &self.source {
            Source::File(path) => {
                format!("cat -- {} > \"$t\" || exit {FETCH_FAILED}\n", quote(path))
            }
            Source::Http(u) => {
                let u = quote(u);
                // curl limits the whole transfer itself. wget's -T is a limit per read, and
                // Debian's busybox before 1.36.1-5 has no -T at all (it crashes on it): the
                // wgets run under timeout(1) when the machine has it.
                let (curl_t, limit) = match t {
                    Some(t) => (
                        format!(" --max-time {t}"),
                        format!("__od_to=; command -v timeout >/dev/null 2>&1 && __od_to='timeout {t}'\n"),
                    ),
                    None => (String::new(), "__od_to=\n".to_string()),
                };
                format!(
                    "{limit}if command -v curl >/dev/null 2>&1; then curl -fsSL{curl_t} -o \"$t\" {u} || exit {FETCH_FAILED}\n\
                     elif command -v wget >/dev/null 2>&1; then $__od_to wget -q -O \"$t\" {u} || exit {FETCH_FAILED}\n\
                     elif command -v busybox >/dev/null 2>&1 && busybox wget --help >/dev/null 2>&1; then $__od_to busybox wget -q -O \"$t\" {u} || exit {FETCH_FAILED}\n\
                     else exit {NO_TOOL}; fi\n"
                )
            }
        }
    }

    /// The whole script: fetch into a temporary file beside `dest`, hash, check, set mode
    /// and owner (an existing file's, unless declared), rename into place.
    fn script(&self, as_root: bool) -> String {
        let dest = quote(&self.dest);
        let mut s = temp_beside(&quote(parent_dir(&self.dest)), ".orbdeploy-dl");
        s.push_str(&self.fetch());
        s.push_str("h=$(sha256sum < \"$t\") || exit 1\nh=${h%% *}\nprintf '.got %s\\n' \"$h\"\n");
        if let Some(sha) = &self.sha256 {
            s.push_str(&format!("[ \"$h\" = {} ] || exit {MISMATCH}\n", quote(sha)));
        } else if self.force {
            // Forced without a sha256: the bytes `dest` has already are no change (the
            // trap removes the temporary file), as for Ansible's get_url.
            s.push_str(&format!(
                "if [ -f {dest} ] && [ ! -L {dest} ]; then o=$(sha256sum < {dest}) || exit 1; [ \"${{o%% *}}\" != \"$h\" ] || {{ echo {SAME}; exit 0; }}; fi\n"
            ));
        }
        match self.attrs.mode {
            Some(m) => s.push_str(&format!("chmod {} \"$t\" || exit 1\n", m.octal())),
            None => s.push_str(&format!(
                "if [ -f {dest} ] && [ ! -L {dest} ]; then chmod \"$(stat -c %a {dest})\" \"$t\"; else chmod 644 \"$t\"; fi || exit 1\n"
            )),
        }
        match attrs::chown_spec(&self.attrs) {
            Some(o) => s.push_str(&format!("chown {} \"$t\" || exit 1\n", quote(&o))),
            None if as_root => s.push_str(&format!(
                "if [ -f {dest} ] && [ ! -L {dest} ]; then chown \"$(stat -c %u:%g {dest})\" \"$t\" || exit 1; fi\n"
            )),
            None => {}
        }
        s.push_str(&format!("mv -f \"$t\" {dest} || exit 1\n"));
        s.push_str(TEMP_DONE);
        s
    }

    /// The failure of the download script, in words.
    fn failure(
        &self,
        script: &str,
        out: &crate::remote::ExecOutput,
        user: Option<&str>,
    ) -> Failure {
        let mut f = Failure::from_output(&format!("downloading {}", self.shown), script, out);
        let got = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(".got ").map(str::to_string))
            .unwrap_or_default();
        let why = crate::process::tail_lines(&out.stderr, 3);
        f.message = match out.status {
            MISMATCH => format!(
                "sha256 mismatch for {}: expected {}, got {got}; {} was left as it was",
                self.shown,
                self.sha256.as_deref().unwrap_or(""),
                self.dest
            ),
            NO_TOOL => format!(
                "none of curl, wget or busybox wget is installed on {}; add a `packages: {{ names: [curl] }}` step before this one",
                self.machine
            ),
            FETCH_FAILED => format!("downloading {} failed: {}", self.shown, why.trim()),
            _ => f.message,
        };
        if let Some(hint) = super::permission_hint(out, user) {
            if out.status == 1 {
                f.message.push_str(&format!(": {hint}"));
            }
        }
        url::hide_in_failure(f, &self.secrets)
    }
}

impl Operation for Download {
    const KEY: &'static str = "download";
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if let Some(sha) = &spec.sha256 {
            if !sha.contains("{{") && !valid_sha256(sha) {
                return Err(CheckError::of::<Download>(
                    "`sha256` must be 64 hexadecimal digits",
                ));
            }
        }
        let u = spec.url.trim_start();
        // A URL whose scheme is a template is checked when it is rendered.
        let templated = u.split("://").next().is_some_and(|s| s.contains("{{"));
        if !templated {
            source(u).map_err(CheckError::of::<Download>)?;
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        spec.dest.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Download, RenderError> {
        let u = ctx.text("url", &spec.url)?;
        let src = source(&u).map_err(|problem| RenderError::Invalid {
            field: "url",
            value: url::masked(&u),
            problem,
        })?;
        let sha256 = ctx.opt("sha256", &spec.sha256)?;
        if let Some(sha) = &sha256 {
            if !valid_sha256(sha) {
                return Err(RenderError::Invalid {
                    field: "sha256",
                    value: sha.clone(),
                    problem: "is not 64 hexadecimal digits",
                });
            }
        }
        let dest = ctx.abs_path("dest", &spec.dest)?;
        if dest.ends_with('/') {
            return Err(RenderError::Invalid {
                field: "dest",
                value: dest,
                problem: "must name a file",
            });
        }
        let machine = ctx
            .vars
            .get_attr("machine")
            .ok()
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_else(|| "the machine".into());
        Ok(Download {
            shown: url::masked(&u),
            secrets: url::secrets(&u),
            source: src,
            dest,
            sha256: sha256.map(|s| s.to_ascii_lowercase()),
            attrs: Attrs::render(ctx, spec.mode, &spec.owner, &spec.group)?,
            force: spec.force,
            timeout: spec.timeout.map(|t| t.0),
            machine,
        })
    }

    fn hashes(&self) -> Option<&str> {
        self.sha256.as_ref().map(|_| self.dest.as_str())
    }

    fn probe(&self) -> Option<String> {
        // As put's probe: the hash from the batch's shared sha256sum, `stat` only when an
        // attribute is declared or the content differs. Without `sha256` only the type.
        let format = quote(&attrs::format_for(&self.attrs));
        let declared = !attrs::none_declared(&self.attrs);
        Some(match &self.sha256 {
            Some(sha) => {
                let prefix = quote(crate::facts::sums::prefix(sha));
                let extra = if declared {
                    format!(" {format} 1")
                } else {
                    String::new()
                };
                format!("__od_put {} {prefix}{extra}\n", quote(&self.dest))
            }
            None => attrs::probe_type_first(&self.dest, &self.attrs, Kind::File),
        })
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let stat = attrs::parse(facts, &self.dest)?;
        let fetch = format!("download {} to {}", self.shown, self.dest);
        match &stat.kind {
            Kind::Missing => return Ok(Decision::Change(vec![fetch])),
            Kind::Dir => {
                return Err(Failure::msg(format!(
                    "{} is a directory; give the full path of the file",
                    self.dest
                )))
            }
            Kind::Other(k) => {
                return Ok(Decision::Change(vec![format!(
                    "replace {k} at {}: {fetch}",
                    self.dest
                )]))
            }
            Kind::File => {}
        }
        let content_ok = match &self.sha256 {
            Some(sha) => sha_fact(facts) == Some(sha.as_str()),
            None => !self.force,
        };
        if !content_ok {
            let why = match &self.sha256 {
                Some(_) => format!("{} differs from sha256", self.dest),
                None => "force: true".to_string(),
            };
            return Ok(Decision::Change(vec![format!("{fetch} ({why})")]));
        }
        let what = attrs::changes(&stat, &self.attrs, &self.dest);
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(
                what.into_iter()
                    .map(|w| format!("{w} of {}", self.dest))
                    .collect(),
            )
        })
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let stat = attrs::parse(facts, &self.dest)?;
        let content_ok = stat.kind == Kind::File
            && match &self.sha256 {
                Some(sha) => sha_fact(facts) == Some(sha.as_str()),
                None => !self.force,
            };
        if content_ok {
            // Only attributes differ: nothing is downloaded.
            let script = attrs::script(&self.dest, &self.attrs);
            ctx.run(&format!("setting attributes of {}", self.dest), script)?;
            return Ok(Applied::default());
        }
        let as_root = ctx.user.as_deref() == Some("root");
        let req = ctx.exec(self.script(as_root));
        let out = ctx
            .remote
            .exec(&req)
            .map_err(|e| url::hide_in_failure(e.into(), &self.secrets))?;
        if out.status != 0 {
            return Err(self.failure(&req.script, &out, ctx.user.as_deref()));
        }
        let same = String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == SAME);
        if same && attrs::changes(&stat, &self.attrs, &self.dest).is_empty() {
            return Ok(Applied {
                unchanged: true,
                ..Applied::default()
            });
        }
        if same {
            let script = attrs::script(&self.dest, &self.attrs);
            ctx.run(&format!("setting attributes of {}", self.dest), script)?;
        }
        Ok(Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_https_and_file_urls() {
        assert!(matches!(source("https://x/y"), Ok(Source::Http(_))));
        assert!(matches!(source("HTTP://x/y"), Ok(Source::Http(_))));
        assert_eq!(source("file:///a%20b"), Ok(Source::File("/a b".into())));
        assert_eq!(source("ftp://x/y"), Err(BAD_SCHEME));
        assert_eq!(source("/local/path"), Err(BAD_SCHEME));
        assert!(source("https://x/a b").is_err());
        assert!(source("file://host/x").is_err());
    }

    /// A forced download that fetches the bytes `dest` has already says so and leaves
    /// `dest` alone (the step is then ok, as Ansible's get_url is); other bytes replace it.
    #[test]
    fn a_forced_download_of_the_same_bytes_changes_nothing() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dest = dir.path().join("it's dest");
        std::fs::write(&src, "payload\n").unwrap();
        std::fs::write(&dest, "payload\n").unwrap();
        let d = Download {
            source: Source::File(src.to_string_lossy().into_owned()),
            shown: "file:///src".into(),
            dest: dest.to_string_lossy().into_owned(),
            sha256: None,
            attrs: Attrs::default(),
            force: true,
            timeout: None,
            machine: "m".into(),
            secrets: Vec::new(),
        };
        let run = || {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(d.script(false))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l == SAME)
        };
        let inode = std::fs::metadata(&dest).unwrap().ino();
        assert!(run(), "the same bytes");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().ino(),
            inode,
            "dest left alone"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left"
        );
        std::fs::write(&src, "new\n").unwrap();
        assert!(!run(), "other bytes");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
    }
}
