//! Operation kinds, one file each. A kind's file holds everything about it: its YAML
//! spec, the checks made when the operations are loaded, how it renders for a machine,
//! and its four stages: **probe** (a read-only script whose output are the facts),
//! **decide** (unchanged / change / run, from the facts alone), **apply** (the commands or
//! transfers that make the change) and **diff** (what will change, under `--diff`). Each
//! kind implements [`Operation`]; the `kinds!` list at the end of this file makes the
//! enums ([`Kind`], [`OpSpec`], [`Op`]), the YAML key table and the dispatch from it.
//!
//! Probes of consecutive steps are batched into one round trip by the runner, so a step
//! must never depend on anything but its own facts to decide.
//!
//! A new kind `foo` is the file `src/ops/foo.rs` (its `Spec`, and `pub struct Foo`
//! implementing [`Operation`] with `KEY = "foo"`) and the line `Foo(foo::Foo),` in the
//! `kinds!` list; its key, its place in messages and the dispatch follow from those. Then
//! document it in docs/operations.md and test it like the others.

mod attrs;
mod failure;
mod render;
mod text;
mod url;
mod values;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};
use serde::Deserialize;

use crate::facts::{scan, Facts};
use crate::remote::{Exec, ExecOutput, Remote};
pub use attrs::Attrs;
pub use failure::{Failure, FailureKind};
pub use render::{RenderCtx, RenderError, Rendered};
pub use values::{Mode, Presence};

/// One kind of operation: implemented by the kind's rendered form (`put::Put`, ...), with
/// the same signatures for every kind. The defaults are what most kinds do.
pub trait Operation: Sized + Clone + fmt::Debug {
    /// The key that names the operation in a step (`put`, `line`, ...).
    const KEY: &'static str;
    /// Packages, users and services need root on every distribution: the step runs as
    /// root whatever its `become:` or `user:` say.
    const NEEDS_ROOT: bool = false;
    /// A command (shell, command): its effect cannot be known, so it runs every time, takes
    /// `creates`/`unless`/`workdir`/`env`, and ends a read-ahead window.
    const IS_COMMAND: bool = false;
    /// The probe may ask the batch's scan ([`Operation::scan`]): the runner renders later
    /// steps of this kind early to ask their questions ahead. Only kinds that render
    /// cheaply may say so (a put or template would read and hash its source).
    const SCANS_AHEAD: bool = false;
    /// Its [`Operation::apply`] makes requests decided by the facts and the step alone:
    /// it never reads what a request printed, only whether it succeeded. So the requests
    /// can be recorded before the change is made and sent ahead in a chain with the steps
    /// after it (`crate::run::pipeline`). A kind that reads a reply (a download's, a
    /// service's state) must not say so: its recorded requests would not be the ones it
    /// makes.
    const APPLIES_BLINDLY: bool = false;

    /// The operation as written in a step: a `#[serde(deny_unknown_fields)]` mapping, or a
    /// scalar; its JSON Schema (`orbdeploy schema operations`) is derived from it, or
    /// written beside its hand-written deserializer.
    type Spec: DeserializeOwned + schemars::JsonSchema + Clone + fmt::Debug;

    /// Checks made when the operations are loaded, before any machine is known.
    fn check(_spec: &Self::Spec) -> Result<(), CheckError> {
        Ok(())
    }

    /// What a step's default name says after the key (`put /etc/motd`).
    fn summary(spec: &Self::Spec) -> String;

    /// A local file rendered as a template (its path as written), so that `mentions` reads
    /// it too.
    fn template_source(_spec: &Self::Spec) -> Option<&str> {
        None
    }

