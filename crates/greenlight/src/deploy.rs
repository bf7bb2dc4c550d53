//! From command-line arguments to a deploy (the steps are `greenlight-deploy`'s), and `init`, which writes the rules.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use greenlight_checks::TEMPLATE;
use greenlight_deploy::{CONFIG_FILE, Deploy, load_config};
use greenlight_git::Repo;

use crate::cli::{InitArgs, RangeArgs};

pub fn load(args: &RangeArgs) -> anyhow::Result<Deploy> {
    let repo = Repo::discover(&args.repo)?;
    let config = load_config(&repo, args.config.as_deref())?;
    Ok(Deploy::new(&repo, config, args.from.as_deref(), &args.to)?)
}

pub fn init(args: &InitArgs) -> anyhow::Result<u8> {
    let root: PathBuf = match Repo::discover(&args.repo) {
        Ok(repo) => repo.workdir().map_or_else(|| args.repo.clone(), Path::to_owned),
        Err(_) => args.repo.clone(),
    };
    let path = root.join(CONFIG_FILE);
    if path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it", path.display());
    }
    std::fs::write(&path, TEMPLATE).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("greenlight: wrote {}", path.display());
    Ok(0)
}
