//! The operations of an inventory, loaded and checked: every step with exactly one
//! operation, its origin (file:line:column, role, include chain), the directory its local
//! files are relative to, what an include or a role around it gives it ([`Scope`]), its
//! loop, and handlers that exist for every `notify`. Includes and roles are resolved here,
//! statically (the private modules `include` and `role`). Nothing here talks to a machine.

mod group;
mod include;
pub mod items;
mod role;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::error::ConfigError;
use crate::inventory::{valid_var_name, Inventory, BUILT_INS};
use crate::load::operations::{RawStep, ResultTest, StepSpec};
pub use crate::ops::Kind;
use crate::ops::{OpSpec, RenderCtx, RenderError, Rendered};
use crate::template::Renderer;
use crate::yaml::Spanned;

pub use items::{Item, ItemState};

/// One checked step (or handler).
#[derive(Debug, Clone)]
pub struct Step {
    /// Position among the steps (or handlers), from 0; the items of a loop share their
    /// step's.
    pub index: usize,
    /// Display name: `name:` or one made from the operation, after `ROLE : ` for a step of
    /// a role, and followed by ` [label]` for an item of a loop.
    pub name: String,
    /// `file:line:column` of the step.
    pub origin: String,
    /// Local `src` paths are relative to this directory (after the role's `files/` or
    /// `templates/`, see [`Step::search_path`]).
    pub base: PathBuf,
    /// The common keys as written (with the tags of the includes around it added).
    pub spec: StepSpec,
    /// The operation as written.
    pub op: OpSpec,
    /// Where the step was written: its file, line, role and include chain.
    pub source: Arc<Source>,
    /// What the includes and roles around the step give it.
    pub scope: Arc<Scope>,
    /// The handlers its `notify` names, as positions in [`Playbook::handlers`].
    pub notifies: Vec<usize>,
    /// The step's own `loop:`.
    pub looping: Option<Arc<Loop>>,
    /// Set on the per-item copies a machine's run makes of a looping step.
    pub item: Option<Arc<Item>>,
}

/// Where a step was written.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The file, as messages name it.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
    /// The role the step belongs to.
    pub role: Option<String>,
    /// The include and role calls that led to the step, outermost first.
    pub chain: Vec<Link>,
}

/// One include or role call on the way to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `file:line:column` of the call.
    pub at: String,
    /// `include common/base.yaml` or `role nginx`.
    pub what: String,
}

impl Source {
    /// The include chain in words: ` (via ops.yaml:3:3 include a.yaml → a.yaml:1:3 role
    /// web)`, or nothing for a step written in the inventory's own files.
    pub fn via(&self) -> String {
        via(&self.chain)
    }
}

/// The chain in words (see [`Source::via`]).
pub fn via(chain: &[Link]) -> String {
    if chain.is_empty() {
        return String::new();
    }
    let links: Vec<String> = chain
        .iter()
        .map(|l| format!("{} {}", l.at, l.what))
        .collect();
    format!(" (via {})", links.join(" → "))
}

/// What the includes and role calls around a step give it: variables, role defaults,
/// `hosts:` to intersect, `when:` to AND, the role, and an include's loop.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The `vars:` of the calls, inner over outer: above machine variables, below `--var`.
    pub vars: crate::template::TemplateVars,
    /// Role defaults (and `role.yaml` arg defaults): below every inventory variable.
    pub defaults: crate::template::TemplateVars,
    /// Each call's `hosts:`: a step runs only on machines every one of them selects.
    pub hosts: Vec<Vec<String>>,
    /// The tags of the calls, added to each step's own.
    pub tags: Vec<String>,
    /// Each call's `when:`, outermost first: all must be true.
    pub whens: Vec<Spanned<String>>,
    /// The role the step belongs to.
    pub role: Option<RoleRef>,
    /// The loop of an include around the step: (which include, its loop).
    pub outer_loop: Option<(usize, Arc<Loop>)>,
    /// Whose handlers `notify` looks in first: 0 the run's, else a role's.
    pub handler_scope: usize,
    /// The `try:` groups around the step, outermost first, each with the section the step
    /// is in.
    pub groups: Vec<GroupLevel>,
    /// What the groups around the step put before its name (`migrate / try / `).
    pub prefix: String,
    /// Where in `prefix` the role's `ROLE : ` goes: groups outside the role come before
    /// it, groups inside the role after it.
    pub role_at: usize,
    /// A group's `become:`, for the steps that say neither `become:` nor `user:`.
    pub become_root: Option<bool>,
    /// A group's `user:`, for the steps that say neither `become:` nor `user:`.
    pub run_as: Option<String>,
}