    /// The spec rendered for one machine.
    fn render(spec: &Self::Spec, ctx: &RenderCtx<'_>) -> Result<Self, RenderError>;

    /// The read-only script whose output decides the step (`None`: nothing to read).
    fn probe(&self) -> Option<String>;

    /// Whether the probe carries user code (a `shell` step's `unless:`), which the channel
    /// must run apart from its agent ([`crate::remote::Exec::isolate`]).
    fn probe_has_user_code(&self) -> bool {
        false
    }

    /// The file whose SHA-256 the probe asks for (shared by a batch, see
    /// [`crate::facts::sums`]).
    fn hashes(&self) -> Option<&str> {
        None
    }

    /// What the probe asks the batch's scan (see [`scan`]).
    fn scan(&self) -> Option<scan::Item> {
        None
    }

    /// Decide from the facts.
    fn decide(&self, facts: &Facts) -> Result<Decision, Failure>;

    /// A unified diff of the change, for `--diff` (`None`: nothing to show).
    fn diff(&self, _ctx: &mut Ctx<'_>, _facts: &Facts) -> Option<String> {
        None
    }

    /// Make the change.
    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure>;

    /// The request `--show-calls` shows for the step: its probe, unless the step is a
    /// command whose own script says more.
    fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
        ctx.exec(self.probe().unwrap_or_default())
    }
}

/// A spec that is wrong as written, found when the operations are loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct CheckError {
    /// The operation's key.
    pub key: &'static str,
    /// What is wrong, and what to write instead (owned when it quotes the spec, e.g. the
    /// message of an expression or a regular expression that does not compile).
    pub problem: Cow<'static, str>,
}

impl CheckError {
    /// A problem with the spec of kind `T`.
    pub fn of<T: Operation>(problem: impl Into<Cow<'static, str>>) -> CheckError {
        CheckError {
            key: T::KEY,
            problem: problem.into(),
        }
    }
}

/// What a step would do, decided from its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Already in the declared state.
    Unchanged,
    /// Would change; the list says what, in the user's words.
    Change(Vec<String>),
    /// A command whose effect cannot be known: it runs every time.
    Run,
    /// `creates:` / `unless:` say it has been done already.
    Skip(String),
}

/// The result of applying a step.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The command's output (shell/command), for `register` and the report.
    pub output: Option<ExecOutput>,
    /// What the step found when it ran left nothing to change (a forced download that
    /// fetched the bytes `dest` already had): the step is ok, not changed.
    pub unchanged: bool,
}

/// Everything an operation needs to apply itself.
pub struct Ctx<'a> {
    /// The machine.
    pub remote: &'a mut dyn Remote,
    /// Run as this user (`None` = the machine's default user).
    pub user: Option<String>,
    /// The step's timeout.
    pub timeout: Option<Duration>,
}

impl Ctx<'_> {
    /// An `Exec` for `script` as this step's user, with its timeout.
    pub fn exec(&self, script: String) -> Exec {
        Exec {
            script,
            user: self.user.clone(),
            timeout: self.timeout,
            ..Exec::default()
        }
    }

    /// Run an internal script that must succeed.
    pub fn run(&mut self, what: &str, script: String) -> Result<ExecOutput, Failure> {
        let req = self.exec(script);
        let out = self.remote.exec(&req)?;
        if out.status != 0 {
            let mut f = Failure::from_output(what, &req.script, &out);
            if let Some(hint) = permission_hint(&out, self.user.as_deref()) {
                f.message.push_str(&format!(": {hint}"));
            }
            return Err(f);
        }
        Ok(out)
    }
}

pub(super) fn permission_hint(out: &ExecOutput, user: Option<&str>) -> Option<&'static str> {
    let err = String::from_utf8_lossy(&out.stderr);
    let denied = err.contains("Permission denied") || err.contains("Operation not permitted");
    (denied && user != Some("root"))
        .then_some("permission denied; add `become: true` to run it as root")
}

/// A unified diff between two texts, or a note when either is not text.
pub fn text_diff(path: &str, old: &[u8], new: &[u8]) -> String {
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(a), Ok(b)) => similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{path} (on the machine)"),
                &format!("{path} (declared)"),
            )
            .to_string(),
        _ => format!(
            "binary content differs ({} bytes on the machine, {} bytes declared)\n",
            old.len(),
            new.len()
        ),
    }
}

