//! `link`: a symbolic link at `path` pointing to `target`, or no link there.
//!
//! Rules (also in docs/operations.md): a link that points elsewhere is re-pointed (atomically: a
//! new link beside it renamed over it). Anything else at `path` fails the step, saying
//! what is there, unless `force: true`, which replaces a regular file or an empty
//! directory — never a directory with something in it, nor a device, socket or pipe. A
//! relative `target` is kept as written, relative to the link's directory (what `ln -s`
//! does); it is not made absolute. `state: absent` removes a link, and only a link.

use serde::Deserialize;

use crate::quote::quote;
use crate::remote::{parent_dir, temp_beside, TEMP_DONE};

use super::attrs::{self, Attrs};
use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, Presence, RenderCtx, RenderError,
};

/// `link:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "link")]
pub struct Spec {
    /// Absolute path of the link.
    pub path: String,
    /// What the link points to, kept as written (relative: to the link's directory).
    pub target: Option<String>,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// Owning user of the link itself (`chown -h`).
    pub owner: Option<String>,
    /// Owning group of the link itself.
    pub group: Option<String>,
    /// Replace a regular file or an empty directory at `path` (default false).
    #[serde(default)]
    pub force: bool,
}

/// A rendered link step.
#[derive(Debug, Clone)]
pub struct Link {
    /// Absolute path of the link.
    pub path: String,
    /// The target, as written (empty for `absent`).
    pub target: String,
    /// present or absent.
    pub state: Presence,
    /// Declared owner and group (no mode: a link has none of its own).
    pub attrs: Attrs,
    /// Replace a file or an empty directory.
    pub force: bool,
}

/// What is at the path, from the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Missing { parent: bool },
    Link(String),
    File,
    Dir { empty: bool },
    Other(String),
}

impl Link {
    fn found(&self, facts: &Facts) -> Result<Found, Failure> {
        if let Some(t) = facts.get("link") {
            return Ok(Found::Link(t.to_string()));
        }
        Ok(match facts.get("kind") {
            Some("missing") => Found::Missing {
                parent: facts.get("noparent").is_none(),
            },
            Some("file") => Found::File,
            Some("dir") => Found::Dir {
                empty: facts.get("full") == Some("0"),
            },
            Some(other) if other.starts_with("other ") => {
                Found::Other(other["other ".len()..].to_string())
            }
            _ => {
                return Err(Failure::msg(format!(
                    "could not inspect {}: {}",
                    self.path,
                    facts.noise_text()
                )))
            }
        })
    }

    /// Owner and group changes of an existing link.
    fn attr_changes(&self, facts: &Facts) -> Result<Vec<String>, Failure> {
        if attrs::none_declared(&self.attrs) {
            return Ok(Vec::new());
        }
        let stat = attrs::parse(facts, &self.path)?;
        Ok(attrs::changes(&stat, &self.attrs, &self.path))
    }

    /// Why what is at the path stays, or `None` when the link may take its place.
    fn refusal(&self, found: &Found) -> Option<String> {
        let (what, force_helps) = match found {
            Found::File => ("a regular file".to_string(), true),
            Found::Dir { empty: true } => ("an empty directory".to_string(), true),
            Found::Dir { empty: false } => {
                return Some(format!(
                    "{} is a directory that is not empty; a link never replaces one (move it away first)",
                    self.path
                ))
            }
            Found::Other(kind) => (format!("a {kind}"), false),
            Found::Missing { .. } | Found::Link(_) => return None,
        };
        if self.force && force_helps {
            return None;
        }
        let hint = if force_helps {
            " (set `force: true` to replace it)"
        } else {
            ""
        };
        Some(format!(
            "{} exists and is {what}, not a link to {}{hint}",
            self.path, self.target
        ))
    }

