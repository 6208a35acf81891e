//! Risk classes a call can carry.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// What could go wrong if a call runs. The agent may claim classes; policy may add more;
/// nobody can remove one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    Destructive,
    Irreversible,
    Financial,
    CustomerFacing,
    Production,
    ExternalComms,
}

impl RiskClass {
    /// Every class, in display order.
    pub const ALL: [RiskClass; 6] = [
        RiskClass::Destructive,
        RiskClass::Irreversible,
        RiskClass::Financial,
        RiskClass::CustomerFacing,
        RiskClass::Production,
        RiskClass::ExternalComms,
    ];

    /// The stable name used on the wire and in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Destructive => "destructive",
            RiskClass::Irreversible => "irreversible",
            RiskClass::Financial => "financial",
            RiskClass::CustomerFacing => "customer_facing",
            RiskClass::Production => "production",
            RiskClass::ExternalComms => "external_comms",
        }
    }

    /// A short label for people.
    pub fn label(self) -> &'static str {
        match self {
            RiskClass::Destructive => "Destructive",
            RiskClass::Irreversible => "Irreversible",
            RiskClass::Financial => "Financial",
            RiskClass::CustomerFacing => "Customer-facing",
            RiskClass::Production => "Production",
            RiskClass::ExternalComms => "External comms",
        }
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RiskClass::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown risk class `{s}` (expected one of: {})",
                    RiskClass::ALL.map(RiskClass::as_str).join(", ")
                )
            })
    }
}

/// Sorted, de-duplicated union of risk classes.
pub fn union(a: &[RiskClass], b: &[RiskClass]) -> Vec<RiskClass> {
    let mut all: Vec<RiskClass> = a.iter().chain(b).copied().collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for r in RiskClass::ALL {
            assert_eq!(r.as_str().parse::<RiskClass>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!("dangerous".parse::<RiskClass>().is_err());
    }

    #[test]
    fn union_sorts_and_dedups() {
        use RiskClass::*;
        let cases = [
            (vec![], vec![], vec![]),
            (vec![Production], vec![Production], vec![Production]),
            (
                vec![ExternalComms, Destructive],
                vec![Production],
                vec![Destructive, Production, ExternalComms],
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(union(&a, &b), expected);
        }
    }
}
