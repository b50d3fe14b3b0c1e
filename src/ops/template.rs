//! `template`: a local Jinja template rendered for each machine, then written like a
//! [`Put`] of its text.

use serde::Deserialize;

use super::attrs::Attrs;
use super::put::{sha_of_bytes, Content, Put};
use super::render::io_reason;
use super::{Applied, Ctx, Decision, Facts, Failure, Mode, Operation, RenderCtx, RenderError};

/// `template:` — a local Jinja template rendered per machine.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "template")]
pub struct Spec {
    /// Local template file, relative to the operations file.
    pub src: String,
    /// Absolute path on the machine.
    pub dest: String,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// A rendered template step: the put of the rendered text.
#[derive(Debug, Clone)]
pub struct Template(pub Put);

impl Operation for Template {
    const KEY: &'static str = "template";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        spec.dest.clone()
    }

    fn template_source(spec: &Spec) -> Option<&str> {
        Some(&spec.src)
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Template, RenderError> {
        let path = ctx.local_path("src", &spec.src)?;
        let text = match std::fs::read(&path) {
            Ok(bytes) => {
                ctx.renderer.read_log().note(&path, &bytes);
                bytes
            }
            Err(e) => {
                return Err(RenderError::Unreadable {
                    field: "src",
                    reason: io_reason(&e),
                    path,
                })
            }
        };
        let Ok(text) = String::from_utf8(text) else {
            return Err(RenderError::NotText { field: "src", path });
        };
        let name = path.display().to_string();
        let dir = path.parent().unwrap_or(ctx.base);
        let bytes = match ctx.renderer.render_in(&name, &text, ctx.vars, dir) {
            Ok(out) => out.into_bytes(),
            Err(message) => return Err(RenderError::TemplateFile { name, message }),
        };
        let sha = sha_of_bytes(&bytes);
        Ok(Template(Put {
            dest: ctx.abs_path("dest", &spec.dest)?,
            content: Content::Bytes(bytes),
            sha,
            attrs: Attrs::render(ctx, spec.mode, &spec.owner, &spec.group)?,
        }))
    }

    fn hashes(&self) -> Option<&str> {
        self.0.hashes()
    }

    fn probe(&self) -> Option<String> {
        self.0.probe()
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        self.0.decide(facts)
    }

    fn diff(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        self.0.diff(ctx, facts)
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        self.0.apply(ctx, facts)
    }
}
