//! From command-line arguments to a deploy (the steps are `greenlight-deploy`'s), and `init`, which writes the rules.

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
    let repo = Repo::discover(&args.repo)?;
    let Some(root) = repo.workdir() else {
        bail!(
            "{} is a bare repository: greenlight.toml belongs in a working tree, where it is committed with the code",
            args.repo.display()
        );
    };
    let path = root.strip_prefix(".").unwrap_or(root).join(CONFIG_FILE);
    if path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it", path.display());
    }
    std::fs::write(&path, TEMPLATE).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("greenlight: wrote {}", path.display());
    Ok(0)
}
