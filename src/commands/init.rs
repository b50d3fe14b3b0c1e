//! `orbdeploy init [DIR]`: a small, commented starting point that `plan` accepts at once —
//! an inventory, an operations file with steps and a handler, a template and a role. It
//! writes nothing over an existing file: a directory that already has one of them is
//! exit 2, naming it, and nothing is written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::ConfigError;

/// The files, by path relative to the directory, and their text.
const FILES: [(&str, &str); 6] = [
    ("inventory.yaml", include_str!("init/inventory.yaml")),
    ("site.yaml", include_str!("init/site.yaml")),
    ("templates/motd.j2", include_str!("init/templates/motd.j2")),
    (
        "roles/web/steps.yaml",
        include_str!("init/roles/web/steps.yaml"),
    ),
    (
        "roles/web/defaults.yaml",
        include_str!("init/roles/web/defaults.yaml"),
    ),
    (
        "roles/web/handlers.yaml",
        include_str!("init/roles/web/handlers.yaml"),
    ),
];

/// Write the starting point into `dir` (made when missing) and say what to run next.
pub fn init(dir: &Path) -> Result<()> {
    let targets: Vec<(PathBuf, &str)> = FILES
        .iter()
        .map(|(rel, text)| (dir.join(rel), *text))
        .collect();
    if let Some((taken, _)) = targets.iter().find(|(p, _)| p.exists()) {
        return Err(ConfigError::plain(format!(
            "init: {} exists already; nothing was written (choose an empty directory: `orbdeploy init DIR`)",
            taken.display()
        ))
        .into());
    }
    for (path, text) in &targets {
        crate::report::write_atomic(path, text.as_bytes())
            .with_context(|| format!("init: cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let inv = dir.join("inventory.yaml");
    let inv = inv.display();
    println!("\nNext:");
    println!("  orbdeploy plan {inv}          # what apply would do, changing nothing");
    println!("  orbdeploy apply {inv}         # create web-1 and apply site.yaml");
    println!("  orbdeploy plan {inv} --diff   # after an edit: what would change, line by line");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starting_point_loads_and_plans_without_a_mistake() {
        let dir = tempfile::tempdir().expect("tempdir");
        init(dir.path()).expect("init");
        let inv =
            crate::inventory::load(&dir.path().join("inventory.yaml"), &[]).expect("inventory");
        let renderer = crate::template::Renderer::new();
        let book = crate::steps::load(&inv, &renderer).expect("steps");
        assert_eq!(book.steps.len(), 4, "two steps and the role's two");
        assert_eq!(book.handlers.len(), 2);
        let plan = crate::plan::select(&inv, &book, (&[], None), &[]).expect("plan");
        crate::plan::validate(&plan, &book, &renderer).expect("every step renders");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("site.yaml"), "mine\n").expect("write");
        let err = init(dir.path()).expect_err("refused");
        assert!(
            err.to_string().contains("site.yaml exists already"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("site.yaml")).unwrap_or_default(),
            "mine\n"
        );
        assert!(
            !dir.path().join("inventory.yaml").exists(),
            "nothing written"
        );
    }
}
