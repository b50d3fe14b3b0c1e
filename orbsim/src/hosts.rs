//! `NAME.orb.local` inside machines, as on OrbStack (docs/orbctl.md §5.3, §11.4): every running
//! machine of a state home finds every other one (and itself) by name. orbsim keeps a
//! marked block in each running machine's `/etc/hosts`, rewritten — temp file and rename,
//! so a reader never sees half a file — whenever the set of running machines changes
//! (start, stop, create, delete, rename). Lines a user adds outside the block are kept.
//! A machine without an address of its own (`ORBSIM_NETWORK=host`) has no entry.

use crate::state::State;

const BEGIN: &str =
    "# orbsim: NAME.orb.local of the running machines (rewritten at every start and stop)";
const END: &str = "# orbsim: end of NAME.orb.local";

/// (name, address, init pid) of every running machine with an address, by name.
pub fn running(state: &State) -> Vec<(String, String, i32)> {
    let mut out: Vec<(String, String, i32)> = state
        .machines
        .iter()
        .filter(|m| m.is_running())
        .filter_map(|m| Some((m.name.clone(), m.ip4.clone()?, m.init_pid?)))
        .collect();
    out.sort();
    out
}

/// The block for a set of machines.
fn block(machines: &[(String, String, i32)]) -> String {
    let mut text = format!("{BEGIN}\n");
    for (name, ip, _) in machines {
        text.push_str(&format!("{ip}\t{name}.orb.local\n"));
    }
    text.push_str(END);
    text.push('\n');
    text
}

/// A hosts file with its orbsim block replaced.
fn with_block(current: &str, block: &str) -> String {
    let mut kept = String::new();
    let mut inside = false;
    for line in current.lines() {
        match line {
            BEGIN => inside = true,
            END => inside = false,
            _ if !inside => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => {}
        }
    }
    kept + block
}

/// Rewrite the block in every running machine (best effort: a machine whose /etc cannot be
/// written keeps its old names).
pub fn refresh(machines: &[(String, String, i32)]) {
    let text = block(machines);
    for (_, _, pid) in machines {
        let etc = format!("/proc/{pid}/root/etc");
        let current = std::fs::read_to_string(format!("{etc}/hosts")).unwrap_or_default();
        let new = with_block(&current, &text);
        if new == current {
            continue;
        }
        let tmp = format!("{etc}/.hosts.orbsim-{}", std::process::id());
        if std::fs::write(&tmp, new).is_err()
            || std::fs::rename(&tmp, format!("{etc}/hosts")).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_replaced_and_user_lines_kept() {
        let machines = vec![("a".to_string(), "198.19.249.2".to_string(), 1)];
        let first = with_block("127.0.0.1\tlocalhost\n", &block(&machines));
        assert!(first.contains("198.19.249.2\ta.orb.local\n"));
        let edited = format!("{first}10.0.0.9\tmine\n");
        let second = with_block(&edited, &block(&[]));
        assert_eq!(
            second,
            format!("127.0.0.1\tlocalhost\n10.0.0.9\tmine\n{BEGIN}\n{END}\n")
        );
    }
}
