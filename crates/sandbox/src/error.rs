//! The sandbox's one error type.

use std::path::PathBuf;

/// Why a sandbox did not start, or why its command did not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel or its configuration does not give the isolation the sandbox needs (user,
    /// mount, pid or network namespaces). `holdpoint run --dangerously-weaker` runs without it.
    #[error(
        "{what} is not available here ({why}). Without it the sandbox can neither hide files nor cut the network. \
         Allow unprivileged user namespaces (sysctl user.max_user_namespaces=10000; on Debian \
         kernel.unprivileged_userns_clone=1; on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0, or an \
         AppArmor profile for holdpoint), or run with --dangerously-weaker to get Landlock and seccomp only"
    )]
    Isolation {
        /// What is missing, in plain words.
        what: String,
        /// The system's answer.
        why: String,
    },
    /// What was asked cannot be given safely (for instance a workspace that contains the home
    /// directory, or a path that is a symlink where a mount must go).
    #[error("{path}: {why}")]
    Refused {
        /// The path at fault.
        path: PathBuf,
        /// Why, and what to do instead.
        why: String,
    },
    /// Building the sandbox failed.
    #[error("could not set up the sandbox: {0}")]
    Setup(String),
    /// What the caller had to do before the command may start (see [`crate::run_with_env`])
    /// failed; the command did not run.
    #[error("{0}")]
    Prepare(String),
    /// The command could not be started inside the sandbox; `status` is what a shell would
    /// exit with (126 not executable, 127 not found).
    #[error("{message}")]
    Command {
        /// What went wrong.
        message: String,
        /// The exit status to report.
        status: u8,
    },
}

impl Error {
    pub(crate) fn setup(what: impl std::fmt::Display, why: impl std::fmt::Display) -> Error {
        Error::Setup(format!("{what}: {why}"))
    }
}
