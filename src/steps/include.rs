//! Resolving `include:` and `role:` at load time: the steps of another file (or a role)
//! take the place of the entry that names it, each inside a [`Scope`] that adds the
//! call's `vars:`, `hosts:`, `tags:`, `when:` and loop. Cycles are errors naming the
//! chain; an error inside an included file names that file, line and column, and how it
//! was reached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::role::{self, RoleFiles};
use super::{check, loop_of, Call, Link, Playbook, Scope, Step};
use crate::error::ConfigError;
use crate::inventory::{valid_var_name, Inventory, BUILT_INS};
use crate::load::operations::{OperationsFile, OpsEntry, RawStep, StepSpec};
use crate::template::Renderer;
use crate::yaml::Spanned;

/// Where an entry is read: its file, the directory its paths are relative to, its scope
/// and the calls that led there.
#[derive(Clone)]
pub(super) struct Place {
    pub file: PathBuf,
    pub base: PathBuf,
    pub scope: Arc<Scope>,
    pub chain: Vec<Link>,
}

/// The keys an `include:` takes (besides `include` itself).
const INCLUDE_KEYS: [&str; 8] = [
    "name", "vars", "hosts", "tags", "when", "loop", "loop_var", "label",
];

/// The load of one inventory's operations.
pub(super) struct Loader<'a> {
    inv: &'a Inventory,
    pub renderer: &'a Renderer,
    pub roles_path: Vec<PathBuf>,
    book: Playbook,
    /// Handlers by scope (0: the run's; else a role's), name → where the first is.
    handler_names: BTreeMap<(usize, String), String>,
    /// The files being included (canonical, as shown), for cycles.
    files: Vec<(PathBuf, String)>,
    /// The roles being loaded, for cycles.
    pub roles: Vec<String>,
    /// Roles whose handlers are loaded, with their handler scope.
    pub role_scopes: BTreeMap<String, usize>,
    /// Steps with their notify names, resolved once every handler is known.
    notify: Vec<Vec<String>>,
    next_group: usize,
}

impl<'a> Loader<'a> {
    pub fn new(inv: &'a Inventory, renderer: &'a Renderer, options: &super::LoadOptions) -> Self {
        // `roles/web`, not `./roles/web`, in messages about roles beside the inventory.
        let beside = match inv.dir == Path::new(".") {
            true => PathBuf::from("roles"),
            false => inv.dir.join("roles"),
        };
        let mut roles_path = vec![beside];
        roles_path.extend(options.roles_path.iter().cloned());
        if let Some(env) = std::env::var_os("ORBDEPLOY_ROLES_PATH") {
            roles_path.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
        }
        Loader {
            inv,
            renderer,
            roles_path,
            book: Playbook::default(),
            handler_names: BTreeMap::new(),
            files: Vec::new(),
            roles: Vec::new(),
            role_scopes: BTreeMap::new(),
            notify: Vec::new(),
            next_group: 0,
        }
    }

    /// Load everything the inventory's `operations:` names.
    pub fn run(mut self) -> Result<Playbook, ConfigError> {
        let inv = self.inv;
        let top = Place {
            file: inv.file.clone(),
            base: inv.dir.clone(),
            scope: Arc::new(Scope::default()),
            chain: Vec::new(),
        };
        if let Some(ops) = &inv.operations {
            for entry in &ops.entries {
                match entry {
                    OpsEntry::Step(s) => self.entry((**s).clone(), &top, false)?,
                    OpsEntry::File(f) => self.top_file(f, &top)?,
                }
            }
            for h in &ops.handlers {
                self.entry(h.clone(), &top, true)?;
            }
        }
        self.resolve_notify()?;
        Ok(self.book)
    }

    /// A file the inventory's `operations:` names.
    fn top_file(&mut self, f: &Spanned<String>, top: &Place) -> Result<(), ConfigError> {
        let inv = self.inv;
        // `ops.yaml`, not `./ops.yaml`, in messages about a file beside the inventory.
        let path = if inv.dir == Path::new(".") {
            PathBuf::from(&f.value)
        } else {
            inv.dir.join(&f.value)
        };
        if !path.is_file() {
            let msg = format!("operations file {} does not exist", path.display());
            return Err(if f.referenced.line() > 0 {
                ConfigError::at(&inv.file, f.referenced.line(), f.referenced.column(), msg)
            } else {
                ConfigError::in_file(&inv.file, msg)
            });
        }
        let place = Place {
            file: path.clone(),
            base: parent(&path),
            ..top.clone()
        };
        self.file(&path, &place)
    }

