//! Reading what `npm run NAME` and `make TARGET` would run, from the files' text.

use std::collections::HashMap;

/// The body of script `name` in a `package.json`.
pub fn npm_script(package_json: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(package_json).ok()?;
    let script = v.get("scripts")?.get(name)?.as_str()?.to_owned();
    // npm runs `pre<name>` and `post<name>` around it.
    let around = |prefix: &str| v.get("scripts")?.get(format!("{prefix}{name}"))?.as_str().map(str::to_owned);
    Some([around("pre"), Some(script), around("post")].into_iter().flatten().collect::<Vec<_>>().join("\n"))
}

/// The recipe lines of `target` (or of the first target) in a Makefile, with simple
/// variables (`X = value`, `X := value`) substituted and `@`/`-` prefixes removed.
pub fn make_recipe(makefile: &str, target: Option<&str>) -> Vec<String> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut recipes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for line in makefile.lines() {
        if let Some(cmd) = line.strip_prefix('\t') {
            if let Some((_, lines)) = recipes.last_mut() {
                lines.push(cmd.trim_start_matches(['@', '-', '+']).to_owned());
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = assignment(trimmed) {
            vars.insert(name, value);
            continue;
        }
        if let Some((targets, _)) = trimmed.split_once(':')
            && !targets.contains('=')
        {
            let names = targets.split_whitespace().map(str::to_owned).collect();
            recipes.push((names, Vec::new()));
        }
    }
    let chosen = match target {
        Some(t) => recipes.iter().find(|(names, _)| names.iter().any(|n| n == t)),
        None => recipes.iter().find(|(names, _)| names.iter().all(|n| !n.starts_with('.'))),
    };
    chosen.map(|(_, lines)| lines.iter().map(|l| substitute(l, &vars)).collect()).unwrap_or_default()
}

fn assignment(line: &str) -> Option<(String, String)> {
    for op in [":=", "::=", "?=", "="] {
        if let Some((name, value)) = line.split_once(op) {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Some((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
    None
}

/// `$(NAME)` and `${NAME}` of known variables; unknown ones stay (and stay opaque).
fn substitute(line: &str, vars: &HashMap<String, String>) -> String {
    let mut out = line.replace("$$", "\u{0}");
    for (name, value) in vars {
        out = out.replace(&format!("$({name})"), value).replace(&format!("${{{name}}}"), value);
    }
    out.replace('\u{0}', "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_scripts_include_pre_and_post() {
        let pkg = r#"{"scripts":{"pretest":"rm -rf coverage","test":"jest","clean":"rm -rf dist"}}"#;
        assert_eq!(npm_script(pkg, "test").as_deref(), Some("rm -rf coverage\njest"));
        assert_eq!(npm_script(pkg, "nope"), None);
    }

    #[test]
    fn make_recipes_substitute_variables() {
        let mk = "BUILD := out\n\nall: build\n\nclean:\n\t@rm -rf $(BUILD)\n\t-rm -f $(UNKNOWN)/x\n";
        assert_eq!(make_recipe(mk, Some("clean")), ["rm -rf out", "rm -f $(UNKNOWN)/x"]);
        assert!(make_recipe(mk, None).is_empty());
    }
}
