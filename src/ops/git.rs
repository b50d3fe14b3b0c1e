//! `git`: a clone of a repository at a branch, a tag or a commit, kept there. The probe
//! reads the clone's HEAD and, for a branch or a tag, asks the repository with one
//! `git ls-remote` (a commit needs no network). Local modifications of tracked files stop
//! the step unless `force: true`. A URL's credentials never appear in what is shown.

use serde::Deserialize;

use crate::quote::quote;

use super::url;
use super::{
    Applied, CheckError, Ctx, Decision, Exec, Facts, Failure, Operation, RenderCtx, RenderError,
};

/// `git:` — a clone of `repo` in `dest`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "git")]
pub struct Spec {
    /// The repository: a URL (`https://`, `ssh://`, `file://`, `git@host:path`) or a path on
    /// the machine.
    pub repo: String,
    /// Absolute path of the clone on the machine.
    pub dest: String,
    /// A branch, a tag, or a commit (7 to 40 hex digits); default: the repository's HEAD.
    pub version: Option<String>,
    /// Clone and fetch only this many commits.
    pub depth: Option<Depth>,
    /// Fetch and check out the version when the clone exists (default true).
    #[serde(default = "yes")]
    pub update: bool,
    /// Discard local modifications of tracked files instead of failing.
    #[serde(default)]
    pub force: bool,
}

fn yes() -> bool {
    true
}

/// A number of commits (`depth:`), as a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth(pub u32);