    /// Every step and handler of the operations file `path`, read at `place`.
    pub fn file(&mut self, path: &Path, place: &Place) -> Result<(), ConfigError> {
        let doc: OperationsFile = crate::yaml::parse_file(path, self.renderer.read_log())
            .map_err(|e| with_chain(e, &place.chain))?;
        self.book.sources.push(path.to_path_buf());
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.files.push((key, path.display().to_string()));
        let result = (|| {
            for s in doc.0.steps {
                self.entry(s, place, false)?;
            }
            for h in doc.0.handlers {
                self.entry(h, place, true)?;
            }
            Ok(())
        })();
        self.files.pop();
        result
    }

    /// One entry of a list of steps (or handlers): a step, an include or a role call.
    pub fn entry(
        &mut self,
        s: Spanned<RawStep>,
        place: &Place,
        handler: bool,
    ) -> Result<(), ConfigError> {
        if s.value.sections.any() {
            return super::group::call(self, s, place, handler);
        }
        if s.value.spec.include.is_some() {
            return self.include(s, place, handler);
        }
        if s.value.spec.role.is_some() {
            if handler {
                return Err(call_error(&s, place, "a handler cannot be a role call"));
            }
            return role::call(self, s, place);
        }
        let mut step = check(
            s,
            &place.file,
            place.base.clone(),
            Arc::clone(&place.scope),
            &place.chain,
            self.renderer,
        )?;
        step.spec.tags.0.extend(place.scope.tags.iter().cloned());
        let names = step.spec.notify.0.clone();
        if handler {
            self.handler(step)
        } else {
            step.index = self.book.steps.len();
            self.notify.push(names);
            self.book.steps.push(step);
            Ok(())
        }
    }

    /// A handler: named, unique in its scope, notifying nothing.
    fn handler(&mut self, mut step: Step) -> Result<(), ConfigError> {
        if step.spec.name.is_none() {
            return Err(super::at(
                &step,
                "a handler needs a `name:` (steps notify it by name)",
            ));
        }
        if !step.spec.notify.0.is_empty() {
            return Err(super::at(&step, "handlers cannot notify other handlers"));
        }
        let plain = step.spec.name.clone().unwrap_or_default();
        let key = (step.scope.handler_scope, plain);
        if let Some(first) = self.handler_names.get(&key) {
            return Err(super::at(
                &step,
                format!(
                    "a second handler named `{}` (the first is at {first})",
                    key.1
                ),
            ));
        }
        let first = match step.source.chain.is_empty() {
            true => step.origin.clone(),
            false => format!(
                "{}, {}",
                step.origin,
                step.source.via().trim().trim_matches(['(', ')'])
            ),
        };
        self.handler_names.insert(key, first);
        step.index = self.book.handlers.len();
        self.book.handlers.push(step);
        Ok(())
    }

    /// `include: FILE`: its steps and handlers in place, inside the call's scope.
    fn include(
        &mut self,
        s: Spanned<RawStep>,
        place: &Place,
        handler: bool,
    ) -> Result<(), ConfigError> {
        only_keys(&s, place, "include", &INCLUDE_KEYS)?;
        let spec = &s.value.spec;
        let Some(file) = spec.include.clone() else {
            return Ok(());
        };
        let at = position(&place.file, &s);
        let path = place.base.join(&file.value);
        if !path.is_file() {
            let msg = format!("include: {} does not exist", path.display());
            return Err(call_error(&s, place, &msg));
        }
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(i) = self.files.iter().position(|(k, _)| *k == key) {
            let mut names: Vec<&str> = self.files[i..].iter().map(|(_, n)| n.as_str()).collect();
            let shown = path.display().to_string();
            names.push(&shown);
            let msg = format!("include cycle: {}", names.join(" → "));
            return Err(call_error(&s, place, &msg));
        }
        let name = format!("include {}", file.value);
        let mut scope = self.child_scope(&s, place, &name, None)?;
        if handler && scope.outer_loop.is_some() {
            return Err(call_error(
                &s,
                place,
                "handlers cannot be included with a `loop:`",
            ));
        }
        let vars = vars_of(spec, place)?;
        for (k, v) in &vars {
            scope.vars.insert(k.clone(), v.clone());
        }
        self.book.calls.push(Call {
            at: format!("{at}{}", super::via(&place.chain)),
            what: name.clone(),
            vars,
            defaults: Default::default(),
        });
        let mut chain = place.chain.clone();
        chain.push(Link { at, what: name });
        let inner = Place {
            base: parent(&path),
            file: path.clone(),
            scope: Arc::new(scope),
            chain,
        };
        if handler {
            let doc: OperationsFile = crate::yaml::parse_file(&path, self.renderer.read_log())
                .map_err(|e| with_chain(e, &inner.chain))?;
            self.book.sources.push(path);
            for h in doc.0.steps.into_iter().chain(doc.0.handlers) {
                self.entry(h, &inner, true)?;
            }
            return Ok(());
        }
        self.file(&path, &inner)
    }

