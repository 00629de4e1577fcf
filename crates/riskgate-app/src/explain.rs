//! Human-readable explanation of a decision: why this lane.

use riskgate_core::{Decision, Reason};

pub fn explain(d: &Decision, kind: &str) -> String {
    let mut s = format!(
        "Declaration {} at office {} → {} (selected by {kind}), risk value {:.3} ({}), selection probability {}\n",
        d.declaration_id,
        d.office,
        d.channel.as_str().to_uppercase(),
        d.risk_value,
        d.risk_level.as_str(),
        d.selection_probability
    );
    for r in &d.reasons {
        let line = match r {
            Reason::Rule { id, version, title, channel, weight } => format!(
                "  rule {id} v{version} fired: {title} (weight {weight}{})",
                channel.map(|c| format!(", forces {}", c.as_str())).unwrap_or_default()
            ),
            Reason::Model { id, score, top_features, expected_revenue_cny } => {
                let feats: Vec<String> = top_features.iter().map(|(n, v)| format!("{n} {v:+.2}")).collect();
                format!(
                    "  score {id}: probability of finding {score:.3}, expected duty {:.0} CNY; contributions (log-odds): {}",
                    expected_revenue_cny.unwrap_or(0.0),
                    if feats.is_empty() { "none".into() } else { feats.join(", ") }
                )
            }
            Reason::Random { rate } => format!("  drawn at random (rate {:.2}%) for unbiased estimates", rate * 100.0),
            Reason::Credit { class, factor } => format!("  credit class {class}: ranking × {factor}"),
            Reason::Selectivity { office, threshold, target_rate } => {
                format!("  office {office} target {:.1}%: ranking threshold now {threshold:.3}", target_rate * 100.0)
            }
            Reason::Fallback { detail } => format!("  fallback: {detail}"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    if !d.instructions.is_empty() {
        s.push_str(&format!("  instructions: {}\n", d.instructions));
    }
    s
}
