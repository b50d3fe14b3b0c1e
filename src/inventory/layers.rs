//! The inventory's one precedence rule, shared by variables, machine settings and `ssh:`
//! blocks: a machine's values come from the defaults (or the global `vars:`), then each of
//! its groups in the order it lists them, then its own entry; a value a later layer writes
//! replaces an earlier one, and every value keeps the name of the layer it came from, which
//! `inventory --explain` shows. Each merge says what a layer writes and checks it; the
//! order, the names of the layers and the bookkeeping of sources are here, once.

/// A value and the layer it came from (`vars`, `defaults`, `group web`, `machine web-1`,
/// `--var`, `built-in`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub source: String,
}

impl<T> Sourced<T> {
    /// `value` from the layer named `source`.
    pub fn new(value: T, source: &str) -> Self {
        Sourced {
            value,
            source: source.to_string(),
        }
    }
}

/// One layer of a machine's values: its name and what it writes.
#[derive(Debug, Clone)]
pub struct Layer<B> {
    /// `vars`, `defaults`, `group NAME`, `machine NAME`, ...
    pub source: String,
    /// What the layer writes.
    pub body: B,
}

impl<B> Layer<B> {
    /// The layer named `source`.
    pub fn new(source: impl Into<String>, body: B) -> Self {
        Layer {
            source: source.into(),
            body,
        }
    }
}

/// The layers of machine `machine`, lowest precedence first: `base` (the defaults or the
/// global vars) when there is one, then the layer of each of `groups` that has one, in the
/// order given (the machine's), then the machine's own when it has one.
pub fn of_machine<'g, B>(
    base: Option<Layer<B>>,
    groups: impl IntoIterator<Item = (&'g str, Option<B>)>,
    machine: &str,
    own: Option<B>,
) -> Vec<Layer<B>> {
    let mut layers: Vec<Layer<B>> = base.into_iter().collect();
    layers.extend(
        groups
            .into_iter()
            .filter_map(|(name, body)| Some(Layer::new(format!("group {name}"), body?))),
    );
    layers.extend(own.map(|body| Layer::new(format!("machine {machine}"), body)));
    layers
}

/// Lay `layers` over an empty `M`, lowest precedence first: `lay` checks what one layer
/// writes and puts it in (with [`set`] or [`Keyed::set`], so each value keeps its layer).
/// The first error ends the merge.
pub fn merge<B, M: Default, E>(
    layers: &[Layer<B>],
    mut lay: impl FnMut(&mut M, &Layer<B>) -> Result<(), E>,
) -> Result<M, E> {
    let mut merged = M::default();
    for layer in layers {
        lay(&mut merged, layer)?;
    }
    Ok(merged)
}

/// Put `value`, written in the layer named `source`, in `slot`, over what an earlier layer
/// wrote there.
pub fn set<T>(slot: &mut Option<Sourced<T>>, value: T, source: &str) {
    *slot = Some(Sourced::new(value, source));
}

/// Values by key (variables, ssh `-o` options), in the order their keys first appear: a
/// later layer's value for a key replaces the earlier one in its place, and the key takes
/// the later layer's spelling.
#[derive(Debug, Clone)]
pub struct Keyed<V> {
    entries: Vec<(String, Sourced<V>)>,
    /// Keys that differ only in case are one key (ssh option names).
    ignore_case: bool,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed {
            entries: Vec::new(),
            ignore_case: false,
        }
    }
}

impl<V> Keyed<V> {
    /// Keys that differ only in case are one key.
    pub fn ignoring_case() -> Self {
        Keyed {
            entries: Vec::new(),
            ignore_case: true,
        }
    }

    fn same(&self, a: &str, b: &str) -> bool {
        if self.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    /// `key` is `value`, written in the layer named `source`.
    pub fn set(&mut self, key: &str, value: V, source: &str) {
        let entry = (key.to_string(), Sourced::new(value, source));
        match self.entries.iter().position(|(k, _)| self.same(k, key)) {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
    }

    /// Every key with its value, in the order the keys first appeared.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sourced<V>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every key with its value, in the order the keys first appeared.
    pub fn into_entries(self) -> Vec<(String, Sourced<V>)> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machines_layers_are_base_groups_in_its_order_then_its_own() {
        let layers = of_machine(
            Some(Layer::new("defaults", 0)),
            [("db", Some(1)), ("none", None), ("web", Some(2))],
            "m1",
            Some(3),
        );
        let names: Vec<(&str, i32)> = layers.iter().map(|l| (l.source.as_str(), l.body)).collect();
        assert_eq!(
            names,
            [
                ("defaults", 0),
                ("group db", 1),
                ("group web", 2),
                ("machine m1", 3)
            ]
        );
        let bare = of_machine::<i32>(None, [("g", None)], "m1", None);
        assert!(bare.is_empty());
    }

    #[test]
    fn a_later_layer_wins_and_each_value_keeps_its_source() {
        #[derive(Default)]
        struct M {
            cpus: Option<Sourced<u32>>,
            disk: Option<Sourced<u32>>,
        }
        let layers = of_machine(
            Some(Layer::new("defaults", (Some(1), Some(10)))),
            [("web", Some((Some(2), None)))],
            "m1",
            Some((None, None)),
        );
        let m: M = merge(&layers, |m: &mut M, l| {
            if let Some(c) = l.body.0 {
                set(&mut m.cpus, c, &l.source);
            }
            if let Some(d) = l.body.1 {
                set(&mut m.disk, d, &l.source);
            }
            Ok::<_, String>(())
        })
        .unwrap();
        assert_eq!(m.cpus, Some(Sourced::new(2, "group web")));
        assert_eq!(m.disk, Some(Sourced::new(10, "defaults")));
    }

    #[test]
    fn the_first_error_ends_the_merge() {
        let layers = vec![Layer::new("a", 1), Layer::new("b", -1), Layer::new("c", -2)];
        let mut seen = Vec::new();
        let r: Result<Keyed<i32>, String> = merge(&layers, |_, l| {
            seen.push(l.source.clone());
            if l.body < 0 {
                Err(format!("{}: negative", l.source))
            } else {
                Ok(())
            }
        });
        assert_eq!(r.err().as_deref(), Some("b: negative"));
        assert_eq!(seen, ["a", "b"]);
    }

    #[test]
    fn keyed_values_keep_their_first_place_and_take_the_last_value() {
        let mut k = Keyed::default();
        k.set("a", 1, "vars");
        k.set("b", 2, "vars");
        k.set("a", 3, "machine m1");
        k.set("A", 4, "--var");
        let all: Vec<(&str, i32, &str)> = k
            .iter()
            .map(|(key, v)| (key, v.value, v.source.as_str()))
            .collect();
        assert_eq!(
            all,
            [("a", 3, "machine m1"), ("b", 2, "vars"), ("A", 4, "--var")]
        );

        let mut o = Keyed::ignoring_case();
        o.set("ServerAliveInterval", "5", "group g");
        o.set("Compression", "yes", "group g");
        o.set("serveraliveinterval", "9", "machine m1");
        let entries = o.into_entries();
        assert_eq!(entries[0].0, "serveraliveinterval");
        assert_eq!(entries[0].1, Sourced::new("9", "machine m1"));
        assert_eq!(entries[1].0, "Compression");
    }
}