/// Makes the operation kinds from one list (at the end of this file). For each entry
/// `Variant(module::Type)` it declares the module `src/ops/module.rs`, whose `Type`
/// implements [`Operation`], and gives it a variant of [`Kind`], [`OpSpec`] and [`Op`]:
/// the YAML key table ([`Kind::from_key`]) and every dispatch to the kind's file come from
/// here, so a new kind needs its file and one line in the list.
///
/// The modules are declared here rather than with `mod` lines of their own, which
/// `cargo fmt` does not follow into a macro: `kind_files_are_formatted` checks them.
macro_rules! kinds {
    ($($variant:ident($module:ident::$ty:ident)),+ $(,)?) => {
        $(pub mod $module;)+

        /// The operation kinds, in the order messages list them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $(
                #[doc = concat!("See [`", stringify!($module), "`](mod@", stringify!($module), ").")]
                $variant,
            )+
        }

        impl Kind {
            /// Every kind, in the order messages list them.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),+];

            /// The YAML key.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$module::$ty as Operation>::KEY,)+
                }
            }

            /// See [`Operation::NEEDS_ROOT`].
            pub fn needs_root(self) -> bool {
                match self {
                    $(Kind::$variant => <$module::$ty as Operation>::NEEDS_ROOT,)+
                }
            }

            /// See [`Operation::IS_COMMAND`].
            pub fn is_command(self) -> bool {
                match self {
                    $(Kind::$variant => <$module::$ty as Operation>::IS_COMMAND,)+
                }
            }

            /// See [`Operation::SCANS_AHEAD`].
            pub fn scans_ahead(self) -> bool {
                match self {
                    $(Kind::$variant => <$module::$ty as Operation>::SCANS_AHEAD,)+
                }
            }

            /// See [`Operation::APPLIES_BLINDLY`].
            pub fn applies_blindly(self) -> bool {
                match self {
                    $(Kind::$variant => <$module::$ty as Operation>::APPLIES_BLINDLY,)+
                }
            }

            /// The JSON Schema of the kind's spec ([`Operation::Spec`]).
            pub fn spec_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(Kind::$variant => {
                        generator.subschema_for::<<$module::$ty as Operation>::Spec>()
                    })+
                }
            }
        }

        /// A step's operation as written: one variant per kind, holding that kind's spec.
        #[derive(Debug, Clone)]
        pub enum OpSpec {
            $(
                #[doc = concat!("See [`", stringify!($module), "`](mod@", stringify!($module), ").")]
                $variant(<$module::$ty as Operation>::Spec),
            )+
        }

        impl OpSpec {
            /// The kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(OpSpec::$variant(_) => Kind::$variant,)+
                }
            }

            /// See [`Operation::check`].
            pub fn check(&self) -> Result<(), CheckError> {
                match self {
                    $(OpSpec::$variant(s) => <$module::$ty as Operation>::check(s),)+
                }
            }

            /// See [`Operation::summary`].
            pub fn summary(&self) -> String {
                match self {
                    $(OpSpec::$variant(s) => <$module::$ty as Operation>::summary(s),)+
                }
            }

            /// See [`Operation::template_source`].
            pub fn template_source(&self) -> Option<&str> {
                match self {
                    $(OpSpec::$variant(s) => <$module::$ty as Operation>::template_source(s),)+
                }
            }

            /// See [`Operation::render`].
            pub fn render(&self, ctx: &RenderCtx<'_>) -> Result<Op, RenderError> {
                match self {
                    $(OpSpec::$variant(s) => {
                        <$module::$ty as Operation>::render(s, ctx).map(Op::$variant)
                    })+
                }
            }
        }

        impl<'de> DeserializeSeed<'de> for SpecSeed {
            type Value = OpSpec;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OpSpec, D::Error> {
                match self.0 {
                    $(Kind::$variant => {
                        <<$module::$ty as Operation>::Spec>::deserialize(d).map(OpSpec::$variant)
                    })+
                }
            }
        }

        /// A step's operation rendered for one machine: one variant per kind.
        #[derive(Debug, Clone)]
        pub enum Op {
            $(
                #[doc = concat!("See [`", stringify!($module), "`](mod@", stringify!($module), ").")]
                $variant($module::$ty),
            )+
        }

        impl Op {
            /// The kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Op::$variant(_) => Kind::$variant,)+
                }
            }

            /// See [`Operation::probe`].
            pub fn probe(&self) -> Option<String> {
                match self {
                    $(Op::$variant(o) => o.probe(),)+
                }
            }

            /// See [`Operation::probe_has_user_code`].
            pub fn probe_has_user_code(&self) -> bool {
                match self {
                    $(Op::$variant(o) => o.probe_has_user_code(),)+
                }
            }

            /// See [`Operation::hashes`].
            pub fn hashes(&self) -> Option<&str> {
                match self {
                    $(Op::$variant(o) => o.hashes(),)+
                }
            }

            /// See [`Operation::scan`].
            pub fn scan(&self) -> Option<scan::Item> {
                match self {
                    $(Op::$variant(o) => o.scan(),)+
                }
            }

            /// See [`Operation::decide`].
            pub fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
                match self {
                    $(Op::$variant(o) => o.decide(facts),)+
                }
            }

            /// See [`Operation::diff`].
            pub fn diff(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
                match self {
                    $(Op::$variant(o) => o.diff(ctx, facts),)+
                }
            }

            /// See [`Operation::apply`].
            pub fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
                match self {
                    $(Op::$variant(o) => o.apply(ctx, facts),)+
                }
            }

            /// See [`Operation::shown_call`].
            pub fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
                match self {
                    $(Op::$variant(o) => o.shown_call(ctx),)+
                }
            }
        }
    };
}

