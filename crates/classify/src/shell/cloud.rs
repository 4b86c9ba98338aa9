//! Cloud and platform CLIs, and HTTP clients: deleting resources, turning off safeguards,
//! widening access.

use holdpoint_core::{Reversibility, Scope, Target, TargetKind, Verb};

use super::effect;
use super::walk::Walker;
use super::words::Arg;

const CLIS: &[&str] = &[
    "aws",
    "gcloud",
    "gsutil",
    "bq",
    "az",
    "doctl",
    "flyctl",
    "fly",
    "railway",
    "vercel",
    "netlify",
    "heroku",
    "supabase",
    "firebase",
    "gh",
    "glab",
    "stripe",
    "wrangler",
    "cloudflared",
    "linode-cli",
    "hcloud",
    "oci",
    "ibmcloud",
    "scw",
    "pscale",
    "neonctl",
    "turso",
    "atlas",
    "aliyun",
    "openstack",
    "vultr-cli",
    "render",
    "upstash",
    "exo",
    "s3cmd",
    "rclone",
    "mc",
    "gcutil",
    "eksctl",
    "ecs-cli",
    "sam",
    "amplify",
    "copilot",
    "serverless",
    "sls",
    "doppler",
    "vault",
    "deck",
    "apigeecli",
    "gitlab-rails",
    "gitlab-rake",
    "gitlab-ctl",
    "kong",
    "konnect",
    "fastly",
    "akamai",
    "launchdarkly",
    "ldcli",
    "auth0",
    "okta",
    "twilio",
    "sendgrid",
    "mailgun",
    "algolia",
    "contentful",
    "sanity",
    "shopify",
    "pulumi-service",
];

/// Words that name a destructive subcommand (whole word, or the start of `delete-bucket`).
const DELETE_PREFIXES: &[&str] = &[
    "delete",
    "destroy",
    "terminate",
    "remove",
    "purge",
    "drop",
    "deregister",
    "deprovision",
    "wipe",
    "erase",
    "nuke",
    "uninstall",
    "decommission",
    "disable",
];
const DELETE_WORDS: &[&str] = &[
    "rm",
    "rb",
    "reset",
    "prune",
    "del",
    "down",
    "rmdir",
    "cleanup",
    "truncate",
    "revoke",
    "cancel",
    "archive",
    "restore",
    "destroy_all",
    "delete_all",
];

pub(crate) fn is_cloud_cli(name: &str) -> bool {
    CLIS.contains(&name)
}

pub(crate) fn cloud(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    let positionals: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| !t.starts_with('-')).take(5).collect();
    let id = format!("{name} {}", positionals.join(" "));
    let words = || positionals.iter().flat_map(|p| p.split([':', '.']));
    let flags: Vec<&str> = args.iter().map(|a| a.text.as_str()).filter(|t| t.starts_with('-')).collect();
    let push = |w: &mut Walker<'_>, verb, rule: &str, why: &str| {
        let rev = if verb == Verb::Delete { Reversibility::Irreversible } else { Reversibility::Reversible };
        w.push(effect(verb, Target::new(TargetKind::Cloud, id.clone()), rev, Scope::Remote, rule, why));
    };
    if (name == "gh" || name == "glab")
        && let Some(m) = method(args)
    {
        if m.eq_ignore_ascii_case("DELETE") {
            push(w, Verb::Delete, "cloud-api-delete", "an API call with method DELETE");
        }
        return;
    }
    if disables_safeguard(&positionals, &flags, args) {
        push(
            w,
            Verb::Disable,
            "cloud-disable-safeguard",
            "turns off deletion protection, versioning or a similar safeguard",
        );
    }
    if widens_access(&positionals, args) {
        push(w, Verb::Grant, "cloud-widen-access", "widens IAM access");
    }
    let destructive = words().any(|word| {
        let lower = word.to_ascii_lowercase();
        DELETE_WORDS.contains(&lower.as_str()) || DELETE_PREFIXES.iter().any(|p| lower.starts_with(p))
    });
    let sync_delete = positionals.contains(&"sync") && flags.iter().any(|f| f.starts_with("--delete"));
    let batch_delete =
        args.iter().any(|a| a.text.replace([' ', '\n'], "").to_ascii_uppercase().contains("\"ACTION\":\"DELETE\""));
    let code_delete = args
        .iter()
        .any(|a| a.text.contains(".destroy_all") || a.text.contains(".delete_all") || a.text.contains(".destroy!"));
    let destructive = destructive || batch_delete || code_delete;
    if destructive || sync_delete {
        push(w, Verb::Delete, "cloud-delete", "deletes cloud resources or data");
    }
}