/// One `try:` group around a step, and which of its lists the step is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLevel {
    /// The group, unique in the run's steps.
    pub id: usize,
    /// The group's list the step is in.
    pub section: Section,
    /// The group is inside an include's loop: each item of the loop runs it anew.
    pub looped: bool,
    /// What the group's lists are named after: its `name:` with the groups and the role
    /// around it (`outer / try / migrate`), or only those, for a group with no name.
    pub title: String,
}

impl GroupLevel {
    /// One of the group's lists as output names it: `migrate / rescue`.
    pub fn list(&self, section: Section) -> String {
        let t = &self.title;
        match t.is_empty() || t.ends_with(' ') {
            true => format!("{t}{}", section.word()),
            false => format!("{t} / {}", section.word()),
        }
    }
}

/// The three lists of a `try:` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `try:`: run in order until a step fails.
    Try,
    /// `rescue:`: run when a step of `try` failed.
    Rescue,
    /// `always:`: run after `try` and `rescue`, whatever happened.
    Always,
}

impl Section {
    /// The key, as written and as shown in step names.
    pub fn word(self) -> &'static str {
        match self {
            Section::Try => "try",
            Section::Rescue => "rescue",
            Section::Always => "always",
        }
    }
}

impl Scope {
    /// `own` after what the groups and the role around it put before it: `web : name`,
    /// `migrate / try / name`, `migrate / try / web : name`.
    pub fn named(&self, own: &str) -> String {
        match &self.role {
            Some(role) => {
                let (outside, inside) = self
                    .prefix
                    .split_at_checked(self.role_at)
                    .unwrap_or(("", &self.prefix));
                format!("{outside}{} : {inside}{own}", role.name)
            }
            None => format!("{}{own}", self.prefix),
        }
    }
}

/// A role a step belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    /// Its name.
    pub name: String,
    /// Its directory (`roles/NAME`).
    pub dir: PathBuf,
}

/// A `loop:` as written.
#[derive(Debug, Clone)]
pub struct Loop {
    /// A list, or a template string `"{{ expression }}"` that yields one.
    pub items: Spanned<Json>,
    /// The variable each item is bound to (`loop_var:`, default `item`).
    pub var: String,
    /// `label:`, a template (default: the item, shortened).
    pub label: Option<String>,
}

impl Loop {
    /// The expression of a template loop (`None`: a literal list).
    pub fn expression(&self) -> Option<&str> {
        match &self.items.value {
            Json::String(s) => Some(single_expression(s).unwrap_or(s)),
            _ => None,
        }
    }
}

pub use crate::template::single_expression;

impl Step {
    /// The step rendered for the machine whose variables are `vars`: its operation, the
    /// user it runs as and its time limit.
    pub fn render(
        &self,
        renderer: &Renderer,
        vars: &minijinja::Value,
    ) -> Result<Rendered, RenderError> {
        let step = self;
        let search = step.search_path();
        let ctx = RenderCtx {
            renderer,
            vars,
            base: &step.base,
            search: &search,
            step: &step.spec,
        };
        let op = step.op.render(&ctx)?;
        let run_as = if op.needs_root() || step.spec.become_root == Some(true) {
            Some("root".to_string())
        } else {
            ctx.opt("user", &step.spec.user)?
        };
        Ok(Rendered {
            op,
            run_as,
            timeout: step
                .spec
                .timeout
                .map(|t| std::time::Duration::from_secs(t.0)),
        })
    }

    /// The operation kind.
    pub fn kind(&self) -> Kind {
        self.op.kind()
    }

    /// The user the step will probably run as, from the step as written (without
    /// rendering): root for `become` and for kinds that need it, a literal `user:`, else
    /// the machine's default user (`Some(None)`). `None`: a `user:` that is a template.
    pub fn likely_user(&self) -> Option<Option<String>> {
        if self.spec.become_root == Some(true) || self.kind().needs_root() {
            return Some(Some("root".to_string()));
        }
        match &self.spec.user {
            Some(u) if u.contains("{{") => None,
            u => Some(u.clone()),
        }
    }

