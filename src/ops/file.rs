//! `file`: a file is present (created empty when missing), absent, or touched.

use serde::Deserialize;

use crate::quote::quote;

use super::attrs::{self, Attrs, Kind};
use super::{Applied, Ctx, Decision, Facts, Failure, Mode, Operation, RenderCtx, RenderError};

/// What `file:` makes true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Exists (created empty when missing).
    #[default]
    Present,
    /// Does not exist.
    Absent,
    /// Exists, and its modification time is now (always a change).
    Touch,
}

/// `file:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "file")]
pub struct Spec {
    /// Absolute path.
    pub path: String,
    /// present, absent or touch.
    #[serde(default)]
    pub state: FileState,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

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

impl Operation for File {
    const KEY: &'static str = "file";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        spec.path.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<File, RenderError> {
        Ok(File {
            path: ctx.abs_path("path", &spec.path)?,
            state: spec.state,
            attrs: Attrs::render(ctx, spec.mode, &spec.owner, &spec.group)?,
        })
    }

    fn probe(&self) -> Option<String> {
        Some(attrs::probe_type_first(&self.path, &self.attrs, Kind::File))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
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
                what.extend(attrs::changes(&stat, &self.attrs, &self.path));
                Decision::Change(what)
            }
            FileState::Present if !exists => {
                let mut what = vec![format!("create empty {}", self.path)];
                what.extend(self.attrs.mode.map(|m| format!("mode {}", m.octal())));
                Decision::Change(what)
            }
            FileState::Present => {
                let what = attrs::changes(&stat, &self.attrs, &self.path);
                if what.is_empty() {
                    Decision::Unchanged
                } else {
                    Decision::Change(what)
                }
            }
        })
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
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
            .map(|_| Applied::default())
    }
}
