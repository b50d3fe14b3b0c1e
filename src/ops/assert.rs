//! `assert`: expressions that must hold, evaluated by orbdeploy over the machine's
//! variables and what earlier steps registered; the first that does not fails the machine
//! with `message`. Nothing runs on the machine for it.
//!
//! Rules (also in docs/operations.md): each expression is a Jinja expression like `when:`,
//! checked when the operations are loaded (one that does not compile is exit 2) and
//! evaluated when the step renders. An undefined variable is an error before anything runs;
//! an expression that fails only on what a step registered (`r.stdout_lines[0]` of an
//! empty output) fails the step when it is evaluated. An expression that reads a
//! registered value whose step did not run (`skipped` is true) cannot be evaluated: in a
//! plan, where the step would run first, the assert is *unknown*; in apply the step fails,
//! saying so (give the assert `when: not r.skipped` to check only after the step ran).
//!
//! The probe is the shell's no-op `:`, answered in the channel's agent with no process and
//! reading nothing: it lets the assert join the read-ahead window of the steps around it,
//! where a step with no probe would end that window and cost a round trip more.

use std::sync::OnceLock;

use minijinja::Value;
use serde::Deserialize;

use crate::spec::OneOrMany;
use crate::template::Renderer;

use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError,
};

/// `assert:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "assert")]
pub struct Spec {
    /// The expressions (a string or a list of strings).
    pub that: OneOrMany,
    /// What the failure says (a template); default "assertion failed".
    pub message: Option<String>,
}

/// What one expression came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It holds.
    True,
    /// It does not.
    False,
    /// It could not be evaluated: the engine's message.
    Error(String),
    /// It reads this registered value, whose step did not run.
    NotRun(String),
}

/// A rendered assert step: each expression with its outcome.
#[derive(Debug, Clone)]
pub struct Assert {
    /// (expression, outcome), in order.
    pub checks: Vec<(String, Outcome)>,
    /// The failure's message.
    pub message: String,
}

