//! `command`: an argv run without a shell (`exec` of its quoted words), otherwise a
//! [`Shell`] step: same common keys, same probe, same decision.

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::remote::Exec;
use crate::spec::OneOrMany;

use super::shell::{short, Shell};
use super::{Applied, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError};

/// `command:` — an argv list, or a string split like a shell would (no expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec(pub Vec<String>);

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = OneOrMany::deserialize(d)?.0;
        let argv = match <[String; 1]>::try_from(words) {
            Ok([line]) => shell_words::split(&line)
                .map_err(|e| de::Error::custom(format!("cannot split the command: {e}")))?,
            Err(words) => words,
        };
        if argv.is_empty() {
            return Err(de::Error::custom("the command is empty"));
        }
        Ok(Spec(argv))
    }
}

/// What [`Spec`]'s deserializer accepts: an argv list, or a string to split, never empty.
impl schemars::JsonSchema for Spec {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Command".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

/// A rendered command step: the shell step that `exec`s the argv.
#[derive(Debug, Clone)]
pub struct Command(pub Shell);

impl Operation for Command {
    const KEY: &'static str = "command";
    const IS_COMMAND: bool = true;
    type Spec = Spec;

    fn summary(spec: &Spec) -> String {
        short(&crate::quote::join(&spec.0))
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Command, RenderError> {
        let script = Shell::command(&ctx.list("command", &spec.0)?);
        Shell::with_step_keys(Self::KEY, script, ctx).map(Command)
    }

    fn probe(&self) -> Option<String> {
        self.0.probe()
    }

    fn probe_has_user_code(&self) -> bool {
        self.0.probe_has_user_code()
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        self.0.decide(facts)
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        self.0.apply(ctx, facts)
    }

    fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
        self.0.shown_call(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step's default name shows the command as a shell would read it, so a word with a
    /// space stays one word.
    #[test]
    fn summary_quotes_the_words() {
        let spec = |words: &[&str]| Spec(words.iter().map(|w| w.to_string()).collect());
        assert_eq!(
            Command::summary(&spec(&["touch", "/tmp/x"])),
            "touch /tmp/x"
        );
        assert_eq!(
            Command::summary(&spec(&["echo", "a b", "it's"])),
            "echo 'a b' 'it'\\''s'"
        );
    }
}
