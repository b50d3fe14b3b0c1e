//! The probe library (`probe_lib.sh`): shell functions that orbdeploy's probe requests
//! ([`super::Exec::probe`]) call, which every transport defines before them — the channel
//! agent once per session, the one-shot path in front of each probe — and the compaction
//! of orbdeploy's own scripts as they are sent.

/// The probe library, as sent ([`compact`]).
pub fn probe_lib() -> &'static str {
    static LIB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIB.get_or_init(|| compact(include_str!("probe_lib.sh")))
}

/// Shell source as sent to a machine: without its comment lines, blank lines and
/// indentation, which the login shell and `sh` would otherwise copy and scan on every
/// session (half of the agent's 20 KB). Only for orbdeploy's own scripts, none of which has
/// a blank line, a line starting with `#` or leading blanks that matter inside a string.
pub fn compact(source: &str) -> String {
    let mut out = String::with_capacity(source.len() / 2);
    for line in source.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact library defines what the source defines, with the same values: every
    /// function, the newline in `__od_nl`, the scan's awk program.
    #[test]
    fn compact_library_defines_the_same_things() {
        let names = |lib: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{lib}\nfor f in $(sed -n 's/^ *\\(__od_[a-z0-9_]*\\)() .*/\\1/p' \"$0\"); do command -v \"$f\" >/dev/null || echo \"missing $f\"; done; printf '%s' \"$__od_nl\" | od -An -c; printf '%s' \"$__od_scan_awk\" | awk -f - </dev/null && echo awk-ok"
                ))
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/src/remote/probe_lib.sh"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let source = include_str!("probe_lib.sh");
        assert!(probe_lib().len() < source.len() * 2 / 3);
        let compact = names(probe_lib());
        assert_eq!(compact, names(source));
        assert!(!compact.contains("missing"), "{compact}");
        assert!(
            compact.contains("\\n") && compact.contains("awk-ok"),
            "{compact}"
        );
    }
}