/// The variables an expression reads (top-level names), from its syntax alone.
fn names(expr: &str) -> Vec<String> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    let env = ENV.get_or_init(minijinja::Environment::new);
    let mut out: Vec<String> = env
        .compile_expression(expr)
        .map(|e| e.undeclared_variables(false).into_iter().collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether `v` is a value `register:` saved for a step that did not run: a mapping with
/// the keys registering gives (`stdout`, `rc`, `skipped`, ...) whose `skipped` is true.
fn not_run(v: &Value) -> bool {
    let has = |k: &str| v.get_attr(k).is_ok_and(|x| !x.is_undefined());
    has("stdout")
        && has("rc")
        && has("stdout_lines")
        && v.get_attr("skipped").is_ok_and(|s| s.is_true())
}

fn evaluate(expr: &str, ctx: &RenderCtx<'_>, field: &str) -> Result<Outcome, RenderError> {
    let read = names(expr);
    let value = |n: &str| ctx.vars.get_attr(n).ok().filter(|v| !v.is_undefined());
    if let Some(n) = read.iter().find(|n| value(n).is_some_and(|v| not_run(&v))) {
        return Ok(Outcome::NotRun(n.clone()));
    }
    match ctx.renderer.condition(expr, ctx.vars) {
        Ok(true) => Ok(Outcome::True),
        Ok(false) => Ok(Outcome::False),
        // A name that is not there at all is a mistake in what was written (found before
        // anything runs); anything else may depend on what a step registers.
        Err(message) => {
            let missing: Vec<String> = read
                .iter()
                .filter(|n| value(n).is_none())
                .map(|n| format!("`{n}`"))
                .collect();
            if missing.is_empty() {
                return Ok(Outcome::Error(message));
            }
            Err(RenderError::Template {
                field: field.to_string(),
                message: format!("undefined variable {}", missing.join(", ")),
            })
        }
    }
}

impl Operation for Assert {
    const KEY: &'static str = "assert";
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.that.0.is_empty() {
            return Err(CheckError::of::<Assert>("`that` is empty"));
        }
        let r = Renderer::new();
        for e in &spec.that.0 {
            if e.trim().is_empty() {
                return Err(CheckError::of::<Assert>("`that` holds an empty expression"));
            }
            r.check_expression(e)
                .map_err(|m| CheckError::of::<Assert>(format!("that: `{e}`: {m}")))?;
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        let first = spec.that.0.first().map(String::as_str).unwrap_or_default();
        match spec.that.0.len() {
            0 | 1 => super::shell::short(first),
            n => format!("{} (and {} more)", super::shell::short(first), n - 1),
        }
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Assert, RenderError> {
        let mut checks = Vec::new();
        for (i, e) in spec.that.0.iter().enumerate() {
            let field = if spec.that.0.len() == 1 {
                "that".to_string()
            } else {
                format!("that[{i}]")
            };
            checks.push((e.clone(), evaluate(e, ctx, &field)?));
        }
        Ok(Assert {
            checks,
            message: ctx
                .opt("message", &spec.message)?
                .unwrap_or_else(|| "assertion failed".to_string()),
        })
    }

    fn probe(&self) -> Option<String> {
        Some(":\n".to_string())
    }

    fn decide(&self, _facts: &Facts) -> Result<Decision, Failure> {
        for (expr, outcome) in &self.checks {
            let why = match outcome {
                Outcome::True => continue,
                Outcome::False => format!("`{expr}` is false"),
                Outcome::Error(e) => format!("`{expr}` could not be evaluated: {e}"),
                Outcome::NotRun(n) => format!(
                    "`{expr}` reads `{n}`, whose step did not run (add `when: not {n}.skipped` to check only after it ran)"
                ),
            };
            return Err(Failure::msg(format!("{}: {why}", self.message)));
        }
        Ok(Decision::Unchanged)
    }

    fn apply(&self, _ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        // Never reached with a change (decide says unchanged or fails); kept total.
        self.decide(facts).map(|_| Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StepSpec;

    fn render(that: &[&str], vars: serde_json::Value) -> Result<Assert, RenderError> {
        let renderer = Renderer::new();
        let vars = Value::from_serialize(&vars);
        let step = StepSpec::default();
        let ctx = RenderCtx {
            renderer: &renderer,
            vars: &vars,
            base: std::path::Path::new("."),
            search: &[],
            step: &step,
        };
        let spec = Spec {
            that: OneOrMany(that.iter().map(|s| s.to_string()).collect()),
            message: Some("port check for {{ machine }}".into()),
        };
        Assert::render(&spec, &ctx)
    }

    fn registered(skipped: bool) -> serde_json::Value {
        serde_json::json!({"stdout": "ok", "stderr": "", "stdout_lines": ["ok"], "rc": 0,
            "changed": false, "failed": false, "skipped": skipped})
    }

    #[test]
    fn the_first_false_expression_fails_with_the_message() {
        let vars = serde_json::json!({"machine": "m1", "port": 8080, "r": registered(false)});
        let a = render(
            &["port > 1024", "r.rc == 0", "'ok' in r.stdout"],
            vars.clone(),
        )
        .unwrap();
        assert_eq!(a.decide(&Facts::default()).unwrap(), Decision::Unchanged);
        let a = render(&["port > 1024", "port < 1024", "nope == 1"], vars.clone());
        let e = a.unwrap_err();
        assert!(e.to_string().contains("undefined variable `nope`"), "{e}");
        let a = render(&["port > 1024", "port < 1024"], vars.clone()).unwrap();
        let f = a.decide(&Facts::default()).unwrap_err();
        assert_eq!(f.message, "port check for m1: `port < 1024` is false");
        let a = render(&["r.stdout_lines[3] == 'x'"], vars.clone()).unwrap();
        assert!(matches!(a.checks[0].1, Outcome::Error(_)), "{:?}", a.checks);
        let a = render(&["undefined_thing is not defined"], vars).unwrap();
        assert_eq!(a.checks[0].1, Outcome::True);
    }

    #[test]
    fn a_register_of_a_step_that_did_not_run_cannot_be_asserted() {
        let vars = serde_json::json!({"machine": "m1", "r": registered(true)});
        let a = render(&["r.rc == 0"], vars).unwrap();
        assert_eq!(a.checks[0].1, Outcome::NotRun("r".into()));
        let f = a.decide(&Facts::default()).unwrap_err();
        assert!(f.message.contains("when: not r.skipped"), "{}", f.message);
    }

    #[test]
    fn expressions_are_checked_when_loaded() {
        let spec = |e: &str| Spec {
            that: OneOrMany(vec![e.to_string()]),
            message: None,
        };
        assert!(Assert::check(&spec("a == 1")).is_ok());
        let e = Assert::check(&spec("a ==")).unwrap_err();
        assert!(e.to_string().starts_with("assert: that: `a ==`: "), "{e}");
        assert!(Assert::check(&Spec {
            that: OneOrMany(vec![]),
            message: None
        })
        .is_err());
    }
}