fn disables_safeguard(positionals: &[&str], flags: &[&str], args: &[Arg]) -> bool {
    let text: Vec<String> = args.iter().map(|a| a.text.to_ascii_lowercase()).collect();
    flags.iter().any(|f| {
        matches!(*f, "--no-deletion-protection" | "--no-enable-deletion-protection" | "--deletion-protection=false")
    }) || text.iter().any(|t| {
        t.contains("status=suspended")
            || t.contains("deletionprotection=false")
            || t.contains("\"status\":\"suspended\"")
    }) || positionals
        .iter()
        .any(|p| p.starts_with("put-object-lock") || p.starts_with("delete-bucket-lifecycle") || *p == "liens")
}

fn widens_access(positionals: &[&str], args: &[Arg]) -> bool {
    let admin = args.iter().any(|a| {
        let t = a.text.to_ascii_lowercase();
        t.contains("administratoraccess")
            || t.contains("roles/owner")
            || t.contains("roles/editor")
            || t.contains("\"action\":\"*\"")
            || t.contains("iamfullaccess")
    });
    let attaching = positionals.iter().any(|p| {
        p.starts_with("attach-")
            || p.starts_with("put-")
            || p.starts_with("add-iam-policy-binding")
            || *p == "set-iam-policy"
            || *p == "create-role-assignment"
    });
    admin && attaching
}

fn method(args: &[Arg]) -> Option<String> {
    args.windows(2)
        .find_map(|p| match p {
            [flag, value] if matches!(flag.text.as_str(), "-X" | "--method" | "--request") => Some(value.text.clone()),
            _ => None,
        })
        .or_else(|| {
            args.iter().find_map(|a| {
                a.text.strip_prefix("--method=").or_else(|| a.text.strip_prefix("--request=")).map(str::to_owned)
            })
        })
        .or_else(|| args.iter().find_map(|a| a.text.strip_prefix("-X").filter(|m| !m.is_empty()).map(str::to_owned)))
}

/// The flags of curl and wget that send a literal body (curl `-d @file` names a file instead).
const BODY_FLAGS: &[&str] =
    &["-d", "--data", "--data-binary", "--data-raw", "--data-ascii", "--json", "--post-data", "--body-data"];