    /// The variable this step registers once it has run: a looping step registers after
    /// its last item (the results of every item), not after each.
    pub fn registers_now(&self) -> Option<&String> {
        let reg = self.spec.register.as_ref()?;
        match &self.item {
            Some(item) if self.looping.is_some() => item.is_last().then_some(reg),
            _ => Some(reg),
        }
    }

    /// Every `when:` that must be true for the step to run: the includes' and roles'
    /// around it, then its own.
    pub fn whens(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.scope.whens.iter().chain(&self.spec.when)
    }

    /// Where a relative local `src` is looked for, in order: in a role, its `templates/`
    /// (template) or `files/` (every other kind), then the step's directory.
    pub fn search_path(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(role) = &self.scope.role {
            let sub = if self.op.template_source().is_some() {
                "templates"
            } else {
                "files"
            };
            out.push(role.dir.join(sub));
        }
        out.push(self.base.clone());
        out
    }

    /// A relative local path resolved along [`Step::search_path`]: the first directory
    /// where it exists, else the step's own directory (whose "not a file" the check shows).
    pub fn local_file(&self, rel: &str) -> PathBuf {
        let dirs = self.search_path();
        dirs.iter()
            .map(|d| d.join(rel))
            .find(|p| p.exists())
            .unwrap_or_else(|| self.base.join(rel))
    }
}

/// Steps and handlers.
#[derive(Debug, Clone, Default)]
pub struct Playbook {
    /// Steps in order, includes and roles resolved.
    pub steps: Vec<Step>,
    /// Handlers in the order the loader meets them, which is the order they run in: those
    /// of the includes and roles that `steps:` calls, where each is called, then the
    /// operations file's own `handlers:`.
    pub handlers: Vec<Step>,
    /// Every local file the steps come from or render (operations files, templates).
    pub sources: Vec<PathBuf>,
    /// A template's path is itself a template, so `sources` may be incomplete.
    pub dynamic_sources: bool,
    /// Every include and role call, in the order written: what `inventory --explain`
    /// shows of the variables they add.
    pub calls: Vec<Call>,
}

/// An include or role call and the variables it gives its steps.
#[derive(Debug, Clone)]
pub struct Call {
    /// Where it is written, with the chain that led to it.
    pub at: String,
    /// `include FILE` or `role NAME`.
    pub what: String,
    /// Its `vars:`.
    pub vars: crate::template::TemplateVars,
    /// A role's defaults.
    pub defaults: crate::template::TemplateVars,
}

impl Playbook {
    /// True when the inventory, an operations file or a template mentions one of `words`
    /// (used to skip `orbctl info` calls for `ip4` when nothing reads it).
    pub fn mentions(&self, inv: &Inventory, words: &[&str]) -> bool {
        if self.dynamic_sources {
            return true;
        }
        std::iter::once(&inv.file)
            .chain(&self.sources)
            .any(|p| match std::fs::read_to_string(p) {
                Ok(text) => words.iter().any(|w| text.contains(w)),
                Err(_) => true,
            })
    }

    /// Every name a step or handler registers.
    pub fn registers(&self) -> Vec<&String> {
        self.steps
            .iter()
            .chain(&self.handlers)
            .filter_map(|s| s.spec.register.as_ref())
            .collect()
    }
}

/// Names a step may not register under (they would shadow built-ins).
const RESERVED: [&str; 10] = [
    "machine", "user", "distro", "version", "arch", "ip4", "groups", "hostvars", "env", "item",
];

/// Where roles are looked for besides `roles/` beside the inventory: `--roles-path`, then
/// `ORBDEPLOY_ROLES_PATH` (colon-separated).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--roles-path` directories, in order.
    pub roles_path: Vec<PathBuf>,
}

/// Load every operations file the inventory refers to, with its includes and roles, and
/// check the steps (roles found beside the inventory and on `ORBDEPLOY_ROLES_PATH`).
pub fn load(inv: &Inventory, renderer: &Renderer) -> Result<Playbook, ConfigError> {
    load_with(inv, renderer, &LoadOptions::default())
}

/// [`load`], with roles also looked for where `options` says.
pub fn load_with(
    inv: &Inventory,
    renderer: &Renderer,
    options: &LoadOptions,
) -> Result<Playbook, ConfigError> {
    let mut book = include::Loader::new(inv, renderer, options).run()?;
    for step in book.steps.iter().chain(&book.handlers) {
        if let Some(src) = step.op.template_source() {
            if src.contains("{{") || src.contains("{%") {
                book.dynamic_sources = true;
            } else {
                book.sources.push(step.local_file(src));
            }
        }
    }
    Ok(book)
}