impl Kind {
    /// The kind whose key is `key`.
    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == key)
    }
}

impl Op {
    /// See [`Operation::NEEDS_ROOT`].
    pub fn needs_root(&self) -> bool {
        self.kind().needs_root()
    }

    /// See [`Operation::IS_COMMAND`].
    pub fn is_command(&self) -> bool {
        self.kind().is_command()
    }
}

/// Reads the value of a kind's key as that kind's spec (see [`OpSpec`]).
#[derive(Debug, Clone, Copy)]
pub struct SpecSeed(pub Kind);

// The kinds: one line each (see `kinds!`).
kinds! {
    Shell(shell::Shell),
    Command(command::Command),
    Put(put::Put),
    Get(get::Get),
    Template(template::Template),
    Directory(directory::Directory),
    File(file::File),
    Line(line::Line),
    Packages(packages::Packages),
    User(user::User),
    Service(service::Service),
    Link(link::Link),
    Block(block::Block),
    Replace(replace::Replace),
    Wait(wait::Wait),
    Assert(assert::Assert),
    Group(group::Group),
    Sync(sync::Sync),
    Git(git::Git),
    Download(download::Download),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind is its YAML key in every document (reports, saved plans).
impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Kind, D::Error> {
        let word = String::deserialize(de)?;
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operation kind `{word}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_unified() {
        let d = text_diff("/etc/x", b"a\nb\n", b"a\nc\n");
        assert!(d.contains("-b\n+c\n"), "{d}");
        assert!(text_diff("/x", b"\xff", b"a").starts_with("binary"));
    }

    /// `cargo fmt` does not follow the module declarations `kinds!` makes, so rustfmt is
    /// run on this directory and a kind's folder of parts (`sync/`) here.
    #[test]
    fn kind_files_are_formatted() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
        let list = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        let mut files: Vec<_> = list(&dir)
            .into_iter()
            .flat_map(|p| if p.is_dir() { list(&p) } else { vec![p] })
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        files.sort();
        assert!(
            files.iter().any(|p| p.ends_with("sync/archive.rs")),
            "{files:?}"
        );
        let out = std::process::Command::new("rustfmt")
            .args(["--check", "--edition", "2021"])
            .args(&files)
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) => panic!("cannot run rustfmt to check src/ops/ (install it with `rustup component add rustfmt`): {e}"),
        };
        assert!(
            out.status.success(),
            "run `rustfmt --edition 2021 src/ops/*.rs src/ops/*/*.rs`:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// The key table: every kind's key names it, the common key `user` is also an
    /// operation, and messages list the kinds in the order of [`Kind::ALL`].
    #[test]
    fn keys_name_their_kinds() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_key(k.as_str()), Some(*k));
        }
        assert_eq!(Kind::from_key("user"), Some(Kind::User));
        assert_eq!(Kind::from_key("become"), None);
        // The first kinds in the order messages have always listed them; a kind added
        // later follows, in the order of its line in `kinds!`.
        let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(
            keys.join(" ").starts_with(
                "shell command put get template directory file line packages user service"
            ),
            "{keys:?}"
        );
    }
}