    /// The scope inside a call: the parent's, with the call's `hosts:`, `when:` and loop
    /// added (`vars:` are the caller's to add). `tags:` go on each step.
    pub fn child_scope(
        &mut self,
        s: &Spanned<RawStep>,
        place: &Place,
        name: &str,
        role: Option<super::RoleRef>,
    ) -> Result<Scope, ConfigError> {
        let spec = &s.value.spec;
        let mut scope = (*place.scope).clone();
        if !spec.hosts.0.is_empty() {
            scope.hosts.push(spec.hosts.0.clone());
        }
        if let Some(w) = &spec.when {
            self.renderer
                .check_condition(&w.value)
                .map_err(|e| call_error(s, place, &format!("when: {e}")))?;
            scope.whens.push(w.clone());
        }
        let origin = position(&place.file, s);
        let source = super::Source {
            chain: place.chain.clone(),
            ..Default::default()
        };
        if let Some(lp) = loop_of(spec, &origin, name, &source, self.renderer)? {
            if scope.outer_loop.is_some() {
                return Err(call_error(
                    s,
                    place,
                    "an include with `loop:` inside another include with `loop:` is not supported: loop over the inner steps instead",
                ));
            }
            scope.outer_loop = Some((self.next_id(), lp));
        }
        if let Some(r) = role {
            scope.role = Some(r);
            scope.role_at = scope.prefix.len();
        }
        scope.tags.extend(spec.tags.0.iter().cloned());
        Ok(scope)
    }

    /// A role's handlers: loaded once per role, with the vars of its first call.
    pub fn role_handlers(&mut self, files: &RoleFiles, place: &Place) -> Result<(), ConfigError> {
        let Some(path) = &files.handlers else {
            return Ok(());
        };
        let doc: OperationsFile = crate::yaml::parse_file(path, self.renderer.read_log())
            .map_err(|e| with_chain(e, &place.chain))?;
        self.book.sources.push(path.clone());
        let file_place = Place {
            file: path.clone(),
            ..place.clone()
        };
        for h in doc.0.steps.into_iter().chain(doc.0.handlers) {
            self.entry(h, &file_place, true)?;
        }
        Ok(())
    }

    /// A number no other loop or `try:` group of this load has.
    pub fn next_id(&mut self) -> usize {
        self.next_group += 1;
        self.next_group
    }

    /// Record a role call for `inventory --explain`.
    pub fn record_call(&mut self, call: Call) {
        self.book.calls.push(call);
    }

    /// Every step's `notify` names as handler positions: the step's role's handler of
    /// that name first, then the run's, then `ROLE : NAME`.
    fn resolve_notify(&mut self) -> Result<(), ConfigError> {
        let by_scope: BTreeMap<(usize, String), usize> = self
            .book
            .handlers
            .iter()
            .map(|h| {
                let name = h.spec.name.clone().unwrap_or_default();
                ((h.scope.handler_scope, name), h.index)
            })
            .collect();
        let names = std::mem::take(&mut self.notify);
        for (step, wanted) in self.book.steps.iter_mut().zip(names) {
            for n in wanted {
                let own = (step.scope.handler_scope, n.clone());
                let global = (0, n.clone());
                let qualified = n.split_once(" : ").and_then(|(r, h)| {
                    self.role_scopes
                        .get(r.trim())
                        .map(|scope| (*scope, h.trim().to_string()))
                });
                let found = [Some(own), Some(global), qualified]
                    .into_iter()
                    .flatten()
                    .find_map(|k| by_scope.get(&k).copied());
                match found {
                    Some(i) if !step.notifies.contains(&i) => step.notifies.push(i),
                    Some(_) => {}
                    None => return Err(unknown_handler(step, &n, &self.book.handlers)),
                }
            }
        }
        Ok(())
    }
}

