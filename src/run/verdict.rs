//! `changed_when:` and `failed_when:`: after a step ran, its result (exit code, output,
//! what changed) is put in scope as `result` (and under the step's `register:` name, as
//! Ansible users write it) and the two expressions decide how the step ended. The same
//! value is what `register:` keeps ([`result_value`]), with the final `changed` and
//! `failed`.
//!
//! `changed_when` is evaluated first, so that `failed_when` sees the final `changed`.
//! A failure that is not the step's own (the machine unreachable, the time limit) is never
//! judged: no expression can excuse a command that did not finish.

use minijinja::value::{merge_maps, Value};
use serde_json::{json, Value as Json};

use crate::ops::{Failure, FailureKind};
use crate::remote::ExecOutput;
use crate::report::StepStatus;
use crate::spec::ResultTest;
use crate::steps::{items, Step};
use crate::template::Renderer;

/// How a step ended before `changed_when` and `failed_when` had their say, or after.
#[derive(Debug)]
pub enum Natural {
    /// Nothing to change (or a wait that succeeded).
    Ok(Option<ExecOutput>),
    /// Changed the machine.
    Changed(Option<ExecOutput>),
    /// A command ran.
    Ran(Option<ExecOutput>),
    /// Failed.
    Failed(Failure),
}

impl Natural {
    fn status(&self) -> StepStatus {
        match self {
            Natural::Ok(_) => StepStatus::Ok,
            Natural::Changed(_) => StepStatus::Changed,
            Natural::Ran(_) => StepStatus::Ran,
            Natural::Failed(_) => StepStatus::Failed,
        }
    }

    fn output(&self) -> Option<&ExecOutput> {
        match self {
            Natural::Ok(o) | Natural::Changed(o) | Natural::Ran(o) => o.as_ref(),
            Natural::Failed(f) => f.output.as_deref(),
        }
    }
}

/// What `result` (and `register:`) holds of a step that ended with `status`: its command's
/// output when it has one, what it changed in words, and why it failed.
pub fn result_value(
    status: StepStatus,
    out: Option<&ExecOutput>,
    changes: &[String],
    failure: Option<&Failure>,
) -> Json {
    let (changed, failed, skipped) = status.traits().registers;
    let stdout = out.map(|o| o.stdout_text()).unwrap_or_default();
    let stderr = out.map(|o| o.stderr_text()).unwrap_or_default();
    let rc = out
        .map(|o| o.status)
        .or_else(|| failure.and_then(|f| f.status))
        .unwrap_or(0);
    json!({
        "stdout": stdout.trim_end_matches('\n'),
        "stderr": stderr.trim_end_matches('\n'),
        "stdout_lines": stdout.lines().collect::<Vec<_>>(),
        "stderr_lines": stderr.lines().collect::<Vec<_>>(),
        "rc": rc,
        "changed": changed,
        "failed": failed,
        "skipped": skipped,
        "changes": changes,
        "msg": failure.map(|f| f.message.as_str()).unwrap_or(""),
        "status": status.key(),
    })
}

/// The step's `changed_when` and `failed_when`, ready to judge its result.
pub struct Judge<'a> {
    step: &'a Step,
    renderer: &'a Renderer,
    /// The step's template context (loop items included).
    ctx: Value,
}

