//! Owns the generated documentation: the man page and shell completions, both derived from the
//! clap definitions so they cannot drift (a test compares them with the committed files).

use super::args::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io;
use std::path::{Path, PathBuf};

/// The generated files, as (path relative to the repository root, contents).
pub fn generate() -> io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let mut man = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut man)?;
    out.push(("man/svctl.1".to_string(), man));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_man_page_and_completions_are_current() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (rel, bytes) in generate().unwrap() {
            let committed = std::fs::read(root.join(&rel)).unwrap_or_default();
            assert!(
                committed == bytes,
                "{rel} is stale: run `cargo run -- gen-docs` and commit the result"
            );
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
