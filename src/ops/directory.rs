//! `directory`: a directory exists (with its parents) with the declared attributes, or
//! does not exist at all.

use crate::quote::quote;

use super::attrs::{self, Kind};
use super::{Attrs, Ctx, Decision, Facts, Failure, Presence};

/// A rendered directory step.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Absolute path.
    pub path: String,
    /// present or absent.
    pub state: Presence,
    /// Declared attributes.
    pub attrs: Attrs,
}

impl Directory {
    pub(super) fn probe(&self) -> String {
        attrs::probe_type_first(&self.path, &self.attrs, Kind::Dir)
    }

    pub(super) fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let stat = attrs::parse(facts, &self.path)?;
        match (self.state, &stat.kind) {
            (Presence::Absent, Kind::Missing) => Ok(Decision::Unchanged),
            (Presence::Absent, Kind::Dir) => Ok(Decision::Change(vec![format!(
                "remove {} and everything in it",
                self.path
            )])),
            (Presence::Absent, _) => Err(Failure::msg(format!(
                "{} is not a directory; use `file: {{ state: absent }}` to remove it",
                self.path
            ))),
            (Presence::Present, Kind::Missing) => {
                let mut what = vec![format!("create {}", self.path)];
                what.extend(self.attrs.mode.map(|m| format!("mode {}", m.octal())));
                what.extend(attrs::chown_spec(&self.attrs).map(|o| format!("owner {o}")));
                Ok(Decision::Change(what))
            }
            (Presence::Present, Kind::Dir) => {
                let what = attrs::changes(&stat, &self.attrs);
                Ok(if what.is_empty() {
                    Decision::Unchanged
                } else {
                    Decision::Change(what)
                })
            }
            (Presence::Present, _) => Err(Failure::msg(format!(
                "{} exists and is not a directory",
                self.path
            ))),
        }
    }

    pub(super) fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<(), Failure> {
        let stat = attrs::parse(facts, &self.path)?;
        let p = quote(&self.path);
        let script = match self.state {
            Presence::Absent => format!("rm -rf -- {p}"),
            Presence::Present => {
                let mut s = String::new();
                if stat.kind == Kind::Missing {
                    s.push_str(&format!("mkdir -p -- {p} || exit 1\n"));
                }
                s.push_str(&attrs::script(&self.path, &self.attrs));
                s
            }
        };
        ctx.run(&format!("changing directory {}", self.path), script)
            .map(|_| ())
    }
}
