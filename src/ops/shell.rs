//! `shell` (a script through `sh`) and `command` (an argv, no shell). Their effect cannot
//! be known, so they run on every apply unless `creates:` or `unless:` says they have
//! been done.

use crate::quote::{join, quote};
use crate::remote::Exec;

use super::{Applied, Ctx, Decision, Facts, Failure};

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

    pub(super) fn probe(&self) -> Option<String> {
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

    pub(super) fn decide(&self, facts: &Facts) -> Decision {
        match facts.get("skip") {
            Some("creates") => Decision::Skip(format!(
                "{} exists",
                self.creates.as_deref().unwrap_or_default()
            )),
            Some("unless") => Decision::Skip("the `unless` command succeeded".into()),
            _ => Decision::Run,
        }
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

    pub(super) fn apply(&self, ctx: &mut Ctx<'_>) -> Result<Applied, Failure> {
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
        Ok(Applied { output: Some(out) })
    }
}