impl<'a> Judge<'a> {
    /// A judge for `step` in its machine's contexts; `None` when the step has neither key
    /// (its natural ending stands), `Err` when its context cannot be built.
    pub fn new(
        step: &'a Step,
        renderer: &'a Renderer,
        base: &Value,
        fixed: &Value,
    ) -> Option<Result<Judge<'a>, Failure>> {
        if step.spec.changed_when.is_none() && step.spec.failed_when.is_none() {
            return None;
        }
        Some(
            items::step_context(step, renderer, base, fixed)
                .map(|ctx| Judge {
                    step,
                    renderer,
                    ctx,
                })
                .map_err(Failure::msg),
        )
    }

    /// How the step ended, `natural` judged by its expressions; `changes` says what it
    /// changed, in words (`result.changes`).
    pub fn judge(&self, natural: Natural, changes: &[String]) -> Natural {
        let spec = &self.step.spec;
        if let Natural::Failed(f) = &natural {
            // A failure no expression may excuse, or one no `failed_when` looks at: the
            // output of a failed command need not be what `changed_when` reads.
            if f.kind != FailureKind::Step || spec.failed_when.is_none() {
                return natural;
            }
        }
        let natural_failure = match &natural {
            Natural::Failed(f) => Some(f),
            _ => None,
        };
        let before = natural.status();
        let mut result = result_value(before, natural.output(), changes, natural_failure);
        let changed = match &spec.changed_when {
            None => None,
            Some(test) => match self.holds("changed_when", test, &result) {
                Ok(yes) => Some(yes),
                Err(f) => return Natural::Failed(with_output(f, natural.output())),
            },
        };
        if let (Some(yes), Json::Object(m)) = (changed, &mut result) {
            m.insert("changed".into(), Json::Bool(yes));
        }
        let failed = match &spec.failed_when {
            None => natural_failure.is_some(),
            Some(test) => match self.holds("failed_when", test, &result) {
                Ok(yes) => yes,
                Err(f) => return Natural::Failed(with_output(f, natural.output())),
            },
        };
        if failed {
            return Natural::Failed(self.failure(natural));
        }
        let out = match natural {
            Natural::Ok(o) | Natural::Changed(o) | Natural::Ran(o) => o,
            Natural::Failed(f) => f.output.map(|o| *o),
        };
        match changed {
            Some(true) => Natural::Changed(out),
            Some(false) => Natural::Ok(out),
            None => match before {
                StepStatus::Changed => Natural::Changed(out),
                StepStatus::Ran => Natural::Ran(out),
                // A failure `failed_when` excused: a command still ran; another kind's
                // change did not happen.
                StepStatus::Failed if self.step.kind().is_command() => Natural::Ran(out),
                _ => Natural::Ok(out),
            },
        }
    }

    /// The failure of a step `failed_when` says failed: its own when it failed anyway, else
    /// one that names the expression, with the command's output.
    fn failure(&self, natural: Natural) -> Failure {
        let because = match &self.step.spec.failed_when {
            Some(ResultTest::All(es)) => format!("failed_when: `{}` is true", es.join("` and `")),
            _ => "failed_when: true".to_string(),
        };
        match natural {
            Natural::Failed(mut f) => {
                f.message = format!("{} ({because})", f.message);
                f
            }
            other => with_output(Failure::msg(because), other.output()),
        }
    }

    /// Whether `test` holds for `result`; an expression that cannot be evaluated, or is
    /// not a boolean, fails the step with its key named.
    fn holds(&self, key: &str, test: &ResultTest, result: &Json) -> Result<bool, Failure> {
        let exprs = match test {
            ResultTest::Fixed(b) => return Ok(*b),
            ResultTest::All(es) => es,
        };
        let ctx = with_result(
            &self.ctx,
            self.step.spec.register.as_deref(),
            result.clone(),
        );
        for e in exprs {
            let yes = self
                .renderer
                .condition(e, &ctx)
                .map_err(|err| Failure::msg(format!("{key}: {err}")))?;
            if !yes {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `ctx` with `result` (and the step's `register` name) bound to `result`.
pub fn with_result(ctx: &Value, register: Option<&str>, result: Json) -> Value {
    let mut names = serde_json::Map::new();
    if let Some(r) = register {
        names.insert(r.to_string(), result.clone());
    }
    names.insert("result".into(), result);
    merge_maps([ctx.clone(), Value::from_serialize(&names)])
}

/// `f` with the command's output, so that the report and `register:` show it.
fn with_output(mut f: Failure, out: Option<&ExecOutput>) -> Failure {
    if let Some(out) = out {
        f.status = Some(out.status);
        f.stdout_tail = crate::process::tail_lines(&out.stdout, 10);
        f.stderr_tail = crate::process::tail_lines(&out.stderr, 10);
        f.output = Some(Box::new(out.clone()));
    }
    f
}