    fn present(&self, facts: &Facts, found: &Found) -> Result<Decision, Failure> {
        if let Some(why) = self.refusal(found) {
            return Err(Failure::msg(why));
        }
        let (p, t) = (&self.path, &self.target);
        let what = match found {
            Found::Missing { parent: false } => {
                return Err(Failure::msg(format!(
                    "cannot create the link {p}: the directory {} does not exist",
                    parent_dir(p)
                )))
            }
            Found::Link(old) if old == t => self.attr_changes(facts)?,
            other => {
                let mut what = vec![match other {
                    Found::Link(old) => format!("link {p} → {t} (was → {old})"),
                    Found::File => format!("replace the file {p} with a link → {t}"),
                    Found::Dir { .. } => {
                        format!("replace the empty directory {p} with a link → {t}")
                    }
                    // Missing (anything else was refused above).
                    _ => format!("create link {p} → {t}"),
                }];
                what.extend(attrs::chown_spec(&self.attrs).map(|o| format!("owner {o}")));
                what
            }
        };
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(what)
        })
    }

    /// A new link made beside the path and renamed over it (`mv -T`: over a link to a
    /// directory too, instead of into that directory).
    fn create_script(&self, found: &Found) -> String {
        let p = quote(&self.path);
        let mut s = temp_beside(&quote(parent_dir(&self.path)), ".orbdeploy");
        s.push_str(&format!(
            "ln -sf -- {} \"$t\" || exit 1\n",
            quote(&self.target)
        ));
        if let Some(o) = attrs::chown_spec(&self.attrs) {
            s.push_str(&format!("chown -h {} \"$t\" || exit 1\n", quote(&o)));
        }
        if let Found::Dir { .. } = found {
            // rename(2) cannot put a link over a directory; rmdir refuses a full one.
            s.push_str(&format!("rmdir -- {p} || exit 1\n"));
        }
        s.push_str(&format!("mv -Tf \"$t\" {p} || exit 1\n"));
        s.push_str(TEMP_DONE);
        s
    }
}

