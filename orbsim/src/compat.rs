//! `ORBSIM_COMPAT`: switches back to orbsim's earlier behaviour where it now follows what
//! third-party OrbStack clients report (docs/orbctl.md §12, \[3P\]: none of it was checked
//! on a Mac). If a real Mac shows a report wrong, a user can get the other behaviour
//! without a new orbsim.

/// The behaviours `ORBSIM_COMPAT` (comma-separated) switches back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compat {
    /// `nohup-survives`: background processes of a `run` session outlive it (§12.10).
    pub nohup_survives: bool,
    /// `tmp-survives`: the machine's `/tmp` is kept across starts and clones (§12.9).
    pub tmp_survives: bool,
    /// `clone-no-pause`: `clone` copies a running source without freezing it (§12.3).
    pub clone_no_pause: bool,
    /// `home-optional`: orbctl works without `HOME` (§12.6).
    pub home_optional: bool,
}

impl Compat {
    /// Read `ORBSIM_COMPAT` (read where each behaviour is decided; unknown entries are
    /// reported once, by [`Compat::report_unknown`]).
    pub fn from_env() -> Compat {
        Compat::parse(&std::env::var("ORBSIM_COMPAT").unwrap_or_default()).0
    }

    /// Say on stderr which entries of `ORBSIM_COMPAT` are not known (they are ignored).
    pub fn report_unknown() {
        let spec = std::env::var("ORBSIM_COMPAT").unwrap_or_default();
        for item in Compat::parse(&spec).1 {
            eprintln!("orbsim: ignoring unknown ORBSIM_COMPAT entry `{item}`");
        }
    }

    /// Parse the comma-separated list: the switches, and the entries not known.
    pub fn parse(spec: &str) -> (Compat, Vec<String>) {
        let mut c = Compat::default();
        let mut unknown = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "nohup-survives" => c.nohup_survives = true,
                "tmp-survives" => c.tmp_survives = true,
                "clone-no-pause" => c.clone_no_pause = true,
                "home-optional" => c.home_optional = true,
                _ => unknown.push(item.to_string()),
            }
        }
        (c, unknown)
    }
}

/// What orbctl does without `HOME` (§12.6, \[3P\]: "orbctl panics when HOME is unset"): a Go
/// panic, exit 2 (§1.1). \[GUESS\] the words: Go's `os.UserHomeDir` error, panicked on.
/// `None` when `HOME` is set (Go treats an empty one as unset) or the switch is on.
pub fn home_panic(compat: Compat) -> Option<i32> {
    let set = std::env::var_os("HOME").is_some_and(|h| !h.is_empty());
    if set || compat.home_optional {
        return None;
    }
    eprintln!(
        "panic: $HOME is not defined\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/scon/cmd/scli/main.go +0x1d4"
    );
    Some(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_switch() {
        let (c, unknown) =
            Compat::parse("nohup-survives, tmp-survives,clone-no-pause,home-optional");
        assert!(c.nohup_survives && c.tmp_survives && c.clone_no_pause && c.home_optional);
        assert!(unknown.is_empty());
        assert_eq!(
            Compat::parse("bogus"),
            (Compat::default(), vec!["bogus".to_string()])
        );
        assert!(!Compat::parse("tmp-survives").0.nohup_survives);
    }
}
