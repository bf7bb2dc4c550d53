//! The commit-msg hook: installing it, and judging a message when git runs it.

use std::path::Path;

use anyhow::{Context as _, bail};
use greenlight_git::Repo;

use crate::cli::{CommitMsgArgs, HookInstallArgs};
use greenlight_deploy::load_config;

/// Marks a hook as ours, so that reinstalling updates it and anything else is left alone.
const MARKER: &str = "# greenlight commit-msg hook";

fn script(exe: &Path) -> String {
    let exe = exe.display().to_string().replace('\'', r"'\''");
    format!(
        r#"#!/bin/sh
{MARKER}: the message must name an issue key.
# Installed by `greenlight hook install`; the rules are [keys] and [checks.commit-keys] in greenlight.toml.
greenlight='{exe}'
if [ ! -x "$greenlight" ]; then
  greenlight=$(command -v greenlight) || {{
    echo "greenlight commit-msg hook: greenlight is not installed; the message was not checked" >&2
    exit 0
  }}
fi
exec "$greenlight" hook commit-msg "$1"
"#
    )
}

pub fn install(args: &HookInstallArgs) -> anyhow::Result<u8> {
    let repo = Repo::discover(&args.repo)?;
    if repo.workdir().is_none() {
        bail!(
            "{} is a bare repository: git never runs a commit-msg hook there, as nobody commits in it",
            args.repo.display()
        );
    }
    let dir = repo.hooks_dir();
    let path = dir.join("commit-msg");
    let exe = std::env::current_exe().context("cannot find greenlight's own path")?;
    let existing = std::fs::read(&path).ok();
    let ours = existing.as_deref().is_some_and(|text| String::from_utf8_lossy(text).contains(MARKER));
    if existing.is_some() && !ours {
        if !args.force {
            bail!(
                "{} already exists and greenlight did not write it; merge it by hand, or pass --force to replace it (the old hook is kept as commit-msg.backup)",
                path.display()
            );
        }
        let backup = dir.join("commit-msg.backup");
        std::fs::rename(&path, &backup)
            .with_context(|| format!("cannot move {} to {}", path.display(), backup.display()))?;
        eprintln!("greenlight: kept the previous hook as {}", backup.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, script(&exe)).with_context(|| format!("cannot write {}", path.display()))?;
    make_executable(&path)?;
    eprintln!("greenlight: {} {}", if ours { "updated" } else { "installed" }, path.display());
    Ok(0)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

pub fn commit_msg(args: &CommitMsgArgs) -> anyhow::Result<u8> {
    let repo = Repo::discover(&args.repo)?;
    let config = load_config(&repo, None)?;
    if !config.commit_keys.enabled() {
        return Ok(0);
    }
    let message =
        std::fs::read(&args.file).with_context(|| format!("cannot read the commit message {}", args.file.display()))?;
    let message = String::from_utf8_lossy(&message);
    let merging = repo.git_dir().join("MERGE_HEAD").exists();
    let comment = repo.comment_string();
    match config.commit_keys.judge_message(&message, &config.keys, merging, comment.as_deref()) {
        Ok(()) => Ok(0),
        Err(rejection) => {
            // Absolute: git runs the hook at the top of the working tree, and people commit from anywhere in it.
            let kept = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
            eprintln!("greenlight: {}", rejection.kept_in(&kept.display().to_string()));
            Ok(1)
        }
    }
}