impl Operation for Link {
    const KEY: &'static str = "link";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        match (&spec.target, spec.state) {
            (None, Presence::Present) => Err(CheckError::of::<Link>(
                "`state: present` needs `target` (the path the link points to)",
            )),
            (Some(t), _) if t.is_empty() => Err(CheckError::of::<Link>(
                "`target` is empty; give the path the link points to",
            )),
            _ => Ok(()),
        }
    }

    fn summary(spec: &Spec) -> String {
        match &spec.target {
            Some(t) if spec.state == Presence::Present && !t.is_empty() => {
                format!("{} → {t}", spec.path)
            }
            _ => spec.path.clone(),
        }
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Link, RenderError> {
        let path = ctx.abs_path("path", &spec.path)?;
        if path.len() > 1 && path.ends_with('/') {
            return Err(RenderError::Refused {
                field: "path",
                problem: "the path of a link cannot end with `/`",
            });
        }
        let target = ctx.opt("target", &spec.target)?.unwrap_or_default();
        if spec.state == Presence::Present && target.is_empty() {
            return Err(RenderError::Refused {
                field: "target",
                problem: "is empty; give the path the link points to",
            });
        }
        if target.contains(['\n', '\0']) {
            return Err(RenderError::PathCharacter { field: "target" });
        }
        Ok(Link {
            path,
            target,
            state: spec.state,
            attrs: Attrs::render(ctx, None, &spec.owner, &spec.group)?,
            force: spec.force,
        })
    }

    fn probe(&self) -> Option<String> {
        let p = quote(&self.path);
        let mut s = format!("if [ -L {p} ]; then printf '.link %s\\n' \"$(readlink -- {p})\"\n");
        if !attrs::none_declared(&self.attrs) {
            s.push_str(&attrs::probe(&self.path, &self.attrs));
        }
        s.push_str(&format!("elif [ -d {p} ]; then echo .kind dir\n"));
        if self.force {
            // Whether the directory is empty, with the shell's globs (no process).
            s.push_str(&format!(
                "__od_lk=0; for __od_lkf in {p}/* {p}/.[!.]* {p}/..?*; do if [ -e \"$__od_lkf\" ] || [ -L \"$__od_lkf\" ]; then __od_lk=1; break; fi; done; echo \".full $__od_lk\"\n"
            ));
        }
        s.push_str(&format!(
            "elif [ -f {p} ]; then echo .kind file\n\
             elif [ -e {p} ]; then printf '.kind other '; stat -c %F -- {p}\n\
             else echo .kind missing; [ -d {} ] || echo .noparent; fi\n",
            quote(parent_dir(&self.path))
        ));
        Some(s)
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let found = self.found(facts)?;
        match self.state {
            Presence::Present => self.present(facts, &found),
            Presence::Absent => match found {
                Found::Missing { .. } => Ok(Decision::Unchanged),
                Found::Link(t) => Ok(Decision::Change(vec![format!(
                    "remove link {} (→ {t})",
                    self.path
                )])),
                other => {
                    let what = match other {
                        Found::File => "a regular file".to_string(),
                        Found::Dir { .. } => "a directory".to_string(),
                        Found::Other(k) => format!("a {k}"),
                        _ => "not a link".to_string(),
                    };
                    Err(Failure::msg(format!(
                        "{} is {what}, not a symbolic link; `link` removes links only (use `file` or `directory` with `state: absent`)",
                        self.path
                    )))
                }
            },
        }
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let found = self.found(facts)?;
        let p = quote(&self.path);
        let script = match (&self.state, &found) {
            (Presence::Absent, _) => format!("rm -f -- {p}"),
            (Presence::Present, Found::Link(t)) if *t == self.target => {
                let o = attrs::chown_spec(&self.attrs).unwrap_or_default();
                format!("chown -h {} {p}", quote(&o))
            }
            (Presence::Present, _) => self.create_script(&found),
        };
        ctx.run(&format!("linking {}", self.path), script)
            .map(|_| Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str, force: bool) -> Link {
        Link {
            path: "/srv/cur".into(),
            target: target.into(),
            state: Presence::Present,
            attrs: Attrs::default(),
            force,
        }
    }

    fn decide(l: &Link, facts: &str) -> Result<Decision, Failure> {
        l.decide(&Facts::parse(facts, 0))
    }

    #[test]
    fn what_is_there_decides() {
        let l = link("releases/2", false);
        assert_eq!(
            decide(&l, ".link releases/2\n").unwrap(),
            Decision::Unchanged
        );
        assert!(matches!(
            decide(&l, ".link /srv/releases/2\n").unwrap(),
            Decision::Change(_)
        ));
        assert!(matches!(
            decide(&l, ".kind missing\n").unwrap(),
            Decision::Change(_)
        ));
        let e = decide(&l, ".kind missing\n.noparent\n").unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let e = decide(&l, ".kind file\n").unwrap_err();
        assert!(e.message.contains("is a regular file"), "{}", e.message);
        assert!(e.message.contains("force: true"), "{}", e.message);
        let e = decide(&l, ".kind other fifo\n").unwrap_err();
        assert!(e.message.contains("is a fifo"), "{}", e.message);
        let forced = link("releases/2", true);
        assert!(decide(&forced, ".kind file\n").is_ok());
        assert!(decide(&forced, ".kind dir\n.full 0\n").is_ok());
        let e = decide(&forced, ".kind dir\n.full 1\n").unwrap_err();
        assert!(e.message.contains("not empty"), "{}", e.message);
        assert!(decide(&forced, ".kind other socket\n").is_err());
    }

    /// The probe as a real shell answers it, for each thing a path can be.
    #[test]
    fn the_probe_tells_links_files_and_directories_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink("rel/x", d.join("l")).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        std::fs::create_dir(d.join("empty")).unwrap();
        std::fs::create_dir(d.join("full")).unwrap();
        std::fs::write(d.join("full/.hidden"), "x").unwrap();
        let probe = |name: &str| {
            let mut l = link("t", true);
            l.path = d.join(name).to_string_lossy().into_owned();
            let out = crate::facts::run_with_probe_lib(&l.probe().unwrap());
            l.found(&Facts::parse(&out, 0)).unwrap()
        };
        assert_eq!(probe("l"), Found::Link("rel/x".into()));
        assert_eq!(probe("f"), Found::File);
        assert_eq!(probe("empty"), Found::Dir { empty: true });
        assert_eq!(probe("full"), Found::Dir { empty: false });
        assert_eq!(probe("none"), Found::Missing { parent: true });
        assert_eq!(probe("no/such"), Found::Missing { parent: false });
    }
}
