//! Rule files (TOML) as analysts write them, and rule tests on a JSON
//! Lines file: the file formats of `riskgate rules`.

use std::path::Path;

use anyhow::{Context, Result};
use riskgate_app::App;
use riskgate_app::rules::{RuleFile, check, find, rule_def, test_declarations};
use riskgate_core::Declaration;
use riskgate_engine::RuleDef;
use riskgate_store::RuleRecord;

use crate::jsonl;

pub fn read_rule_file(path: &Path) -> Result<RuleDef> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let f: RuleFile = toml::from_str(&text).with_context(|| format!("{}: invalid rule file", path.display()))?;
    rule_def(f, &path.display().to_string())
}

pub fn add(app: &mut App, file: &Path) -> Result<RuleRecord> {
    let def = read_rule_file(file)?;
    riskgate_app::rules::add_checked(app, def, &file.display().to_string())
}

/// A rule named by id (stored, latest version unless given) or by file.
pub fn resolve(app: &App, spec: &str, version: Option<u32>) -> Result<RuleDef> {
    if spec.ends_with(".toml") || Path::new(spec).is_file() {
        let def = read_rule_file(Path::new(spec))?;
        check(app, &def, spec)?;
        Ok(def)
    } else {
        Ok(find(app, spec, version)?.def)
    }
}

/// Which declarations of the file the rule fires on, against the current context.
pub fn test(app: &mut App, def: &RuleDef, file: &Path) -> Result<Vec<(String, bool)>> {
    let mut decls = Vec::new();
    for l in jsonl::read(file)? {
        let v = l.value.map_err(|e| anyhow::anyhow!("{} line {}: {e}", file.display(), l.number))?;
        let d = Declaration::from_json(&v).map_err(|e| anyhow::anyhow!("{} line {}: {e}", file.display(), l.number))?;
        decls.push(d);
    }
    test_declarations(app, def, &decls)
}
