//! `file`: a file is present (created empty when missing), absent, or touched.

use crate::load::operations::FileState;
use crate::quote::quote;

use super::attrs::{self, Kind};
use super::{Attrs, Ctx, Decision, Facts, Failure};

/// A rendered file step.
#[derive(Debug, Clone)]
pub struct File {
    /// Absolute path.
    pub path: String,
    /// present, absent or touch.
    pub state: FileState,
    /// Declared attributes.
    pub attrs: Attrs,
}

impl File {
    pub(super) fn probe(&self) -> String {
        attrs::probe_type_first(&self.path, &self.attrs, Kind::File)
    }

    pub(super) fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let stat = attrs::parse(facts, &self.path)?;
        if stat.kind == Kind::Dir {
            return Err(Failure::msg(format!(
                "{} is a directory; use `directory:` for directories",
                self.path
            )));
        }
        let exists = stat.kind != Kind::Missing;
        Ok(match self.state {
            FileState::Absent if exists => Decision::Change(vec![format!("remove {}", self.path)]),
            FileState::Absent => Decision::Unchanged,
            FileState::Touch => {
                let mut what = vec![format!("touch {}", self.path)];
                what.extend(attrs::changes(&stat, &self.attrs));
                Decision::Change(what)
            }
            FileState::Present if !exists => {
                let mut what = vec![format!("create empty {}", self.path)];
                what.extend(self.attrs.mode.map(|m| format!("mode {}", m.octal())));
                Decision::Change(what)
            }
            FileState::Present => {
                let what = attrs::changes(&stat, &self.attrs);
                if what.is_empty() {
                    Decision::Unchanged
                } else {
                    Decision::Change(what)
                }
            }
        })
    }

    pub(super) fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<(), Failure> {
        let stat = attrs::parse(facts, &self.path)?;
        let p = quote(&self.path);
        let script = match self.state {
            FileState::Absent => format!("rm -f -- {p}"),
            FileState::Touch => format!(
                "touch -- {p} || exit 1\n{}",
                attrs::script(&self.path, &self.attrs)
            ),
            FileState::Present => {
                let mut s = String::new();
                if stat.kind == Kind::Missing {
                    // A new empty file gets 0644 unless declared, whatever the umask.
                    s.push_str(&format!(": >> {p} || exit 1\nchmod 644 {p} || exit 1\n"));
                }
                s.push_str(&attrs::script(&self.path, &self.attrs));
                s
            }
        };
        ctx.run(&format!("changing file {}", self.path), script)
            .map(|_| ())
    }
}
