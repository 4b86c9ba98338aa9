//! AWS APIs, recognised by the SigV4 credential scope of the request (service and region),
//! not by host name, so custom endpoints (LocalStack, moto, VPC endpoints) count too. The
//! operation comes from `X-Amz-Target` (JSON protocols), `Action=` (query protocol, in the
//! URL or a form body) or, for S3 and the REST services, from method, path and subresource.

use holdpoint_core::{Effect, Reversibility, Target, TargetKind, Verb};
use serde_json::Value;

use super::{Parsed, destructive_name, effect, words};

/// Service and region of a SigV4 (or SigV4a) signed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    pub service: String,
    pub region: String,
}

/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` from the Authorization header or the
/// presigned `X-Amz-Credential` query parameter.
pub(crate) fn scope(p: &Parsed<'_>) -> Option<Scope> {
    let credential = match p.header("authorization") {
        Some(auth) if auth.trim_start().starts_with("AWS4-") => {
            auth.split([',', ' ']).find_map(|part| part.trim().strip_prefix("Credential=")).map(str::to_owned)
        }
        _ => p.query_value("X-Amz-Credential").map(str::to_owned),
    }?;
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [_key, _date, region, service, "aws4_request"] => {
            Some(Scope { service: service.to_ascii_lowercase(), region: (*region).to_owned() })
        }
        // SigV4a has a region set in a header instead of the scope.
        [_key, _date, service, "aws4_request"] => Some(Scope {
            service: service.to_ascii_lowercase(),
            region: p.header("x-amz-region-set").unwrap_or("*").to_owned(),
        }),
        _ => None,
    }
}

/// The effects of an AWS request, or `None` when the request is not SigV4-signed.
pub(crate) fn classify(p: &Parsed<'_>) -> Option<Vec<Effect>> {
    let scope = scope(p)?;
    let params = params(p);
    let op = if let Some(target) = p.header("x-amz-target") {
        Op::named(target.rsplit('.').next().unwrap_or(target))
    } else if let Some(action) = param(&params, "Action") {
        Op::named(action)
    } else if scope.service.starts_with("s3") {
        s3(p)
    } else {
        rest(p)
    };
    let resource = op.resource.clone().or_else(|| resource_of(&params)).map(|r| format!(" {r}")).unwrap_or_default();
    let target =
        Target::new(TargetKind::Cloud, format!("aws {} {} {}{resource}", scope.service, scope.region, op.name));
    Some(vec![judge(&scope.service, &op, &params, p, target)])
}

/// An operation's name and, when the protocol carries it outside the parameters, its resource.
struct Op {
    name: String,
    resource: Option<String>,
    /// Set by the S3 and REST readers, which already know what the request does.
    known: Option<(Verb, &'static str, &'static str)>,
}

impl Op {
    fn named(name: &str) -> Op {
        Op { name: name.trim().to_owned(), resource: None, known: None }
    }
}

fn judge(service: &str, op: &Op, params: &[(String, String)], p: &Parsed<'_>, target: Target) -> Effect {
    let name = op.name.as_str();
    let body = String::from_utf8_lossy(p.body_bytes().unwrap_or_default()).to_ascii_lowercase();
    let is_false = |key: &str| param(params, key).is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let irreversible = Reversibility::Irreversible;
    if let Some((verb, rule, why)) = op.known {
        let rev = match verb {
            Verb::Read => Reversibility::Reversible,
            Verb::Write => Reversibility::Recoverable,
            _ => irreversible,
        };
        return effect(verb, target, rev, rule, why);
    }
    // Reading a secret through the API is reading a secret outside the vault.
    let secret_read = matches!(
        (service, name),
        ("secretsmanager", "GetSecretValue" | "BatchGetSecretValue")
            | ("ec2", "GetPasswordData")
            | ("kms", "Decrypt")
            | ("ssm", "GetParameter" | "GetParameters" | "GetParametersByPath")
    ) && (service != "ssm"
        || param(params, "WithDecryption").is_some_and(|v| v.eq_ignore_ascii_case("true")));
    if secret_read {
        let mut t = target;
        t.tags.insert("secret".into());
        return effect(Verb::Read, t, Reversibility::Reversible, "aws-secret-read", "reads a secret from the cloud");
    }
    let safeguard_off = (matches!(name, "ModifyDBInstance" | "ModifyDBCluster") && is_false("DeletionProtection"))
        || (matches!(name, "ModifyDBInstance" | "ModifyDBCluster")
            && param(params, "BackupRetentionPeriod").is_some_and(|v| v.trim() == "0"))
        || (name == "UpdateTerminationProtection" && is_false("EnableTerminationProtection"))
        || (name == "ModifyInstanceAttribute" && is_false("DisableApiTermination.Value"))
        || (name == "UpdateContinuousBackups" && body.contains("\"pointintimerecoveryenabled\":false"))
        || (name == "UpdateTable" && is_false("DeletionProtectionEnabled"))
        || (matches!(name, "StopLogging" | "PutBucketVersioning" | "PutObjectLockConfiguration")
            && (name != "PutBucketVersioning" || body.contains("suspended")))
        || words(name).first().is_some_and(|w| w == "disable");
    if safeguard_off {
        return effect(
            Verb::Disable,
            target,
            irreversible,
            "aws-disable-safeguard",
            "turns off deletion protection, backups, versioning, logging or a similar safeguard",
        );
    }
    if widens_access(service, name, params, &body) {
        return effect(Verb::Grant, target, irreversible, "aws-widen-access", "widens IAM or public access");
    }
    if destructive_name(name) || name == "ScheduleKeyDeletion" || body.contains("<action>delete</action>") {
        return effect(Verb::Delete, target, irreversible, "aws-delete", "deletes cloud resources or data");
    }
    let first = words(name).into_iter().next().unwrap_or_default();
    let read = matches!(
        first.as_str(),
        "describe"
            | "list"
            | "get"
            | "head"
            | "search"
            | "query"
            | "scan"
            | "select"
            | "lookup"
            | "check"
            | "validate"
            | "estimate"
            | "preview"
            | "simulate"
            | "batch"
    ) && (first != "batch" || words(name).get(1).is_some_and(|w| w == "get"));
    if read {
        return effect(Verb::Read, target, Reversibility::Reversible, "aws-read", "reads cloud resources");
    }
    effect(Verb::Write, target, Reversibility::Recoverable, "aws-write", "changes cloud resources")
}

fn widens_access(service: &str, name: &str, params: &[(String, String)], body: &str) -> bool {
    let iam = service == "iam"
        && matches!(
            name,
            "AttachUserPolicy"
                | "AttachRolePolicy"
                | "AttachGroupPolicy"
                | "PutUserPolicy"
                | "PutRolePolicy"
                | "PutGroupPolicy"
                | "CreateAccessKey"
                | "CreateLoginProfile"
                | "UpdateLoginProfile"
                | "AddUserToGroup"
                | "UpdateAssumeRolePolicy"
                | "CreatePolicyVersion"
                | "SetDefaultPolicyVersion"
        );
    let everyone = ["\"principal\":\"*\"", "\"aws\":\"*\"", "0.0.0.0/0", "::/0", "allusers", "authenticatedusers"];
    let text = params.iter().map(|(_, v)| v.to_ascii_lowercase()).collect::<Vec<_>>().join(" ") + body;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let public = everyone.iter().any(|e| compact.contains(e));
    let opens = matches!(
        name,
        "PutBucketPolicy"
            | "PutBucketAcl"
            | "PutObjectAcl"
            | "AuthorizeSecurityGroupIngress"
            | "AddPermission"
            | "ModifySnapshotAttribute"
            | "ModifyDBSnapshotAttribute"
            | "ModifyImageAttribute"
    );
    iam || (opens && public)
}

/// S3's REST protocol: bucket in the host (virtual-hosted style) or the first path segment.
fn s3(p: &Parsed<'_>) -> Op {
    let (bucket, key) = match p.host.split_once(".s3.").or_else(|| p.host.split_once(".s3-")) {
        Some((bucket, _)) => (bucket.to_owned(), p.path.trim_start_matches('/').to_owned()),
        None => {
            let rest = p.path.trim_start_matches('/');
            let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
            (b.to_owned(), k.to_owned())
        }
    };
    let resource = if key.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{key}") };
    let acl = p.header("x-amz-acl").unwrap_or_default().to_ascii_lowercase();
    let body = String::from_utf8_lossy(p.body_bytes().unwrap_or_default()).to_ascii_lowercase();
    let sub = |name: &str| p.has_query(name);
    let known = |name: &str, verb, rule, why| Op {
        name: name.to_owned(),
        resource: Some(resource.clone()),
        known: Some((verb, rule, why)),
    };
    const DELETE_WHY: &str = "deletes S3 buckets or objects";
    const SAFEGUARD_WHY: &str = "turns off an S3 safeguard (versioning, object lock, public access block)";
    match &*p.method {
        "GET" | "HEAD" | "OPTIONS" => {
            known(if key.is_empty() { "ListObjects" } else { "GetObject" }, Verb::Read, "aws-read", "reads S3 data")
        }
        "DELETE" if sub("uploadId") => {
            known("AbortMultipartUpload", Verb::Write, "aws-write", "abandons an upload in progress")
        }
        "DELETE" if key.is_empty() && sub("publicAccessBlock") => {
            known("DeletePublicAccessBlock", Verb::Disable, "aws-disable-safeguard", SAFEGUARD_WHY)
        }
        "DELETE" if key.is_empty() => known("DeleteBucket", Verb::Delete, "aws-delete", DELETE_WHY),
        "DELETE" => known("DeleteObject", Verb::Delete, "aws-delete", DELETE_WHY),
        "POST" if sub("delete") => known("DeleteObjects", Verb::Delete, "aws-delete", DELETE_WHY),
        "PUT" if sub("versioning") && body.contains("suspended") => {
            known("PutBucketVersioning", Verb::Disable, "aws-disable-safeguard", SAFEGUARD_WHY)
        }
        "PUT" if sub("object-lock") || sub("retention") || sub("legal-hold") => {
            known("PutObjectLockConfiguration", Verb::Disable, "aws-disable-safeguard", SAFEGUARD_WHY)
        }
        "PUT" if sub("publicAccessBlock") && body.contains("false") => {
            known("PutPublicAccessBlock", Verb::Disable, "aws-disable-safeguard", SAFEGUARD_WHY)
        }
        "PUT" if sub("lifecycle") && body.contains("<expiration") => known(
            "PutBucketLifecycleConfiguration",
            Verb::Delete,
            "aws-delete",
            "sets a lifecycle rule that expires (deletes) objects",
        ),
        "PUT"
            if (sub("acl") || sub("policy") || !acl.is_empty())
                && (acl.starts_with("public") || acl == "authenticated-read" || {
                    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                    compact.contains("\"principal\":\"*\"")
                        || compact.contains("\"aws\":\"*\"")
                        || compact.contains("allusers")
                }) =>
        {
            known("PutBucketPolicy", Verb::Grant, "aws-widen-access", "makes S3 data public")
        }
        _ => {
            let name = if key.is_empty() { "PutBucket" } else { "PutObject" };
            known(name, Verb::Write, "aws-write", "writes S3 data")
        }
    }
}

/// REST services other than S3: the method says what happens to the resource in the path.
fn rest(p: &Parsed<'_>) -> Op {
    let name = format!("{} {}", p.method, p.path);
    let verb = match &*p.method {
        "GET" | "HEAD" | "OPTIONS" => Some((Verb::Read, "aws-read", "reads cloud resources")),
        "DELETE" => Some((Verb::Delete, "aws-delete", "deletes cloud resources or data")),
        _ => None,
    };
    Op { name, resource: None, known: verb }
}

/// Parameters from the query string, a form body and a JSON body's top level.
fn params(p: &Parsed<'_>) -> Vec<(String, String)> {
    let mut out = p.query.clone();
    out.extend(p.form());
    if let Some(Value::Object(map)) = p.body_bytes().and_then(|b| serde_json::from_slice::<Value>(b).ok()) {
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.push((k, text));
        }
    }
    out
}

/// A parameter by name, any case, also as the first of a list (`InstanceId.1`).
fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case(name)
                || k.strip_suffix(".1").is_some_and(|base| base.eq_ignore_ascii_case(name))
                || k.strip_suffix(".member.1").is_some_and(|base| base.eq_ignore_ascii_case(name))
        })
        .map(|(_, v)| v.as_str())
}

/// The first parameter that names a resource (`VolumeId`, `DBInstanceIdentifier`, `TableName`).
fn resource_of(params: &[(String, String)]) -> Option<String> {
    params.iter().find_map(|(k, v)| {
        let base = k.split('.').next().unwrap_or(k);
        let names = ["Id", "Identifier", "Name", "Arn", "Ids"];
        (base != "Action"
            && base != "Version"
            && names.iter().any(|n| base.ends_with(n))
            && !v.is_empty()
            && v.len() <= 200)
            .then(|| v.clone())
    })
}