/// Check `hosts:` patterns against the inventory (after `orbctl list`, so derived groups
/// such as `orbstack_running` are known), the includes' and roles' too.
pub fn check_hosts(book: &Playbook, inv: &Inventory) -> Result<(), ConfigError> {
    for step in book.steps.iter().chain(&book.handlers) {
        let lists = std::iter::once(&step.spec.hosts.0).chain(&step.scope.hosts);
        for p in lists.flatten() {
            if p == "all" {
                continue;
            }
            if let Err(e) = inv.select(p) {
                return Err(at(step, format!("hosts: {e}")));
            }
        }
    }
    Ok(())
}

/// An error at a step's position (with the include chain that led to it).
pub fn at(step: &Step, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        location: Some(step.origin.clone()),
        message: format!("step `{}`: {}{}", step.name, msg.into(), step.source.via()),
    }
}

/// Check one step as written in `file` (its local files relative to `base`), inside
/// `scope`, reached through `chain`. `index` is set by the caller.
pub(crate) fn check(
    s: Spanned<RawStep>,
    file: &Path,
    base: PathBuf,
    scope: Arc<Scope>,
    chain: &[Link],
    renderer: &Renderer,
) -> Result<Step, ConfigError> {
    let origin = format!(
        "{}:{}:{}",
        file.display(),
        s.referenced.line(),
        s.referenced.column()
    );
    let source = Arc::new(Source {
        file: file.to_path_buf(),
        line: s.referenced.line(),
        column: s.referenced.column(),
        role: scope.role.as_ref().map(|r| r.name.clone()),
        chain: chain.to_vec(),
    });
    let RawStep { mut spec, ops, .. } = s.value;
    let op = one_operation(ops, &origin, &source)?;
    let own = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {}", op.kind().as_str(), op.summary()));
    let name = scope.named(&own);
    // A group's `become:`/`user:` is the default of the steps inside it; a step's own wins.
    if spec.become_root.is_none() && spec.user.is_none() {
        spec.become_root = scope.become_root;
        spec.user = scope.run_as.clone();
    }
    let looping = loop_of(&spec, &origin, &name, &source, renderer)?;
    let step = Step {
        index: 0,
        name,
        origin,
        base,
        spec,
        op,
        source,
        scope,
        notifies: Vec::new(),
        looping,
        item: None,
    };
    check_common(&step, renderer)?;
    step.op.check().map_err(|e| at(&step, e.to_string()))?;
    Ok(step)
}

/// The `loop:`, `loop_var:` and `label:` of a step (or an include), checked: a list or
/// one `{{ expression }}`, a name a variable can have.
pub(crate) fn loop_of(
    spec: &StepSpec,
    origin: &str,
    name: &str,
    source: &Source,
    renderer: &Renderer,
) -> Result<Option<Arc<Loop>>, ConfigError> {
    let err = |msg: String| ConfigError {
        location: Some(origin.to_string()),
        message: format!("step `{name}`: {msg}{}", source.via()),
    };
    let Some(items) = &spec.loop_items else {
        for (key, set) in [
            ("loop_var", spec.loop_var.is_some()),
            ("label", spec.label.is_some()),
        ] {
            if set {
                return Err(err(format!("`{key}` needs a `loop:`")));
            }
        }
        return Ok(None);
    };
    match &items.value {
        Json::Array(_) => {}
        Json::String(s) => match single_expression(s) {
            Some(expr) => renderer
                .check_expression(expr)
                .map_err(|e| err(format!("loop: {e}")))?,
            None => return Err(err(loop_over_string(s))),
        },
        other => {
            return Err(err(format!(
                "loop: expected a list, or a template that yields one; found {}",
                crate::template::describe_json(other)
            )))
        }
    }
    let var = match &spec.loop_var {
        None => "item".to_string(),
        Some(v) => {
            let ok = valid_var_name(&v.value) && !BUILT_INS.contains(&v.value.as_str());
            if !ok {
                return Err(err(format!(
                    "loop_var: `{}` is not a name a variable can have (letters, digits, `_`, not starting with a digit; not a built-in)",
                    v.value
                )));
            }
            v.value.clone()
        }
    };
    Ok(Some(Arc::new(Loop {
        items: items.clone(),
        var,
        label: spec.label.clone(),
    })))
}

