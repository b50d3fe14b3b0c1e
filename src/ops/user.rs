//! `user`: a local user exists with the declared shell, home and supplementary groups
//! (groups not listed are left alone), or does not exist. Uses shadow's
//! useradd/usermod/userdel, or busybox adduser/addgroup/deluser where those are missing.

use serde::Deserialize;

use crate::quote::quote;

use super::{Applied, Ctx, Decision, Facts, Failure, Operation, Presence, RenderCtx, RenderError};

/// `user:` as an operation (a mapping; `user: NAME` is the step's common key, the user
/// it runs as).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "user")]
pub struct Spec {
    /// Login name.
    pub name: String,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// Login shell.
    pub shell: Option<String>,
    /// Supplementary groups the user must be in (others are left alone).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Home directory.
    pub home: Option<String>,
}

/// A rendered user step.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// present or absent.
    pub state: Presence,
    /// Login shell.
    pub shell: Option<String>,
    /// Supplementary groups that must include the user.
    pub groups: Vec<String>,
    /// Home directory.
    pub home: Option<String>,
}

struct Current {
    home: String,
    shell: String,
    groups: Vec<String>,
}

impl User {
    fn current(&self, facts: &Facts) -> Result<Option<Current>, Failure> {
        let line = facts.get("passwd").ok_or_else(|| {
            Failure::msg(format!(
                "could not look up user {}: {}",
                self.name,
                facts.noise_text()
            ))
        })?;
        if line == "none" {
            return Ok(None);
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return Err(Failure::msg(format!("unexpected passwd entry: {line}")));
        }
        Ok(Some(Current {
            home: f[5].to_string(),
            shell: f[6].to_string(),
            groups: facts
                .get("groups")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }))
    }

    fn missing_groups(&self, cur: &Current) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| !cur.groups.contains(g))
            .cloned()
            .collect()
    }
}

impl Operation for User {
    const KEY: &'static str = "user";
    const NEEDS_ROOT: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        spec.name.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<User, RenderError> {
        let name = ctx.text("name", &spec.name)?;
        if name.is_empty() || name.starts_with('-') || name.contains([':', '\n', ' ']) {
            return Err(RenderError::Invalid {
                field: "name",
                value: name,
                problem: "is not a user name",
            });
        }
        Ok(User {
            name,
            state: spec.state,
            shell: ctx.opt("shell", &spec.shell)?,
            groups: ctx.list("groups", &spec.groups)?,
            home: ctx.opt("home", &spec.home)?,
        })
    }

    fn probe(&self) -> Option<String> {
        let n = quote(&self.name);
        Some(format!(
            "if e=$(getent passwd {n}); then printf '.passwd %s\\n' \"$e\"; printf '.groups %s\\n' \"$(id -Gn {n})\"; else echo .passwd none; fi\n\
             command -v useradd >/dev/null 2>&1 && echo .tool shadow || echo .tool busybox\n"
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let cur = self.current(facts)?;
        let what = match (self.state, cur) {
            (Presence::Absent, None) => vec![],
            (Presence::Absent, Some(_)) => vec![format!("remove user {}", self.name)],
            (Presence::Present, None) => vec![format!("create user {}", self.name)],
            (Presence::Present, Some(cur)) => {
                let mut w = Vec::new();
                if let Some(s) = self.shell.as_ref().filter(|s| **s != cur.shell) {
                    w.push(format!("shell {} → {s}", cur.shell));
                }
                if let Some(h) = self.home.as_ref().filter(|h| **h != cur.home) {
                    w.push(format!("home {} → {h}", cur.home));
                }
                let missing = self.missing_groups(&cur);
                if !missing.is_empty() {
                    w.push(format!("add to groups {}", missing.join(", ")));
                }
                w
            }
        };
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(what)
        })
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let cur = self.current(facts)?;
        let shadow = facts.get("tool") == Some("shadow");
        let n = quote(&self.name);
        let script = match (self.state, &cur, shadow) {
            (Presence::Absent, None, _) => return Ok(Applied::default()),
            (Presence::Absent, Some(_), true) => format!("userdel -r {n} 2>&1 | grep -v 'mail spool' >&2; getent passwd {n} >/dev/null && exit 1; exit 0"),
            (Presence::Absent, Some(_), false) => format!("deluser --remove-home {n}"),
            (Presence::Present, None, true) => {
                let mut s = String::from("useradd -m");
                if let Some(sh) = &self.shell {
                    s.push_str(&format!(" -s {}", quote(sh)));
                }
                if let Some(h) = &self.home {
                    s.push_str(&format!(" -d {}", quote(h)));
                }
                if !self.groups.is_empty() {
                    s.push_str(&format!(" -G {}", quote(&self.groups.join(","))));
                }
                s.push_str(&format!(" {n}"));
                s
            }
            (Presence::Present, None, false) => {
                let mut s = String::from("adduser -D");
                if let Some(sh) = &self.shell {
                    s.push_str(&format!(" -s {}", quote(sh)));
                }
                if let Some(h) = &self.home {
                    s.push_str(&format!(" -h {}", quote(h)));
                }
                s.push_str(&format!(" {n} || exit 1\n"));
                for g in &self.groups {
                    s.push_str(&format!("addgroup {n} {} || exit 1\n", quote(g)));
                }
                s
            }
            (Presence::Present, Some(cur), tool) => {
                let mut s = String::new();
                if !tool {
                    return Err(Failure::msg(
                        "changing an existing user needs usermod (install the `shadow` package)",
                    ));
                }
                let mut args = String::new();
                if let Some(sh) = self.shell.as_ref().filter(|s| **s != cur.shell) {
                    args.push_str(&format!(" -s {}", quote(sh)));
                }
                if let Some(h) = self.home.as_ref().filter(|h| **h != cur.home) {
                    args.push_str(&format!(" -d {} -m", quote(h)));
                }
                let missing = self.missing_groups(cur);
                if !missing.is_empty() {
                    args.push_str(&format!(" -a -G {}", quote(&missing.join(","))));
                }
                s.push_str(&format!("usermod{args} {n}"));
                s
            }
        };
        ctx.run(&format!("changing user {}", self.name), script)
            .map(|_| Applied::default())
    }
}
