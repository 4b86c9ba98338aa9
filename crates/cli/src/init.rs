//! `holdpoint init`.

use std::fs::DirBuilder;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::home::Home;

pub fn run(home: &Home, profile: &str) -> Result<u8> {
    for dir in [&home.config, &home.policies_dir(), &home.state] {
        make_private_dir(dir)?;
    }
    if holdpoint_proxy::Ca::create(&home.state)? {
        println!(
            "made the local CA for TLS interception: {} (agents trust it; see `holdpoint ca export`)",
            home.state.join(holdpoint_proxy::CA_CERT_FILE).display()
        );
    }
    let path = home.config_file();
    if path.exists() {
        let config = home.load_config()?;
        if config.profile.as_str() != profile && profile != "guarded" {
            bail!(
                "{} already exists with profile {:?}; edit its `profile` line to change it",
                path.display(),
                config.profile.as_str()
            );
        }
        println!("{} already exists; left as it is", path.display());
    } else {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(default_config(profile).as_bytes())?;
        println!("wrote {} (profile {profile})", path.display());
    }
    println!("config: {}\nstate:  {}", home.config.display(), home.state.display());
    Ok(0)
}

fn make_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))
}

/// The file `init` writes: the profile, and every other key at its default, commented out.
pub fn default_config(profile: &str) -> String {
    format!(
        r#"# Holdpoint configuration. Every key below is optional; commented lines show the defaults.
profile = "{profile}"            # guarded | strict | observe
# hold_wait = "20s"            # how long a hook or proxy keeps the agent waiting for a decision
# hold_prompt = "holdpoint"    # holdpoint | agent
# store = "sqlite"             # or "postgres://user@host/db" for teams

# [git]
# protected_branches = ["main", "master", "release/*", "prod*"]

# [api]
# listen = "127.0.0.1:8787"

# [proxy]
# listen = "127.0.0.1:8788"
# passthrough = ["api.anthropic.com"]
# unknown_hosts = "allow"      # allow | hold | deny
# max_body = "1MiB"

# [[hosts]]
# match = "*.railway.app"
# tags = ["production"]
"#
    )
}
