//! Jinja templates and `when` expressions (minijinja), strict: an undefined variable is
//! an error that names the variable, never an empty string.
//!
//! `{{ env("NAME") }}` reads an environment variable of the orbdeploy process; every value
//! read that way is a secret and is masked in all output (see [`crate::mask`]).
//! `{{ pipe("COMMAND") }}` and `{{ file("PATH") }}` are lookups on this computer
//! ([`crate::lookups`]); `pipe`'s outputs are secrets too.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::Value as Json;

use crate::lookups::{self, Lookups};
use crate::read_log::ReadLog;

/// Renders strings and evaluates expressions against a context of variables.
pub struct Renderer {
    env: Environment<'static>,
    secrets: Arc<Mutex<BTreeSet<String>>>,
    /// The local files this run read (a renderer is made once per run).
    reads: ReadLog,
    /// What `pipe()` ran for this run.
    lookups: Arc<Lookups>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A strict renderer.
    pub fn new() -> Self {
        Self::with_read_log(ReadLog::default())
    }

    /// A renderer whose reads go to `reads`: the log the inventory was loaded with.
    pub fn with_read_log(reads: ReadLog) -> Self {
        Self::with_inputs(reads, &lookups::Learned::default())
    }

    /// [`Renderer::with_read_log`], whose `pipe()` answers from and adds to `ran`.
    /// Its secrets are `ran`'s: what every renderer of the command line looked up.
    pub fn with_inputs(reads: ReadLog, ran: &lookups::Learned) -> Self {
        let secrets = ran.secrets();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Files keep their last newline, as written.
        env.set_keep_trailing_newline(true);
        // Config files are not HTML: never escape, whatever the destination's extension.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let seen = Arc::clone(&secrets);
        env.add_function(
            "env",
            move |name: String, default: Option<String>| -> Result<String, minijinja::Error> {
                let value = match (std::env::var(&name), default) {
                    (Ok(v), _) => v,
                    (Err(_), Some(d)) => d,
                    (Err(_), None) => {
                        return Err(minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("environment variable `{name}` is not set"),
                        ))
                    }
                };
                if !value.is_empty() {
                    if let Ok(mut s) = seen.lock() {
                        s.insert(value.clone());
                    }
                }
                Ok(value)
            },
        );
        let lookups = Arc::new(Lookups::sharing(ran));
        add_lookups(&mut env, &lookups, &secrets, &reads);
        Renderer {
            env,
            secrets,
            reads,
            lookups,
        }
    }

    /// From now on `pipe()` runs no new command (the run is about to change machines).
    pub fn seal_lookups(&self) {
        self.lookups.seal();
    }

    /// [`Renderer::render`] for text written in a file of `dir`: `file()` is relative to it.
    pub fn render_in(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
        dir: &std::path::Path,
    ) -> Result<String, String> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(source.to_string());
        }
        let dir = dir.display().to_string();
        let ctx = minijinja::context! { ..ctx.clone(), ..minijinja::context! { __orbdeploy_file_dir => dir } };
        self.render(name, source, &ctx)
    }

    /// The local files this run read.
    pub fn read_log(&self) -> &ReadLog {
        &self.reads
    }

    /// Values read with `env()` or given by `pipe()` so far, by this renderer or by another
    /// of the same command line ([`Renderer::with_inputs`]).
    pub fn secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Render `source` (named `name` in errors) with `ctx`.
    pub fn render(&self, name: &str, source: &str, ctx: &Value) -> Result<String, String> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(source.to_string());
        }
        self.env
            .render_named_str(name, source, ctx)
            .map_err(|e| self.explain(&e, source, ctx))
    }

    /// Check that an expression parses (at load time, before any machine is touched).
    pub fn check_expression(&self, expr: &str) -> Result<(), String> {
        no_block_end(expr)?;
        self.env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|e| self.explain(&e, expr, &Value::UNDEFINED))
    }

    /// Check that a `when:` parses: an expression, or one `{{ expression }}` (accepted,
    /// not needed).
    pub fn check_condition(&self, expr: &str) -> Result<(), String> {
        self.check_expression(condition_expr(expr))
    }

    /// Evaluate a `when:`, which must yield true or false: a string, a number, a list or
    /// none is an error naming the expression and the value, never "truthy".
    pub fn condition(&self, expr: &str, ctx: &Value) -> Result<bool, String> {
        let inner = condition_expr(expr);
        let v = self.eval(inner, ctx)?;
        if v.kind() == ValueKind::Bool {
            return Ok(v.is_true());
        }
        if v.is_undefined() {
            return Err(self.undefined_condition(inner, ctx));
        }
        let shown = serde_json::to_value(&v)
            .map(|j| describe_json(&j))
            .unwrap_or_else(|_| format!("{v}"));
        Err(format!(
            "`{inner}` is {shown}, not true or false (compare it, e.g. `{inner} == \"yes\"`, or test it, e.g. `{inner} is defined`)"
        ))
    }

    /// A `when:` that names a variable no one defined: say so, with the defined name it is
    /// closest to, or `true`/`false` for a YAML 1.1 boolean word written as an expression.
    fn undefined_condition(&self, inner: &str, ctx: &Value) -> String {
        let missing = self.undefined_names(inner, ctx);
        let Some(first) = missing.first() else {
            return format!("`{inner}` is undefined (an attribute or key that does not exist)");
        };
        let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        let head = format!("undefined variable {}", names.join(", "));
        let word = first.to_ascii_lowercase();
        if ["yes", "on", "y"].contains(&word.as_str()) {
            return format!("{head}: a `when:` is an expression; write `true`");
        }
        if ["no", "off", "n"].contains(&word.as_str()) {
            return format!("{head}: a `when:` is an expression; write `false`");
        }
        match closest_name(first, ctx) {
            Some(near) => format!("{head}; did you mean `{near}`?"),
            None => {
                format!("{head}: define it under `vars:`, or test it with `{first} is defined`")
            }
        }
    }

    /// Evaluate an expression.
    pub fn eval(&self, expr: &str, ctx: &Value) -> Result<Value, String> {
        no_block_end(expr)?;
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| self.explain(&e, expr, ctx))?;
        compiled.eval(ctx).map_err(|e| self.explain(&e, expr, ctx))
    }

    /// The variables an expression reads (top-level names only).
    pub fn names_in(&self, expr: &str) -> Vec<String> {
        let source = format!("{{{{ {expr} }}}}");
        let Ok(t) = self.env.template_from_str(&source) else {
            return Vec::new();
        };
        t.undeclared_variables(false).into_iter().collect()
    }

    fn explain(&self, e: &minijinja::Error, source: &str, ctx: &Value) -> String {
        let line = e
            .line()
            .filter(|_| source.contains('\n'))
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        if e.kind() == ErrorKind::UndefinedError {
            let missing = self.undefined_names(source, ctx);
            if !missing.is_empty() {
                let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
                let hint = closest_name(&missing[0], ctx)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return format!("{line}undefined variable {}{hint}", names.join(", "));
            }
            if let Some(d) = e.detail() {
                return format!("{line}undefined value: {d}");
            }
            return format!("{line}undefined value (an attribute or key that does not exist)");
        }
        let what = e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string());
        format!("{line}{what}")
    }

    fn undefined_names(&self, source: &str, ctx: &Value) -> Vec<String> {
        // A bare expression (a `when:`, an `assert`) is read as the one `{{ }}` it stands for.
        let wrapped;
        let source = if source.contains("{{") || source.contains("{%") {
            source
        } else {
            wrapped = format!("{{{{ {source} }}}}");
            &wrapped
        };
        let Ok(t) = self.env.template_from_str(source) else {
            return Vec::new();
        };
        let mut names: Vec<String> = t
            .undeclared_variables(false)
            .into_iter()
            .filter(|n| !FUNCTIONS.contains(&n.as_str()))
            .filter(|n| ctx.get_attr(n).map_or(true, |v| v.is_undefined()))
            .collect();
        names.sort();
        names
    }
}

