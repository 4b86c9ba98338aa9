//! Evaluation: one Cedar request per effect, then the strictest answer wins.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression, Schema,
};
use holdpoint_core::{Action, Denial, Effect, Obligations, Verdict, VerdictKind};
use serde::Serialize;

use crate::source::{self, Checked, Role};
use crate::{Error, GUARDED, Located, PolicyFile, Profile, SCHEMA, STRICT};

/// What a hold needs when no policy says otherwise.
const DEFAULT_HOLD: Obligations = Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false };

/// The id reported when no policy allows an effect, so it is held.
pub const DEFAULT_HOLD_ID: &str = "default-hold";

/// Whether decisions are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Verdicts are carried out.
    Enforce,
    /// Verdicts are reported and audited, never carried out (`observe` profile).
    Observe,
}

/// A policy that decided (part of) a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyMatch {
    /// Its `@id`.
    pub id: String,
    /// Its `@reason`.
    pub reason: String,
    /// `file:line` where it is written.
    pub origin: String,
}

/// The answer for one effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectDecision {
    /// allow, hold or deny.
    pub verdict: VerdictKind,
    /// The policies that decided it (for a hold, also the obligation policies that applied).
    pub policies: Vec<PolicyMatch>,
    /// What a hold needs.
    pub obligations: Obligations,
}

/// The answer for a whole action: the strictest of its effects' answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The verdict, with obligations or the denial.
    pub verdict: Verdict,
    /// Plain-words reasons of the deciding policies, without repeats.
    pub reasons: Vec<String>,
    /// `@id`s of the deciding policies, without repeats.
    pub policies: Vec<String>,
    /// Whether the verdict is enforced.
    pub mode: Mode,
    /// One answer per effect, in the action's order.
    pub effects: Vec<EffectDecision>,
}

/// A loaded, validated policy set ready to decide.
#[derive(Debug)]
pub struct Engine {
    decide_set: PolicySet,
    obligation_set: PolicySet,
    meta: HashMap<String, Checked>,
    /// Parsed on first use: only user and project files need it.
    schema: std::sync::OnceLock<Schema>,
    authorizer: Authorizer,
    mode: Mode,
    strict: bool,
    refusal: Option<String>,
    /// Whether some policy can tell two targets apart by their id (see [`Engine::reads_target_ids`]).
    reads_target_ids: bool,
}

impl Engine {
    /// The built-in policies of `profile` plus the user's policy files.
    pub fn new(profile: Profile, user: &[PolicyFile]) -> Result<Engine, Error> {
        let mut engine = Engine {
            decide_set: PolicySet::new(),
            obligation_set: PolicySet::new(),
            meta: HashMap::new(),
            schema: std::sync::OnceLock::new(),
            authorizer: Authorizer::new(),
            mode: if profile == Profile::Observe { Mode::Observe } else { Mode::Enforce },
            strict: false,
            refusal: None,
            reads_target_ids: false,
        };
        engine.add_file(&PolicyFile::new("<guarded>", GUARDED), Error::Policy)?;
        if profile == Profile::Strict {
            engine.add_strict()?;
        }
        for file in user {
            engine.add_file(file, Error::Policy)?;
        }
        Ok(engine)
    }

    fn schema(&self) -> Result<&Schema, Error> {
        if let Some(schema) = self.schema.get() {
            return Ok(schema);
        }
        let schema = builtin_schema()?;
        Ok(self.schema.get_or_init(|| schema))
    }

    /// Whether verdicts are enforced.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether some loaded policy can tell two targets apart by their id: it reads an `id`
    /// attribute (`resource.id like "*prod*"`), names an entity other than a verb
    /// (`resource == Holdpoint::Target::"..."`, `resource in [...]`), or has a slot. When none
    /// does, two effects that differ only in their targets' ids are decided alike (the built-in
    /// profiles read kinds, tags, reversibility and scope only), which is what lets a proxy reuse
    /// one decision for every URL of a request shape. A policy whose form cannot be read counts
    /// as reading ids.
    pub fn reads_target_ids(&self) -> bool {
        self.reads_target_ids
    }