/// curl or wget with a literal URL: the request it sends, classified by the HTTP classifier
/// (the rules the egress proxy uses: GraphQL mutations, provider REST deletes, AWS, ...). A
/// body read from a file is not known here and is left out (the proxy sees it whole).
fn as_http_request(w: &mut Walker<'_>, name: &str, args: &[Arg], url: &Arg) {
    let mut headers = Vec::new();
    let mut body = String::new();
    let mut sends_data = false;
    for pair in args.windows(2) {
        let [flag, value] = pair else { continue };
        if matches!(flag.text.as_str(), "-H" | "--header")
            && let Some((n, v)) = value.text.split_once(':')
        {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        if BODY_FLAGS.contains(&flag.text.as_str()) {
            sends_data = true;
            if value.literal && !(flag.text != "--data-raw" && value.text.starts_with('@')) {
                if !body.is_empty() {
                    body.push('&');
                }
                body.push_str(&value.text);
            }
        }
        if flag.text == "--json" {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
    }
    let uploads = args.iter().any(|a| matches!(a.text.as_str(), "-T" | "--upload-file" | "-F" | "--form"));
    let method = method(args).unwrap_or_else(|| {
        if name == "curl" && uploads && !sends_data {
            "PUT".to_owned()
        } else if sends_data || uploads {
            "POST".to_owned()
        } else {
            "GET".to_owned()
        }
    });
    let request = crate::http::HttpRequest {
        method: &method,
        url: &url.text,
        headers: &headers,
        body: if body.is_empty() { crate::http::Body::Empty } else { crate::http::Body::Full(body.as_bytes()) },
    };
    for e in crate::http::classify(&request, &crate::http::HttpContext::default()) {
        w.push(e);
    }
}

/// curl/wget/httpie: the request is classified as the proxy would (a DELETE deletes something
/// remote, a GraphQL delete mutation is held, ...); uploaded files are read.
pub(crate) fn http_client(w: &mut Walker<'_>, name: &str, args: &[Arg]) {
    let url_arg = args.iter().find(|a| a.text.starts_with("http://") || a.text.starts_with("https://"));
    if let Some(url) = url_arg.filter(|u| u.literal && matches!(name, "curl" | "wget")) {
        as_http_request(w, name, args, url);
    }
    let url = url_arg.map_or_else(|| "(url)".to_owned(), |a| a.text.clone());
    let delete = method(args).is_some_and(|m| m.eq_ignore_ascii_case("DELETE"))
        || (matches!(name, "http" | "https" | "xh") && args.iter().any(|a| a.text.eq_ignore_ascii_case("DELETE")))
        || args.iter().any(|a| a.text == "--method=DELETE");
    let classified = url_arg.is_some_and(|u| u.literal && matches!(name, "curl" | "wget"));
    if delete && !classified {
        w.push(effect(
            Verb::Delete,
            Target::new(TargetKind::Http, url),
            Reversibility::Irreversible,
            Scope::Remote,
            "http-delete",
            "an HTTP DELETE request",
        ));
    }
    let upload_flags = [
        "-d",
        "--data",
        "--data-binary",
        "--data-raw",
        "--data-urlencode",
        "-F",
        "--form",
        "-T",
        "--upload-file",
        "--post-file",
        "--body-file",
    ];
    for pair in args.windows(2) {
        let [flag, value] = pair else { continue };
        if upload_flags.contains(&flag.text.as_str()) {
            let file = value
                .text
                .rsplit_once('@')
                .map(|(_, f)| f)
                .or(if flag.text == "-T" || flag.text.ends_with("-file") { Some(value.text.as_str()) } else { None });
            if let Some(f) = file.filter(|f| !f.is_empty() && *f != "-") {
                let arg = Arg { text: f.to_owned(), ..value.clone() };
                w.path_effect(Verb::Read, &arg, false, "http-upload", "uploads this file");
            }
        }
        if matches!(flag.text.as_str(), "-o" | "--output" | "-O" | "--output-document") {
            w.path_effect(Verb::Write, value, false, "http-download", "writes the download here");
        }
    }
}

/// `nsupdate`: dynamic DNS updates; a `delete` line removes records, and without known input
/// it applies whatever it is given.
pub(crate) fn nsupdate(w: &mut Walker<'_>, args: &[Arg], stdin: &super::walk::Stdin) {
    let file = args
        .iter()
        .find(|a| !a.text.starts_with('-'))
        .and_then(|f| w.facts.read(&crate::path::resolve(&f.text, &w.ctx)));
    let text = match (stdin, file) {
        (super::walk::Stdin::Text(t), _) => Some(t.clone()),
        (_, Some(f)) => Some(f),
        _ => None,
    };
    let target = Target::new(TargetKind::Cloud, "dns (nsupdate)");
    match text {
        Some(t)
            if t.lines()
                .any(|l| l.trim_start().to_ascii_lowercase().starts_with("delete") || l.contains(" delete ")) =>
        {
            w.push(effect(
                Verb::Delete,
                target,
                Reversibility::Irreversible,
                Scope::Remote,
                "dns-delete",
                "deletes DNS records",
            ));
        }
        Some(_) => w.push(effect(
            Verb::Write,
            target,
            Reversibility::Recoverable,
            Scope::Remote,
            "dns-update",
            "updates DNS records",
        )),
        None => w.push(super::opaque("nsupdate", "applies DNS updates Holdpoint cannot see", "dns-update-unknown")),
    }
}
