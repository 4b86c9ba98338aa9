//! A project's `.holdpoint.toml` (in the workspace root). It may only tighten the user's
//! policy: add holds and denies, protected branches, host tags, or ask for `strict`.

use serde::Deserialize;
use toml::Spanned;

use crate::config::{HostTags, RawGit, toml_error};
use crate::{Engine, Error, Located, PolicyFile};

/// The file name looked for in the workspace root.
pub const FILE_NAME: &str = ".holdpoint.toml";

/// A parsed project file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Project {
    /// Whether the project asks for the `strict` profile.
    pub strict: bool,
    /// Branches added to the user's protected branches.
    pub protected_branches: Vec<String>,
    /// Tags added for HTTP hosts.
    pub hosts: Vec<HostTags>,
    /// The project's Cedar policies, as a file whose lines match the project file's.
    policies: Option<PolicyFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    profile: Option<Spanned<String>>,
    git: Option<RawGit>,
    #[serde(default)]
    hosts: Vec<HostTags>,
    policies: Option<Spanned<String>>,
}

impl Project {
    /// Parse a project file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Project, Error> {
        let raw: Raw = toml::from_str(text).map_err(|e| toml_error(file, text, &e, Error::Project))?;
        let strict = match &raw.profile {
            None => false,
            Some(p) if p.get_ref() == "strict" => true,
            Some(p) => {
                let msg = format!(
                    "a project file may only tighten the policy: profile {:?} is not allowed here (only \"strict\")",
                    p.get_ref()
                );
                return Err(Error::Project(Located::at(file, text, p.span().start, msg)));
            }
        };
        let policies = raw.policies.map(|p| {
            // Pad with the lines before the string so Cedar's positions are the file's lines.
            let line = Located::at(file, text, p.span().start, "").line;
            let body = p.get_ref();
            let skip = usize::from(
                !text.get(p.span().start..).is_some_and(|s| s.starts_with("'''\n") || s.starts_with("\"\"\"\n")),
            );
            PolicyFile::new(file, format!("{}{}", "\n".repeat(line.saturating_sub(skip)), body))
        });
        Ok(Project {
            strict,
            protected_branches: raw.git.map(|g| g.protected_branches).unwrap_or_default(),
            hosts: raw.hosts,
            policies,
        })
    }

    /// Add this project's rules to an engine; on error the engine is unchanged in what it allows.
    pub fn tighten(&self, engine: &mut Engine) -> Result<(), Error> {
        if self.strict {
            engine.add_strict()?;
        }
        match &self.policies {
            Some(file) => engine.add_project_file(file),
            None => Ok(()),
        }
    }
}