/// `notify: NAME` names no handler.
fn unknown_handler(step: &Step, n: &str, handlers: &[Step]) -> ConfigError {
    let known: Vec<String> = handlers.iter().map(|h| format!("`{}`", h.name)).collect();
    super::at(
        step,
        format!(
            "notify: no handler named `{n}` ({})",
            if known.is_empty() {
                "there are no handlers".to_string()
            } else {
                format!("handlers: {}", known.join(", "))
            }
        ),
    )
}

/// A call's `vars:`, checked: names a variable can have, no built-in.
pub(super) fn vars_of(
    spec: &StepSpec,
    place: &Place,
) -> Result<crate::template::TemplateVars, ConfigError> {
    let mut out = crate::template::TemplateVars::new();
    let Some(vars) = &spec.vars else {
        return Ok(out);
    };
    for (k, v) in vars.value.iter() {
        if !valid_var_name(&k.value) || BUILT_INS.contains(&k.value.as_str()) {
            let msg = format!(
                "vars: `{}` is not a name a variable can have (letters, digits, `_`; not a built-in)",
                k.value
            );
            return Err(ConfigError {
                location: Some(format!(
                    "{}:{}:{}",
                    place.file.display(),
                    k.referenced.line(),
                    k.referenced.column()
                )),
                message: format!("{msg}{}", super::via(&place.chain)),
            });
        }
        out.insert(k.value.clone(), v.clone());
    }
    Ok(out)
}

/// Refuse keys a call does not take, and an operation beside `include:`/`role:`.
pub(super) fn only_keys(
    s: &Spanned<RawStep>,
    place: &Place,
    what: &str,
    allowed: &[&str],
) -> Result<(), ConfigError> {
    let spec = &s.value.spec;
    if spec.include.is_some() && spec.role.is_some() {
        return Err(call_error(
            s,
            place,
            "give either `include:` or `role:`, not both",
        ));
    }
    if let Some(op) = s.value.ops.first() {
        let msg = format!(
            "`{what}:` takes the place of an operation; this step also has `{}`",
            op.kind().as_str()
        );
        return Err(call_error(s, place, &msg));
    }
    let given = given_keys(spec);
    if let Some(bad) = given.iter().find(|k| !allowed.contains(k)) {
        let msg = format!(
            "`{bad}` does not apply to `{what}:` (it takes {})",
            allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(call_error(s, place, &msg));
    }
    Ok(())
}

/// The common keys a step gives, by name.
fn given_keys(spec: &StepSpec) -> Vec<&'static str> {
    [
        ("name", spec.name.is_some()),
        ("hosts", !spec.hosts.0.is_empty()),
        ("when", spec.when.is_some()),
        ("tags", !spec.tags.0.is_empty()),
        ("become", spec.become_root.is_some()),
        ("user", spec.user.is_some()),
        ("workdir", spec.workdir.is_some()),
        ("env", !spec.env.0.is_empty()),
        ("timeout", spec.timeout.is_some()),
        ("retries", spec.retries.is_some()),
        ("delay", spec.delay.is_some()),
        ("ignore_errors", spec.ignore_errors.is_some()),
        ("changed_when", spec.changed_when.is_some()),
        ("failed_when", spec.failed_when.is_some()),
        ("creates", spec.creates.is_some()),
        ("unless", spec.unless.is_some()),
        ("notify", !spec.notify.0.is_empty()),
        ("register", spec.register.is_some()),
        ("loop", spec.loop_items.is_some()),
        ("loop_var", spec.loop_var.is_some()),
        ("label", spec.label.is_some()),
        ("vars", spec.vars.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect()
}

/// An error at a call (`include:` or `role:` entry).
pub(super) fn call_error(s: &Spanned<RawStep>, place: &Place, msg: &str) -> ConfigError {
    ConfigError {
        location: Some(position(&place.file, s)),
        message: format!("{msg}{}", super::via(&place.chain)),
    }
}

/// `file:line:column` of an entry.
pub(super) fn position(file: &Path, s: &Spanned<RawStep>) -> String {
    format!(
        "{}:{}:{}",
        file.display(),
        s.referenced.line(),
        s.referenced.column()
    )
}

/// A file's directory.
pub(super) fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// An error inside an included file, with the chain of calls that reached it.
pub(super) fn with_chain(mut e: ConfigError, chain: &[Link]) -> ConfigError {
    e.message.push_str(&super::via(chain));
    e
}
