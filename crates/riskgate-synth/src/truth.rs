//! What really happened in a declaration of a generated world, and the
//! lanes a control can take.

use serde_json::Value;

/// The controlled lanes: document review or physical inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Document review (审单).
    Yellow,
    /// Physical inspection (查验).
    Red,
}

impl Lane {
    /// The DATA.md channel word: "yellow" or "red"; `None` for anything else
    /// (green is not a control).
    pub fn parse(s: &str) -> Option<Lane> {
        match s {
            "yellow" => Some(Lane::Yellow),
            "red" => Some(Lane::Red),
            _ => None,
        }
    }

    /// The DATA.md control kind this lane performs.
    pub fn control(self) -> &'static str {
        match self {
            Lane::Yellow => "document",
            Lane::Red => "physical",
        }
    }
}

/// What really happened in one declaration (truth.jsonl).
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub declaration_id: String,
    pub office: String,
    pub fraud: bool,
    pub kinds: Vec<String>,
    pub evaded_duty_cny: f64,
    pub smuggling: bool,
    /// The declaration's trader (truth.jsonl carries it; collusion is by trader).
    pub trader: Option<String>,
    /// Fraud that shows only after release (royalties paid abroad later):
    /// a border control does not find it, an audit may.
    pub post_release: bool,
}

impl Truth {
    /// Reads a truth.jsonl line; `None` when a required field is missing or mistyped.
    pub fn from_json(v: &Value) -> Option<Truth> {
        Some(Truth {
            declaration_id: v.get("declaration_id")?.as_str()?.to_string(),
            office: v.get("office")?.as_str()?.to_string(),
            fraud: v.get("fraud")?.as_bool()?,
            kinds: v
                .get("kinds")?
                .as_array()?
                .iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
            evaded_duty_cny: v.get("evaded_duty_cny")?.as_f64()?,
            smuggling: v.get("smuggling").and_then(Value::as_bool).unwrap_or(false),
            trader: v.get("trader").and_then(Value::as_str).map(str::to_string),
            post_release: v.get("post_release").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}
