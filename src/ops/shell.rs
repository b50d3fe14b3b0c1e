//! `shell`: a script through `sh` (and, through [`Shell`], `command`: an argv, no shell).
//! Their effect cannot be known, so they run on every apply unless `creates:` or
//! `unless:` says they have been done. Those two, `workdir:` and `env:` are common keys
//! of the step that only commands take.

use crate::quote::{join, quote};
use crate::remote::Exec;

use super::{Applied, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError};

/// `shell:` — the script (a template string).
pub type Spec = String;

/// A rendered shell or command step.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The script (`command` is its quoted argv behind `exec`).
    pub script: String,
    /// `shell` or `command`, for messages.
    pub kind: &'static str,
    /// Working directory.
    pub workdir: Option<String>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Skip when this path exists.
    pub creates: Option<String>,
    /// Skip when this command succeeds.
    pub unless: Option<String>,
}

impl Shell {
    /// A `command:` argv as a script.
    pub fn command(argv: &[String]) -> String {
        format!("exec {}", join(argv))
    }

    /// A step running `script`, with the step's `env`, `workdir`, `creates` and `unless`,
    /// rendered in that order (the first bad value is the one a message names).
    pub fn with_step_keys(
        kind: &'static str,
        script: String,
        ctx: &RenderCtx<'_>,
    ) -> Result<Shell, RenderError> {
        let mut env = Vec::new();
        for (k, v) in ctx.step.env.iter() {
            env.push((
                k.value.clone(),
                ctx.text(&format!("env.{}", k.value), &v.0)?,
            ));
        }
        Ok(Shell {
            script,
            kind,
            workdir: ctx.opt("workdir", &ctx.step.workdir)?,
            env,
            creates: ctx.opt("creates", &ctx.step.creates)?,
            unless: ctx.opt("unless", &ctx.step.unless)?,
        })
    }

    /// What runs on the machine.
    pub fn exec(&self, ctx: &Ctx<'_>) -> Exec {
        Exec {
            script: self.script.clone(),
            user: ctx.user.clone(),
            workdir: self.workdir.clone(),
            env: self.env.clone(),
            stdin: Vec::new(),
            timeout: ctx.timeout,
            ..Exec::default()
        }
    }
}

/// The first line of `s`, at most 50 characters, with `…` when anything was cut (a
/// command's default name).
pub(super) fn short(s: &str) -> String {
    let one = s.lines().next().unwrap_or_default();
    if one.chars().count() > 50 || s.lines().count() > 1 {
        format!("{}…", one.chars().take(50).collect::<String>())
    } else {
        one.to_string()
    }
}

impl Operation for Shell {
    const KEY: &'static str = "shell";
    const IS_COMMAND: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        short(spec)
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Shell, RenderError> {
        Shell::with_step_keys(Self::KEY, ctx.text("shell", spec)?, ctx)
    }

    fn probe(&self) -> Option<String> {
        let mut s = String::new();
        if let Some(c) = &self.creates {
            s.push_str(&format!("[ -e {} ] && echo .skip creates\n", quote(c)));
        }
        if let Some(u) = &self.unless {
            // Runs like the step itself would (same directory and environment), output discarded.
            let req = Exec {
                script: u.clone(),
                workdir: self.workdir.clone(),
                env: self.env.clone(),
                ..Exec::default()
            };
            s.push_str(&format!(
                "if (\n{}\n) >/dev/null 2>&1 </dev/null; then echo .skip unless; fi\n",
                req.full_script()
            ));
        }
        (!s.is_empty()).then_some(s)
    }

    fn probe_has_user_code(&self) -> bool {
        self.unless.is_some()
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        Ok(match facts.get("skip") {
            Some("creates") => Decision::Skip(format!(
                "{} exists",
                self.creates.as_deref().unwrap_or_default()
            )),
            Some("unless") => Decision::Skip("the `unless` command succeeded".into()),
            _ => Decision::Run,
        })
    }

    fn apply(&self, ctx: &mut Ctx<'_>, _facts: &Facts) -> Result<Applied, Failure> {
        let req = self.exec(ctx);
        let out = ctx.remote.exec(&req).map_err(|e| {
            let mut f = Failure::from(e);
            f.command = Some(self.script.clone());
            f
        })?;
        if out.status != 0 {
            return Err(Failure::from_output(
                &format!("the {}", self.kind),
                &self.script,
                &out,
            ));
        }
        Ok(Applied {
            output: Some(out),
            ..Applied::default()
        })
    }

    fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
        self.exec(ctx)
    }
}