    /// Add the `strict` profile's policies (a project may ask for them).
    pub fn add_strict(&mut self) -> Result<(), Error> {
        if !self.strict {
            self.add_file(&PolicyFile::new("<strict>", STRICT), Error::Policy)?;
            self.strict = true;
        }
        Ok(())
    }

    /// Add a project's policies; they may only hold, deny or add obligations.
    pub(crate) fn add_project_file(&mut self, file: &PolicyFile) -> Result<(), Error> {
        let checked = source::load(file, Some(self.schema()?), Error::Project)?;
        if let Some(c) = checked.iter().find(|c| c.role == Role::Allow) {
            let line: usize = c.origin.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(1);
            return Err(Error::Project(Located {
                file: file.name.clone(),
                line,
                col: 1,
                message: format!(
                    "a project file may only tighten the policy, but {:?} is a plain permit that could allow what the user's policy holds; use forbid with @verdict(\"hold\") or @verdict(\"deny\")",
                    c.id
                ),
            }));
        }
        self.add_checked(checked, file, Error::Project)
    }

    /// From now on every decision is a deny with this reason (a broken project file).
    pub fn refuse_all(&mut self, reason: impl Into<String>) {
        self.refusal = Some(reason.into());
    }

    /// Every policy loaded, as `(id, role, reason, origin)`, in id order.
    pub fn policies(&self) -> Vec<(&str, &'static str, &str, &str)> {
        let mut out: Vec<_> = self
            .meta
            .values()
            .map(|c| (c.id.as_str(), role_name(c.role), c.reason.as_str(), c.origin.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    fn add_file(&mut self, file: &PolicyFile, wrap: fn(Located) -> Error) -> Result<(), Error> {
        let builtin = file.name == "<guarded>" || file.name == "<strict>";
        let schema = if builtin { None } else { Some(self.schema()?) };
        let checked = source::load(file, schema, wrap)?;
        self.add_checked(checked, file, wrap)
    }

    fn add_checked(
        &mut self,
        checked: Vec<Checked>,
        file: &PolicyFile,
        wrap: fn(Located) -> Error,
    ) -> Result<(), Error> {
        let mut seen = HashSet::new();
        for c in &checked {
            if self.meta.contains_key(&c.id) || !seen.insert(c.id.as_str()) {
                let line = c.origin.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(1);
                let message = format!("a policy with @id({:?}) already exists; ids must be unique", c.id);
                return Err(wrap(Located { file: file.name.clone(), line, col: 1, message }));
            }
        }
        for c in checked {
            self.reads_target_ids |= reads_target_id(&c.policy);
            let set = if c.role == Role::Obligation { &mut self.obligation_set } else { &mut self.decide_set };
            set.add(c.policy.clone()).map_err(|e| wrap(Located::at(&file.name, &file.text, 0, e.to_string())))?;
            self.meta.insert(c.id.clone(), c);
        }
        Ok(())
    }

    /// Decide an action: each effect on its own, then the strictest answer wins.
    pub fn decide(&self, action: &Action) -> Decision {
        if let Some(reason) = &self.refusal {
            return self.refused(Denial::Config { reason: reason.clone() });
        }
        if action.effects.is_empty() {
            let m = PolicyMatch {
                id: DEFAULT_HOLD_ID.into(),
                reason: "no effect was found in it, so Holdpoint cannot see what it would do".into(),
                origin: "<built-in>".into(),
            };
            let held = EffectDecision { verdict: VerdictKind::Hold, policies: vec![m], obligations: DEFAULT_HOLD };
            return self.combine(vec![held]);
        }
        let effects = action.effects.iter().map(|e| self.decide_effect(action, e)).collect();
        self.combine(effects)
    }

    fn refused(&self, denial: Denial) -> Decision {
        let reason = denial.to_string();
        Decision {
            verdict: Verdict::Deny { denial },
            reasons: vec![reason],
            policies: vec![],
            mode: self.mode,
            effects: vec![],
        }
    }

    fn decide_effect(&self, action: &Action, effect: &Effect) -> EffectDecision {
        match self.evaluate(action, effect) {
            Ok(d) => d,
            Err(reason) => EffectDecision {
                verdict: VerdictKind::Deny,
                policies: vec![PolicyMatch { id: "evaluation-error".into(), reason, origin: "<built-in>".into() }],
                obligations: Obligations::NONE,
            },
        }
    }

    fn evaluate(&self, action: &Action, effect: &Effect) -> Result<EffectDecision, String> {
        let (request, entities) = request(action, effect)?;
        let response = self.authorizer.is_authorized(&request, &self.decide_set, &entities);
        if let Some(e) = response.diagnostics().errors().next() {
            // A policy that errors is skipped by Cedar; skipping a forbid would be a silent allow.
            return Err(format!("a policy could not be evaluated: {e}"));
        }
        let matched: Vec<&Checked> =
            response.diagnostics().reason().filter_map(|id| self.meta.get(&id.to_string())).collect();
        if response.decision() == CedarDecision::Allow {
            return Ok(EffectDecision {
                verdict: VerdictKind::Allow,
                policies: matches(&matched),
                obligations: Obligations::NONE,
            });
        }
        let denies: Vec<&Checked> = matched.iter().copied().filter(|c| c.role == Role::Deny).collect();
        if !denies.is_empty() {
            return Ok(EffectDecision {
                verdict: VerdictKind::Deny,
                policies: matches(&denies),
                obligations: Obligations::NONE,
            });
        }
        let mut policies = matches(&matched);
        if policies.is_empty() {
            policies.push(PolicyMatch {
                id: DEFAULT_HOLD_ID.into(),
                reason: format!(
                    "no policy allows {} on {} targets in scope {}",
                    effect.verb, effect.target.kind, effect.scope
                ),
                origin: "<built-in>".into(),
            });
        }
        let mut obligations = matched.iter().fold(DEFAULT_HOLD, |o, c| o.strictest(apply(DEFAULT_HOLD, c)));
        let extra = self.authorizer.is_authorized(&request, &self.obligation_set, &entities);
        if let Some(e) = extra.diagnostics().errors().next() {
            return Err(format!("an obligation policy could not be evaluated: {e}"));
        }
        let extra: Vec<&Checked> =
            extra.diagnostics().reason().filter_map(|id| self.meta.get(&id.to_string())).collect();
        for c in &extra {
            obligations = obligations.strictest(apply(obligations, c));
        }
        policies.extend(matches(&extra));
        Ok(EffectDecision { verdict: VerdictKind::Hold, policies, obligations })
    }

    fn combine(&self, effects: Vec<EffectDecision>) -> Decision {
        let worst = effects.iter().map(|e| e.verdict).max().unwrap_or(VerdictKind::Allow);
        let deciding: Vec<&EffectDecision> = effects.iter().filter(|e| e.verdict == worst).collect();
        let mut reasons = Vec::new();
        let mut policies = Vec::new();
        for m in deciding.iter().flat_map(|e| &e.policies) {
            if !policies.contains(&m.id) {
                policies.push(m.id.clone());
            }
            if !reasons.contains(&m.reason) {
                reasons.push(m.reason.clone());
            }
        }
        let verdict = match worst {
            VerdictKind::Allow => Verdict::Allow,
            VerdictKind::Hold => {
                Verdict::Hold { obligations: deciding.iter().fold(DEFAULT_HOLD, |o, e| o.strictest(e.obligations)) }
            }
            VerdictKind::Deny => {
                let first = deciding.iter().flat_map(|e| &e.policies).next();
                Verdict::Deny {
                    denial: match first {
                        Some(m) if m.id == "evaluation-error" => Denial::Internal { reason: m.reason.clone() },
                        Some(m) => Denial::Policy { policy: m.id.clone(), reason: m.reason.clone() },
                        None => Denial::Internal { reason: "no policy was recorded for a deny".into() },
                    },
                }
            }
        };
        Decision { verdict, reasons, policies, mode: self.mode, effects }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Allow => "allow",
        Role::Hold => "hold",
        Role::Deny => "deny",
        Role::Obligation => "obligation",
    }
}

fn policy_match(c: &Checked) -> PolicyMatch {
    PolicyMatch { id: c.id.clone(), reason: c.reason.clone(), origin: c.origin.clone() }
}

fn matches(checked: &[&Checked]) -> Vec<PolicyMatch> {
    let mut out: Vec<PolicyMatch> = checked.iter().map(|c| policy_match(c)).collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The obligations a policy's annotations ask for, on top of `base`.
fn apply(base: Obligations, c: &Checked) -> Obligations {
    let a = c.obligations;
    Obligations {
        approvers: a.approvers.unwrap_or(base.approvers),
        delay_secs: a.delay_secs.unwrap_or(base.delay_secs),
        ttl_secs: a.ttl_secs.unwrap_or(base.ttl_secs),
        soft_delete: a.soft_delete.unwrap_or(base.soft_delete),
    }
}

/// Whether `policy` can tell targets apart by their id (see [`Engine::reads_target_ids`]),
/// read from its JSON form: an `id` attribute read or tested anywhere, an entity named that is
/// not an action (`{"type": ..., "id": ...}`, in a scope or an expression), or a slot.
fn reads_target_id(policy: &cedar_policy::Policy) -> bool {
    policy.to_json().map_or(true, |json| names_target(&json))
}

fn names_target(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let reads_id = map.get("attr").is_some_and(|attr| match attr {
                Value::String(name) => name == "id",
                Value::Array(path) => path.iter().any(|name| name == "id"),
                _ => true,
            });
            let names_entity =
                map.contains_key("id") && map.get("type").is_some_and(|t| t.as_str() != Some("Holdpoint::Action"));
            reads_id
                || names_entity
                || map.contains_key("slot")
                || map.iter().any(|(key, v)| key != "annotations" && names_target(v))
        }
        Value::Array(items) => items.iter().any(names_target),
        _ => false,
    }
}

/// The schema every policy is validated against.
pub(crate) fn builtin_schema() -> Result<Schema, Error> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| Error::Policy(Located::at("<schema>", SCHEMA, 0, e.to_string())))
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, String> {
    let t = EntityTypeName::from_str(type_name).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

/// The Cedar request and entities for one effect of an action.
fn request(action: &Action, effect: &Effect) -> Result<(Request, Entities), String> {
    let principal = uid("Holdpoint::Agent", action.actor.agent.as_deref().unwrap_or("unknown"))?;
    let verb = uid("Holdpoint::Action", effect.verb.as_str())?;
    let resource = uid("Holdpoint::Target", &effect.target.id)?;
    let tags = effect.target.tags.iter().map(|t| RestrictedExpression::new_string(t.clone()));
    let attrs: BTreeMap<String, RestrictedExpression> = [
        ("kind", RestrictedExpression::new_string(effect.target.kind.as_str().into())),
        ("id", RestrictedExpression::new_string(effect.target.id.clone())),
        ("tags", RestrictedExpression::new_set(tags)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let target =
        Entity::new(resource.clone(), attrs.into_iter().collect(), HashSet::new()).map_err(|e| e.to_string())?;
    let agent = Entity::new_no_attrs(principal.clone(), HashSet::new());
    let entities = Entities::from_entities([agent, target], None).map_err(|e| e.to_string())?;
    let context = Context::from_pairs([
        ("channel".to_owned(), RestrictedExpression::new_string(action.channel.as_str().into())),
        ("reversibility".to_owned(), RestrictedExpression::new_string(effect.reversibility.as_str().into())),
        ("scope".to_owned(), RestrictedExpression::new_string(effect.scope.as_str().into())),
        ("workspace".to_owned(), RestrictedExpression::new_string(action.actor.workspace.clone())),
    ])
    .map_err(|e| e.to_string())?;
    let request = Request::new(principal, verb, resource, context, None).map_err(|e| e.to_string())?;
    Ok((request, entities))
}
