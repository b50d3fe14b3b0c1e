//! `directory`: a directory exists (with its parents) with the declared attributes, or
//! does not exist at all.

use serde::Deserialize;

use crate::quote::quote;

use super::attrs::{self, Attrs, Kind};
use super::{
    Applied, Ctx, Decision, Facts, Failure, Mode, Operation, Presence, RenderCtx, RenderError,
};

/// `directory:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "directory")]
pub struct Spec {
    /// Absolute path.
    pub path: String,
    /// present (with parents) or absent (recursively).
    #[serde(default)]
    pub state: Presence,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

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

impl Operation for Directory {
    const KEY: &'static str = "directory";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        spec.path.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Directory, RenderError> {
        let path = ctx.abs_path("path", &spec.path)?;
        if spec.state == Presence::Absent && path.trim_end_matches('/').is_empty() {
            return Err(RenderError::Refused {
                field: "path",
                problem: "refusing to remove /",
            });
        }
        Ok(Directory {
            path,
            state: spec.state,
            attrs: Attrs::render(ctx, spec.mode, &spec.owner, &spec.group)?,
        })
    }

    fn probe(&self) -> Option<String> {
        Some(attrs::probe_type_first(&self.path, &self.attrs, Kind::Dir))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
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
                let what = attrs::changes(&stat, &self.attrs, &self.path);
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

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
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
            .map(|_| Applied::default())
    }
}
