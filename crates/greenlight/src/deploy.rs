//! From command-line arguments to a deploy (the steps are `greenlight-deploy`'s), and `init`, which writes the rules.

use std::io::{ErrorKind, Write as _};

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
    // Never through a symbolic link, which could point anywhere, outside the repository too: a link is refused, an
    // existing file is only removed with `--force`, and the new file is created only where nothing is, so a link
    // that appears in between is not followed either.
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_else(|e| e.to_string());
            bail!(
                "{} is a symbolic link to {target}; init does not write through links, not even with \
                 --force: remove the link and run init again, or edit the file it points to",
                path.display()
            );
        }
        Ok(_) if !args.force => bail!("{} already exists; pass --force to replace it", path.display()),
        Ok(_) => std::fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?,
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            bail!("{} appeared while init ran; run init again", path.display())
        }
        Err(err) => return Err(err).with_context(|| format!("cannot write {}", path.display())),
    };
    file.write_all(TEMPLATE.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("greenlight: wrote {}", path.display());
    Ok(0)
}