/// The one operation of a step (at `origin`), or what to say about none or several.
fn one_operation(ops: Vec<OpSpec>, origin: &str, source: &Source) -> Result<OpSpec, ConfigError> {
    let err = |message: String| ConfigError {
        location: Some(origin.to_string()),
        message: format!("{message}{}", source.via()),
    };
    let mut ops = ops.into_iter();
    match (ops.next(), ops.next()) {
        (Some(op), None) => Ok(op),
        (None, _) => {
            let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            let (last, rest) = keys.split_last().unwrap_or((&"", &[]));
            Err(err(format!(
                "a step needs one operation: {} or {last} (or `include:` or `role:`)",
                rest.join(", ")
            )))
        }
        (Some(first), Some(second)) => {
            let names: Vec<&str> = [first, second]
                .iter()
                .chain(ops.as_slice())
                .map(|op| op.kind().as_str())
                .collect();
            Err(err(format!(
                "a step has exactly one operation, this one has {}; split it into separate steps",
                names.join(" and ")
            )))
        }
    }
}

/// The checks of the keys every step has.
fn check_common(step: &Step, renderer: &Renderer) -> Result<(), ConfigError> {
    let spec = &step.spec;
    if spec.become_root == Some(true) && spec.user.is_some() {
        return Err(at(step, "give either `become: true` or `user:`, not both"));
    }
    if spec.vars.is_some() {
        return Err(at(
            step,
            "`vars` applies to `include:` and `role:` only (set variables in the inventory, or include a file with `vars:`)",
        ));
    }
    if !step.kind().is_command() {
        let commands: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| k.is_command())
            .map(|k| k.as_str())
            .collect();
        for (key, set) in [
            ("creates", spec.creates.is_some()),
            ("unless", spec.unless.is_some()),
            ("workdir", spec.workdir.is_some()),
            ("env", !spec.env.0.is_empty()),
        ] {
            if set {
                return Err(at(
                    step,
                    format!("`{key}` applies to {} steps only", commands.join(" and ")),
                ));
            }
        }
    }
    for (k, _) in spec.env.iter() {
        if !valid_var_name(&k.value) {
            return Err(at(
                step,
                format!("env: `{}` is not a valid variable name", k.value),
            ));
        }
    }
    if let Some(r) = &spec.register {
        if !valid_var_name(r) || RESERVED.contains(&r.as_str()) {
            return Err(at(step, format!("register: `{r}` is not a name a variable can have (letters, digits, `_`; not a built-in)")));
        }
    }
    if let Some(w) = &spec.when {
        renderer
            .check_condition(&w.value)
            .map_err(|e| at(step, format!("when: {e}")))?;
    }
    check_result_tests(step, renderer)?;
    if spec.retries.is_some_and(|r| r > 100) {
        return Err(at(step, "retries: at most 100"));
    }
    Ok(())
}

/// `changed_when:` and `failed_when:` as written: not an empty list, and expressions that
/// parse (what they read is checked per machine, `plan::validate`).
fn check_result_tests(step: &Step, renderer: &Renderer) -> Result<(), ConfigError> {
    let spec = &step.spec;
    for (key, test) in [
        ("changed_when", &spec.changed_when),
        ("failed_when", &spec.failed_when),
    ] {
        let Some(ResultTest::All(exprs)) = test else {
            continue;
        };
        if exprs.is_empty() {
            return Err(at(
                step,
                format!("{key}: an empty list; write true, false, an expression, or a list of expressions"),
            ));
        }
        for e in exprs {
            renderer
                .check_condition(e)
                .map_err(|err| at(step, format!("{key}: {err}")))?;
        }
    }
    Ok(())
}

/// What to write instead of a loop over a plain string: the variable it names in
/// `{{ }}`, or the YAML list its words make.
fn loop_over_string(s: &str) -> String {
    let t = s.trim();
    if valid_var_name(t) && !t.is_empty() {
        return format!(
            "loop: `{t}` is a string, not a list: to loop over the variable, write `loop: \"{{{{ {t} }}}}\"`; for one item, `loop: [{t}]`"
        );
    }
    let words: Vec<String> = t
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let plain = w.chars().all(|c| c.is_alphanumeric() || "-_./".contains(c));
            if plain {
                w.to_string()
            } else {
                format!("{w:?}")
            }
        })
        .collect();
    format!(
        "loop: `{t}` is a string, not a list: write a YAML list, e.g. `loop: [{}]`",
        words.join(", ")
    )
}

#[cfg(test)]
mod tests;