/// The functions templates may call, which are not variables.
const FUNCTIONS: [&str; 3] = ["env", "pipe", "file"];

/// `pipe()` and `file()` ([`crate::lookups`]). A lookup's error is an error of the render,
/// which names the file and the step, and, masked, the command and its stderr.
fn add_lookups(
    env: &mut Environment<'static>,
    lookups: &Arc<Lookups>,
    secrets: &Arc<Mutex<BTreeSet<String>>>,
    reads: &ReadLog,
) {
    let (l, seen) = (Arc::clone(lookups), Arc::clone(secrets));
    env.add_function(
        "pipe",
        move |command: String| -> Result<String, minijinja::Error> {
            l.pipe(&command, &seen)
                .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, m))
        },
    );
    let reads = reads.clone();
    env.add_function(
        "file",
        move |state: &minijinja::State, rel: String| -> Result<String, minijinja::Error> {
            let dir = state.lookup(lookups::FILE_DIR);
            let dir = dir.as_ref().and_then(|d| d.as_str());
            let (path, text) = lookups::file(dir, &rel)
                .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, m))?;
            reads.note(&path, text.as_bytes());
            Ok(text)
        },
    );
}

/// The defined variable closest to `name`, when it is close enough to be a typo.
fn closest_name(name: &str, ctx: &Value) -> Option<String> {
    let keys = ctx.try_iter().ok()?;
    keys.filter_map(|k| k.as_str().map(str::to_string))
        .map(|k| (strsim::jaro_winkler(name, &k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The expression of a `when:`: written bare, or inside one `{{ }}` (not needed).
fn condition_expr(expr: &str) -> &str {
    single_expression(expr).unwrap_or(expr)
}

/// An expression that ends early, at a `}}` outside its string literals and brackets (how
/// minijinja's lexer sees the end of a `{{ }}`), is an error said here: minijinja 2.24
/// panics ("empty lexer stack") when anything follows it, e.g. `}}x`.
fn no_block_end(expr: &str) -> Result<(), String> {
    let b = expr.as_bytes();
    let mut depth: isize = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' if depth == 0 && b.get(i + 1) == Some(&b'}') => {
                return Err(format!(
                    "`}}}}` in the expression `{expr}`: write an expression without {{{{ }}}}"
                ))
            }
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The variables a template sees, by name.
pub type TemplateVars = serde_json::Map<String, Json>;

/// The longest a value is shown in a message or a loop item's label.
pub const LABEL_MAX: usize = 40;

/// A value in a few words, for messages: `a string ("abc")`, `a number (3)`, `a map`.
pub fn describe_json(v: &Json) -> String {
    match v {
        Json::Null => "none (null)".into(),
        Json::Bool(b) => format!("a boolean ({b})"),
        Json::Number(n) => format!("a number ({n})"),
        Json::String(s) => format!("a string ({})", shorten(&format!("{s:?}"))),
        Json::Array(_) => format!("a list ({})", shorten(&v.to_string())),
        Json::Object(_) => format!("a map ({})", shorten(&v.to_string())),
    }
}

/// `s`, cut to [`LABEL_MAX`] characters with `…`.
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= LABEL_MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(LABEL_MAX - 1).collect();
    out.push('…');
    out
}

/// The expression inside a string that is exactly one `{{ expression }}`.
pub fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        Value::from_serialize(serde_json::json!({"machine": "web-1", "port": 8080, "on": true}))
    }

    #[test]
    fn expressions_with_a_block_end_are_errors_not_panics() {
        let r = Renderer::new();
        for e in ["}}x", " }} ", "a }}b", "1 }}2 {{ 3", "}}machines:", "a -}}"] {
            let err = r.check_expression(e).unwrap_err();
            assert!(err.contains("without {{ }}"), "{e}: {err}");
            assert!(r.condition(e, &ctx()).is_err(), "{e}");
        }
        for e in [
            "'}}' == x",
            "\"}}\" ~ 'a\\'}}'",
            "{'a': {'b': 1}} is mapping",
            "x in [{'a': 1}]",
        ] {
            assert!(no_block_end(e).is_ok(), "{e}");
        }
    }

    #[test]
    fn pipe_keeps_quotes_the_shell_words_protect() {
        // docs/secrets.md's sops recipe: `--extract '["tls"]["key"]'` reaches sops whole.
        let r = Renderer::new();
        let t = "{{ pipe(\"printf %s '[\\\"tls\\\"][\\\"key\\\"]'\") }}";
        assert_eq!(r.render("t", t, &ctx()).unwrap(), "[\"tls\"][\"key\"]");
        assert_eq!(r.secrets(), vec!["[\"tls\"][\"key\"]".to_string()]);
    }

    #[test]
    fn renders_and_keeps_trailing_newline() {
        let r = Renderer::new();
        assert_eq!(
            r.render("t", "{{ machine }}:{{ port }}\n", &ctx()).unwrap(),
            "web-1:8080\n"
        );
        assert_eq!(r.render("t", "<{{ '&' }}>", &ctx()).unwrap(), "<&>");
    }

    #[test]
    fn undefined_variables_are_named() {
        let r = Renderer::new();
        let e = r.render("t", "a\n{{ nope }}", &ctx()).unwrap_err();
        assert_eq!(e, "line 2: undefined variable `nope`");
        let e = r.render("t", "{{ machnie }}", &ctx()).unwrap_err();
        assert_eq!(e, "undefined variable `machnie`; did you mean `machine`?");
    }

    #[test]
    fn expressions_and_env_secrets() {
        let r = Renderer::new();
        assert!(r.condition("port == 8080 and on", &ctx()).unwrap());
        assert!(!r.condition("machine == 'x'", &ctx()).unwrap());
        assert!(r.condition("{{ on }}", &ctx()).unwrap());
        for (e, shown) in [
            ("machine", "a string (\"web-1\")"),
            ("port", "a number (8080)"),
            ("[1]", "a list ([1])"),
            ("none", "none (null)"),
        ] {
            let err = r.condition(e, &ctx()).unwrap_err();
            assert!(
                err.starts_with(&format!("`{e}` is {shown}, not true or false")),
                "{err}"
            );
        }
        assert!(r.check_expression("port ==").is_err());
        assert_eq!(
            r.condition("prot == 1", &ctx()).unwrap_err(),
            "undefined variable `prot`; did you mean `port`?"
        );
        assert_eq!(
            r.condition("yes", &ctx()).unwrap_err(),
            "undefined variable `yes`: a `when:` is an expression; write `true`"
        );
        assert_eq!(
            r.condition("is_prod", &ctx()).unwrap_err(),
            "undefined variable `is_prod`: define it under `vars:`, or test it with `is_prod is defined`"
        );
        std::env::set_var("ORBDEPLOY_TEST_SECRET_T", "s3cr3t");
        assert_eq!(
            r.render("t", "{{ env('ORBDEPLOY_TEST_SECRET_T') }}", &ctx())
                .unwrap(),
            "s3cr3t"
        );
        assert_eq!(r.secrets(), vec!["s3cr3t".to_string()]);
        let e = r
            .render("t", "{{ env('ORBDEPLOY_NOT_SET_X') }}", &ctx())
            .unwrap_err();
        assert!(e.contains("ORBDEPLOY_NOT_SET_X"), "{e}");
    }

    #[test]
    fn renderers_of_one_command_line_share_what_their_lookups_learned() {
        let learned = lookups::Learned::default();
        let first = Renderer::with_inputs(ReadLog::default(), &learned);
        std::env::set_var("ORBDEPLOY_TEST_SECRET_SHARED", "from-env");
        let out = first
            .render(
                "t",
                "{{ env('ORBDEPLOY_TEST_SECRET_SHARED') }} {{ pipe('echo from-pipe') }}",
                &ctx(),
            )
            .unwrap();
        assert_eq!(out, "from-env from-pipe");
        // A later run that looks nothing up still masks both (orbdeploy test's verify).
        let later = Renderer::with_inputs(ReadLog::default(), &learned);
        assert_eq!(later.secrets(), vec!["from-env", "from-pipe"]);
        // A renderer of another command line knows neither.
        assert!(Renderer::new().secrets().is_empty());
    }
}
