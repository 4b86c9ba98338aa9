//! What a finding is: a closed set of secret kinds, each with a stable name used in output.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a secret. The names (`Kind::name`, also the serde form) are stable: scripts and
/// `holdpoint scan --json` consumers match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKeyId,
    /// An AWS secret access key (40 characters, named as such).
    AwsSecretAccessKey,
    /// A Google Cloud service-account key file (`private_key` beside `client_email`).
    GcpServiceAccount,
    /// A GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// A GitLab token (`glpat-` and the other `gl…-` prefixes).
    GitlabToken,
    /// A Slack token (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`).
    SlackToken,
    /// A Slack incoming-webhook or workflow URL.
    SlackWebhook,
    /// A Stripe live secret or restricted key (`sk_live_`, `rk_live_`).
    StripeKey,
    /// An OpenAI API key (`sk-proj-`, `sk-svcacct-`, `sk-admin-`, legacy `sk-`).
    OpenaiKey,
    /// An Anthropic API key (`sk-ant-`).
    AnthropicKey,
    /// A Railway API or project token (a UUID, recognised by its variable name).
    RailwayToken,
    /// A Vercel token (`vcp_`, `vci_`, `vca_`, `vcr_`, `vck_`, or a legacy token by name).
    VercelToken,
    /// A Supabase secret (`sbp_`, `sb_secret_`, a `service_role` JWT).
    SupabaseKey,
    /// A Fly.io token (`fo1_`, `fm1a_`, `fm1r_`, `fm2_`).
    FlyToken,
    /// An npm access token (`npm_`).
    NpmToken,
    /// A PyPI upload token (`pypi-`).
    PypiToken,
    /// A JSON Web Token.
    Jwt,
    /// A private key (PEM block, base64-encoded PEM, age secret key).
    PrivateKey,
    /// A database or queue connection URL with a password in it.
    ConnectionUrl,
    /// A password in a `.netrc`-style `login … password …` entry.
    NetrcPassword,
    /// A registry credential in a Docker `config.json` (`"auth": base64(user:password)`).
    DockerAuth,
    /// A high-entropy value assigned to a `*_KEY`, `*_TOKEN`, `*_SECRET` or `*PASSWORD*` name,
    /// or sent in an `Authorization` header.
    GenericSecret,
}

impl Kind {
    /// Every kind, in output order.
    pub const ALL: &'static [Kind] = &[
        Kind::AwsAccessKeyId,
        Kind::AwsSecretAccessKey,
        Kind::GcpServiceAccount,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::SlackToken,
        Kind::SlackWebhook,
        Kind::StripeKey,
        Kind::OpenaiKey,
        Kind::AnthropicKey,
        Kind::RailwayToken,
        Kind::VercelToken,
        Kind::SupabaseKey,
        Kind::FlyToken,
        Kind::NpmToken,
        Kind::PypiToken,
        Kind::Jwt,
        Kind::PrivateKey,
        Kind::ConnectionUrl,
        Kind::NetrcPassword,
        Kind::DockerAuth,
        Kind::GenericSecret,
    ];

    /// The stable name, e.g. `aws-access-key-id`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::AwsAccessKeyId => "aws-access-key-id",
            Kind::AwsSecretAccessKey => "aws-secret-access-key",
            Kind::GcpServiceAccount => "gcp-service-account",
            Kind::GithubToken => "github-token",
            Kind::GitlabToken => "gitlab-token",
            Kind::SlackToken => "slack-token",
            Kind::SlackWebhook => "slack-webhook",
            Kind::StripeKey => "stripe-key",
            Kind::OpenaiKey => "openai-key",
            Kind::AnthropicKey => "anthropic-key",
            Kind::RailwayToken => "railway-token",
            Kind::VercelToken => "vercel-token",
            Kind::SupabaseKey => "supabase-key",
            Kind::FlyToken => "fly-token",
            Kind::NpmToken => "npm-token",
            Kind::PypiToken => "pypi-token",
            Kind::Jwt => "jwt",
            Kind::PrivateKey => "private-key",
            Kind::ConnectionUrl => "connection-url",
            Kind::NetrcPassword => "netrc-password",
            Kind::DockerAuth => "docker-auth",
            Kind::GenericSecret => "generic-secret",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| format!("unknown secret kind {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_stable_names() {
        for kind in Kind::ALL {
            let json = serde_json::to_string(kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(kind.name().parse::<Kind>(), Ok(*kind));
        }
    }
}