impl<'de> Deserialize<'de> for Depth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Depth;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of commits, such as 1")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Depth, E> {
                u32::try_from(v)
                    .map(Depth)
                    .map_err(|_| E::custom("`depth` is too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Depth, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("`depth` must be at least 1"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Depth, E> {
                Err(E::custom(format!(
                    "`depth` must be a whole number of commits, such as 1, not `{v}`"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// What [`Depth`]'s deserializer accepts: a whole number that fits a `u32`.
impl schemars::JsonSchema for Depth {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Depth".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
    }
}

/// What `version` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// The repository's HEAD (its default branch).
    Head,
    /// A branch or a tag.
    Named(String),
    /// A commit, in lower-case hex (possibly abbreviated).
    Commit(String),
}

/// A rendered git step.
#[derive(Debug, Clone)]
pub struct Git {
    /// The repository as written (it may carry credentials).
    pub repo: String,
    /// The repository as shown (credentials masked).
    pub shown: String,
    /// The clone's path.
    pub dest: String,
    /// The declared version.
    pub version: Version,
    /// Shallow depth.
    pub depth: Option<u32>,
    /// Update an existing clone.
    pub update: bool,
    /// Discard local modifications.
    pub force: bool,
    /// The machine's name, for messages.
    pub machine: String,
    /// What to hide in any text shown (the URL's userinfo).
    pub secrets: Vec<String>,
}

/// The commit the version resolves to now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A branch (the default one for HEAD) at this commit.
    Branch { name: String, sha: String },
    /// A tag, pointing (peeled) at this commit.
    Tag { name: String, sha: String },
    /// A commit (as written, maybe abbreviated).
    Commit(String),
}

impl Target {
    fn matches(&self, head: &str) -> bool {
        match self {
            Target::Branch { sha, .. } | Target::Tag { sha, .. } => head == sha,
            Target::Commit(c) => !head.is_empty() && head.starts_with(c.as_str()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Branch { name, sha } => format!("branch {name} ({})", short(sha)),
            Target::Tag { name, sha } => format!("tag {name} ({})", short(sha)),
            Target::Commit(c) => format!("commit {}", short(c)),
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A version of 7 to 40 hex digits is a commit; a name git would refuse is an error.
fn parse_version(v: Option<&str>) -> Result<Version, &'static str> {
    let Some(v) = v else {
        return Ok(Version::Head);
    };
    if (7..=40).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Version::Commit(v.to_ascii_lowercase()));
    }
    let bad = v.is_empty()
        || v.starts_with('-')
        || v.starts_with('/')
        || v.ends_with('/')
        || v.contains("..")
        || v.contains("@{")
        || v.ends_with(".lock")
        || v.bytes()
            .any(|b| b <= b' ' || b == 0x7f || b"~^:?*[\\".contains(&b));
    if bad {
        return Err("is not a branch, tag or commit name");
    }
    Ok(Version::Named(v.to_string()))
}

impl Git {
    fn hide(&self, f: Failure) -> Failure {
        url::hide_in_failure(f, &self.secrets)
    }

    /// `git -C DEST`.
    fn in_dest(&self) -> String {
        format!("git -C {}", quote(&self.dest))
    }

    /// The `git ls-remote` that resolves a branch or a tag (`None` for a commit).
    fn ls_remote(&self) -> Option<String> {
        let repo = quote(&self.repo);
        match &self.version {
            Version::Commit(_) => None,
            Version::Head => Some(format!("git ls-remote --symref -- {repo} HEAD")),
            Version::Named(v) => Some(format!(
                "git ls-remote -- {repo} {} {} {}",
                quote(&format!("refs/heads/{v}")),
                quote(&format!("refs/tags/{v}")),
                quote(&format!("refs/tags/{v}^{{}}")),
            )),
        }
    }

    /// The commit the version names, from the facts.
    fn resolve(&self, facts: &Facts) -> Result<Target, Failure> {
        if let Version::Commit(c) = &self.version {
            let known = facts.get("want").filter(|w| !w.is_empty());
            return Ok(Target::Commit(known.unwrap_or(c).to_string()));
        }
        if facts.get("lsok").is_none() {
            let why: Vec<&str> = facts
                .all("lserr")
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            // git's lines stay lines: `fatal:` and its `hint:`s read as git wrote them.
            let why = why.join("\n");
            return Err(self.hide(Failure::msg(format!(
                "cannot read {}: {}",
                self.shown,
                if why.trim().is_empty() {
                    facts.noise_text()
                } else {
                    why
                }
            ))));
        }
        let refs: Vec<(&str, &str)> = facts
            .all("ref")
            .iter()
            .filter_map(|l| l.split_once('\t'))
            .collect();
        // `ref: refs/heads/main<TAB>HEAD` (from --symref) names HEAD's branch, not its commit.
        let find = |name: &str| {
            refs.iter()
                .find(|(s, r)| *r == name && !s.starts_with("ref: "))
                .map(|(s, _)| *s)
        };
        let target = match &self.version {
            Version::Head => {
                let branch = refs
                    .iter()
                    .find(|(s, r)| *r == "HEAD" && s.starts_with("ref: "))
                    .and_then(|(s, _)| s.strip_prefix("ref: refs/heads/"));
                match (branch, find("HEAD")) {
                    (Some(b), Some(sha)) => Some(Target::Branch {
                        name: b.to_string(),
                        sha: sha.to_string(),
                    }),
                    _ => None,
                }
            }
            Version::Named(v) => {
                let branch = find(&format!("refs/heads/{v}")).map(|sha| Target::Branch {
                    name: v.clone(),
                    sha: sha.to_string(),
                });
                let tag = find(&format!("refs/tags/{v}^{{}}"))
                    .or_else(|| find(&format!("refs/tags/{v}")))
                    .map(|sha| Target::Tag {
                        name: v.clone(),
                        sha: sha.to_string(),
                    });
                branch.or(tag)
            }
            Version::Commit(_) => None,
        };
        target.ok_or_else(|| {
            Failure::msg(match &self.version {
                Version::Named(v) => {
                    format!("{v} is neither a branch nor a tag of {}", self.shown)
                }
                _ => format!("{} has no default branch (HEAD)", self.shown),
            })
        })
    }

    /// The decision for an existing clone.
    fn decide_repo(&self, facts: &Facts) -> Result<Decision, Failure> {
        if !self.update {
            return Ok(Decision::Unchanged);
        }
        let errors: Vec<&str> = facts
            .all("gerr")
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if !errors.is_empty() {
            return Err(Failure::msg(format!(
                "cannot read the clone at {}: {}",
                self.dest,
                errors.join("\n")
            )));
        }
        let mods: usize = facts.get("mods").and_then(|n| n.parse().ok()).unwrap_or(0);
        if mods > 0 && !self.force {
            let files: Vec<&str> = facts.all("mod").iter().map(|m| m.trim()).collect();
            return Err(Failure::msg(format!(
                "{} has local modifications ({mods} file{}: {}); commit or discard them, or set `force: true` to discard them",
                self.dest,
                if mods == 1 { "" } else { "s" },
                files.join(", ")
            )));
        }
        let target = self.resolve(facts)?;
        let head = facts.get("head").unwrap_or("");
        let mut what = Vec::new();
        let origin = facts.get("origin").unwrap_or("");
        if origin != self.repo {
            what.push(url::hide(
                &format!(
                    "origin of {}: {} → {}",
                    self.dest,
                    url::masked(origin),
                    self.shown
                ),
                &self.secrets,
            ));
        }
        if mods > 0 {
            what.push(format!(
                "discard local modifications in {} ({mods} files)",
                self.dest
            ));
        }
        if !target.matches(head) {
            let from = if head.is_empty() {
                "nothing"
            } else {
                short(head)
            };
            what.push(format!(
                "update {}: {from} → {}",
                self.dest,
                target.describe()
            ));
        }
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(what)
        })
    }

    /// The script that clones the repository.
    fn clone_script(&self, target: &Target) -> String {
        let depth = self
            .depth
            .map_or(String::new(), |d| format!(" --depth {d}"));
        let branch = match target {
            Target::Branch { name, .. } | Target::Tag { name, .. } => {
                format!(" --branch {}", quote(name))
            }
            Target::Commit(_) => String::new(),
        };
        let mut s = format!(
            "export GIT_TERMINAL_PROMPT=0\ngit clone -q{depth}{branch} -- {} {} || exit 1\n",
            quote(&self.repo),
            quote(&self.dest)
        );
        if let Target::Commit(c) = target {
            let c = quote(c);
            s.push_str(&format!(
                "cd {} || exit 1\ngit checkout -q --detach {c} 2>/dev/null || {{ git fetch -q{depth} origin {c} && git checkout -q --detach {c}; }} || exit 1\n",
                quote(&self.dest)
            ));
        }
        s
    }

    /// The script that brings an existing clone to `target`.
    fn update_script(&self, target: &Target, facts: &Facts) -> String {
        let depth = self
            .depth
            .map_or(String::new(), |d| format!(" --depth {d}"));
        let f = if self.force { " -f" } else { "" };
        let mut s = format!(
            "cd {} || exit 1\nexport GIT_TERMINAL_PROMPT=0\n",
            quote(&self.dest)
        );
        if facts.get("origin").unwrap_or("") != self.repo {
            let r = quote(&self.repo);
            s.push_str(&format!(
                "git remote set-url origin {r} 2>/dev/null || git remote add origin {r} || exit 1\n"
            ));
        }
        if self.force {
            s.push_str("git reset -q --hard || exit 1\n");
        }
        match target {
            Target::Branch { name, .. } => {
                let remote = format!("refs/remotes/origin/{name}");
                s.push_str(&format!(
                    "git fetch -q{depth} origin {} || exit 1\ngit checkout -q{f} -B {} {} || exit 1\n",
                    quote(&format!("+refs/heads/{name}:{remote}")),
                    quote(name),
                    quote(&remote)
                ));
            }
            Target::Tag { name, sha } => s.push_str(&format!(
                "git fetch -q{depth} origin {} || exit 1\ngit checkout -q{f} --detach {} || exit 1\n",
                quote(&format!("+refs/tags/{name}:refs/tags/{name}")),
                quote(sha)
            )),
            Target::Commit(c) => {
                let has = format!("git cat-file -e {} 2>/dev/null", quote(&format!("{c}^{{commit}}")));
                s.push_str(&format!(
                    "{has} || git fetch -q{depth} origin || exit 1\n{has} || git fetch -q{depth} origin {q} || exit 1\ngit checkout -q{f} --detach {q} || exit 1\n",
                    q = quote(c)
                ));
            }
        }
        s
    }
}

impl Operation for Git {
    const KEY: &'static str = "git";
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.repo.trim().is_empty() {
            return Err(CheckError::of::<Git>("`repo` is empty"));
        }
        if spec.depth == Some(Depth(0)) {
            return Err(CheckError::of::<Git>("`depth` must be at least 1"));
        }
        // A shallow fetch asks for a commit by its full name: an abbreviation names nothing
        // the server can send.
        let abbreviated = matches!(
            spec.version.as_deref().map(|v| parse_version(Some(v))),
            Some(Ok(Version::Commit(c))) if c.len() < 40
        );
        if abbreviated && spec.depth.is_some() {
            return Err(CheckError::of::<Git>(
                "with `depth`, a commit must be written in full (40 hex digits)",
            ));
        }
        match &spec.version {
            Some(v) if !v.contains("{{") => parse_version(Some(v)).map(|_| ()).map_err(|_| {
                CheckError::of::<Git>("`version` is not a branch, tag or commit name")
            }),
            _ => Ok(()),
        }
    }

    fn summary(spec: &Spec) -> String {
        spec.dest.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Git, RenderError> {
        let repo = ctx.text("repo", &spec.repo)?;
        if repo.contains('\n') || repo.contains('\0') || repo.trim().is_empty() {
            return Err(RenderError::Refused {
                field: "repo",
                problem: "a repository cannot be empty or contain a newline",
            });
        }
        let version = ctx.opt("version", &spec.version)?;
        let version =
            parse_version(version.as_deref()).map_err(|problem| RenderError::Invalid {
                field: "version",
                value: version.clone().unwrap_or_default(),
                problem,
            })?;
        let machine = ctx
            .vars
            .get_attr("machine")
            .ok()
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_else(|| "the machine".into());
        Ok(Git {
            shown: url::masked(&repo),
            secrets: url::secrets(&repo),
            repo,
            dest: ctx.abs_path("dest", &spec.dest)?,
            version,
            depth: spec.depth.map(|d| d.0),
            update: spec.update,
            force: spec.force,
            machine,
        })
    }

    fn probe(&self) -> Option<String> {
        let d = quote(&self.dest);
        let git = self.in_dest();
        let mut s = format!(
            "(export GIT_TERMINAL_PROMPT=0 LC_ALL=C\n\
             command -v git >/dev/null 2>&1 || {{ echo .git missing; exit 0; }}\n\
             if [ -e {d}/.git ]; then\n\
             echo .dest repo\n\
             printf '.head %s\\n' \"$({git} rev-parse -q --verify HEAD 2>/dev/null)\"\n\
             printf '.origin %s\\n' \"$({git} config --get remote.origin.url 2>/dev/null)\"\n\
             if __od_s=$({git} status --porcelain --untracked-files=no 2>&1); then \
             printf '%s' \"$__od_s\" | awk 'NR <= 10 {{ print \".mod \" $0 }} END {{ print \".mods \" NR }}'; \
             else printf '%s\\n' \"$__od_s\" | sed 's/^/.gerr /'; fi\n"
        );
        if let Version::Commit(c) = &self.version {
            s.push_str(&format!(
                "printf '.want %s\\n' \"$({git} rev-parse -q --verify {} 2>/dev/null)\"\n",
                quote(&format!("{c}^{{commit}}"))
            ));
        }
        s.push_str(&format!(
            "elif [ -d {d} ] && [ -z \"$(ls -A {d} 2>/dev/null)\" ]; then echo .dest empty\n\
             elif [ -e {d} ] || [ -L {d} ]; then echo .dest other; exit 0\n\
             else echo .dest missing\nfi\n"
        ));
        if let Some(ls) = self.ls_remote() {
            // Without `update`, an existing clone is left as it is: no network.
            let guard = if self.update {
                String::new()
            } else {
                format!("[ -e {d}/.git ] || ")
            };
            s.push_str(&format!(
                "{guard}{{ if __od_o=$({ls} 2>&1); then echo .lsok; printf '%s\\n' \"$__od_o\" | sed 's/^/.ref /'; \
                 else printf '%s\\n' \"$__od_o\" | sed 's/^/.lserr /'; fi; }}\n"
            ));
        }
        s.push_str(")\n");
        Some(s)
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        if facts.get("git") == Some("missing") {
            return Err(Failure::msg(format!(
                "git is not installed on {}; add a `packages: {{ names: [git] }}` step before this one",
                self.machine
            )));
        }
        match facts.get("dest") {
            Some("repo") => self.decide_repo(facts),
            Some("missing") | Some("empty") => {
                let target = self.resolve(facts)?;
                Ok(Decision::Change(vec![format!(
                    "clone {} into {} at {}",
                    self.shown,
                    self.dest,
                    target.describe()
                )]))
            }
            Some(_) => Err(Failure::msg(format!(
                "{} exists and is not a git repository (nor an empty directory)",
                self.dest
            ))),
            None => Err(self.hide(Failure::msg(format!(
                "could not inspect {}: {}",
                self.dest,
                facts.noise_text()
            )))),
        }
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let target = self.resolve(facts)?;
        let (what, script) = if facts.get("dest") == Some("repo") {
            (
                format!("updating {}", self.dest),
                self.update_script(&target, facts),
            )
        } else {
            (
                format!("cloning {} into {}", self.shown, self.dest),
                self.clone_script(&target),
            )
        };
        ctx.run(&what, script)
            .map(|_| Applied::default())
            .map_err(|f| self.hide(f))
    }

    fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
        let probe = self.probe().unwrap_or_default();
        ctx.exec(url::hide(&probe, &self.secrets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(["-c", "init.defaultBranch=main", "-c", "safe.directory=*"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn step(repo: &str, dest: &str, version: Version) -> Git {
        Git {
            repo: repo.to_string(),
            shown: repo.to_string(),
            dest: dest.to_string(),
            version,
            depth: None,
            update: true,
            force: false,
            machine: "m".into(),
            secrets: vec![],
        }
    }

    fn decide_here(g: &Git) -> Result<Decision, Failure> {
        let facts = Facts::parse(&crate::facts::run_with_probe_lib(&g.probe().unwrap()), 0);
        g.decide(&facts)
    }

    /// The probe, run by the host's `sh` and git: a missing clone is cloned, a clone at the
    /// branch's commit is ok, a modified one is refused, a commit resolves with no network,
    /// an unknown version is named.
    #[test]
    fn probe_and_decide_with_the_hosts_git() {
        if std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q"]);
        std::fs::write(work.join("f"), "1\n").unwrap();
        git(&work, &["add", "f"]);
        git(&work, &["commit", "-q", "-m", "one"]);
        let sha = git(&work, &["rev-parse", "HEAD"]);
        let repo = format!("file://{}", work.display());
        let dest = dir.path().join("it's a $x;y clone");
        let dest = dest.to_str().unwrap();
        let main = step(&repo, dest, Version::Named("main".into()));
        assert!(matches!(decide_here(&main), Ok(Decision::Change(_))));
        git(dir.path(), &["clone", "-q", &repo, dest]);
        assert_eq!(decide_here(&main).unwrap(), Decision::Unchanged);
        let commit = step(&repo, dest, Version::Commit(sha[..10].to_string()));
        assert_eq!(decide_here(&commit).unwrap(), Decision::Unchanged);
        let nope = step(&repo, dest, Version::Named("nope".into()));
        let err = decide_here(&nope).unwrap_err().message;
        assert!(err.contains("nope is neither a branch nor a tag"), "{err}");
        std::fs::write(std::path::Path::new(dest).join("f"), "2\n").unwrap();
        let err = decide_here(&main).unwrap_err().message;
        assert!(
            err.contains("has local modifications (1 file: M f)"),
            "{err}"
        );
    }

    #[test]
    fn versions_are_commits_or_names() {
        assert_eq!(
            parse_version(Some("DEADBEEF")),
            Ok(Version::Commit("deadbeef".into()))
        );
        assert_eq!(
            parse_version(Some("v1.2")),
            Ok(Version::Named("v1.2".into()))
        );
        assert_eq!(parse_version(None), Ok(Version::Head));
        for bad in ["-x", "a b", "a..b", "x^", "", "a:b"] {
            assert!(parse_version(Some(bad)).is_err(), "{bad}");
        }
    }
}
