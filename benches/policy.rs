//! Policy evaluation alone, with 1,000 rules: median and p99 per evaluation.
//!
//! `cargo bench --features ssr --bench policy`

use askfirst::domain::policy::Policy;
use askfirst::domain::risk::RiskClass;
use askfirst::policy::{CallInput, CompiledPolicy};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

fn thousand_rules() -> Policy {
    let mut rules = Vec::new();
    for i in 0..1000 {
        let rule = match i % 5 {
            0 => {
                json!({ "name": format!("r{i}"), "match": { "tool": format!("tool_{i}") }, "effect": { "kind": "gate" } })
            }
            1 => {
                json!({ "name": format!("r{i}"), "match": { "tool": format!("ns{i}_*"), "agent": "bot-*" }, "effect": { "kind": "allow" } })
            }
            2 => {
                json!({ "name": format!("r{i}"), "match": { "tool": format!("t{i}"), "args": [{ "pointer": "/env", "op": "eq", "value": "production" }] }, "effect": { "kind": "deny", "message": "no" } })
            }
            3 => {
                json!({ "name": format!("r{i}"), "match": { "risk_any": ["financial"], "tool": format!("pay_{i}") }, "effect": { "kind": "gate" } })
            }
            _ => {
                json!({ "name": format!("r{i}"), "match": { "tool": format!("x{i}"), "args": [{ "pointer": "/amount", "op": "gt", "value": 100 }] }, "effect": { "kind": "gate" } })
            }
        };
        rules.push(rule);
    }
    serde_json::from_value(json!({ "default_effect": { "kind": "allow" }, "rules": rules }))
        .unwrap()
}

fn main() {
    let policy = CompiledPolicy::compile(&thousand_rules()).unwrap();
    let args = [
        json!({ "env": "production", "amount": 250 }),
        json!({ "path": "/tmp/x" }),
    ];
    let tools: Vec<String> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                format!("tool_{}", i * 15)
            } else {
                "unmatched_tool".into()
            }
        })
        .collect();
    let risk = [RiskClass::Production];
    // Warm up.
    for i in 0..20_000 {
        black_box(policy.evaluate(&CallInput {
            agent: "bot-1",
            tool: &tools[i % 64],
            args: &args[i % 2],
            risk: &risk,
            novel: false,
        }));
    }
    let n = 200_000;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let input = CallInput {
            agent: "bot-1",
            tool: &tools[i % 64],
            args: &args[i % 2],
            risk: &risk,
            novel: i % 3 == 0,
        };
        let t = Instant::now();
        black_box(policy.evaluate(black_box(&input)));
        samples.push(t.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let pct = |p: f64| {
        samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    println!("policy evaluation, 1,000 rules, {n} calls (half match no rule and scan all 1,000)");
    println!(
        "  median {:.2} µs   p99 {:.2} µs   p99.9 {:.2} µs",
        pct(0.5),
        pct(0.99),
        pct(0.999)
    );
    println!("  targets: median ≤ 2 µs, p99 ≤ 10 µs");
}
