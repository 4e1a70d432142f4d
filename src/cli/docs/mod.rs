//! Owns the generated documentation: `svctl(1)` and a page per command (from the clap
//! definitions), `svctl-ecosystem(5)` (from the loader's table of fields), `svctl-database(5)`
//! (from docs/SCHEMA.md) and the shell completions. None can drift: a test compares them with
//! the committed files, and others check references, examples and coverage.

mod commands;
mod database;
mod ecosystem;
mod roff;
#[cfg(test)]
mod tests;

use super::args::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io;
use std::path::{Path, PathBuf};

/// The generated files, as (path relative to the repository root, contents).
pub fn generate() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    let mut man = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut man)?;
    man.extend_from_slice(
        roff::see_also(&[
            "svctl-ecosystem(5)",
            "svctl-database(5)",
            "systemd.service(5)",
        ])
        .as_bytes(),
    );
    out.push(("man/svctl.1".to_string(), man));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push((
            format!("man/svctl-{}.1", sub.get_name()),
            commands::page(sub)?,
        ));
    }
    out.push(("man/svctl-ecosystem.5".to_string(), ecosystem::page()));
    out.push(("man/svctl-database.5".to_string(), database::page()));
    for (shell, file) in [
        (Shell::Bash, "completions/svctl.bash"),
        (Shell::Zsh, "completions/_svctl"),
        (Shell::Fish, "completions/svctl.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "svctl", &mut buf);
        out.push((file.to_string(), buf));
    }
    Ok(out)
}

/// Writes the generated files under `root`; returns their paths.
pub fn write_all(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, bytes) in generate()? {
        let path = root.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}
