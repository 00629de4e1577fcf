//! What screening hands to the rest of the system: the engine's result for
//! one declaration, the control task it opens, and the keys an outcome
//! updates. Plain data, so that the store can hold them without knowing the
//! engine.

use serde::{Deserialize, Serialize};

use crate::{Channel, Decision, Declaration, Disposal};

/// A control task to open for a yellow or red decision (M4).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub office: String,
    pub channel: Channel,
    pub disposal: Disposal,
    pub instructions: String,
}

/// The result of screening one declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Screened {
    pub decision: Decision,
    /// Risk value scaled by the credit factor: what selectivity ranks on.
    pub ranking: f64,
    pub task: Option<TaskSpec>,
    /// The shadow scorer's id and probability; never affects the lane.
    pub shadow: Option<(String, f64)>,
    /// Referrals the fired rules ask for: (case kind, rule id).
    pub refer: Vec<(String, String)>,
}

/// The keys of one declaration whose counters change with an outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeKeys {
    pub trader: String,
    pub declarant: String,
    pub overseas: Option<String>,
    pub goods: Vec<String>,
    pub routes: Vec<String>,
    pub value_cny: f64,
    pub random: bool,
}

impl OutcomeKeys {
    pub fn of(decl: &Declaration, random: bool) -> Self {
        let mut goods: Vec<String> = decl.items.iter().map(|i| i.hs6().to_string()).collect();
        goods.sort();
        goods.dedup();
        let mut routes: Vec<String> = decl.items.iter().map(|i| route_key(decl, &i.origin)).collect();
        routes.sort();
        routes.dedup();
        OutcomeKeys {
            trader: decl.trader.id.clone(),
            declarant: decl.declarant.id.clone(),
            overseas: decl.overseas_party.as_ref().map(|p| p.id.clone()),
            goods,
            routes,
            value_cny: decl.total_value_cny(),
            random,
        }
    }
}

/// Writes the route key "origin>departure" into a reused buffer.
pub fn put_route_key<'b>(buf: &'b mut String, decl: &Declaration, origin: &str) -> &'b str {
    buf.clear();
    buf.push_str(origin);
    buf.push('>');
    buf.push_str(decl.country_of_departure.as_deref().unwrap_or("--"));
    buf
}

pub fn route_key(decl: &Declaration, origin: &str) -> String {
    let mut k = String::with_capacity(5);
    put_route_key(&mut k, decl, origin);
    k
}
