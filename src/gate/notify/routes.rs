//! Which gated calls go to which channel. A route names a channel and four filters — the
//! gate rule (glob), a risk class the call carries (or `*`), the agent (glob) and the
//! audience (glob over the approver role, or the role or group a call was escalated to);
//! a call goes to a channel when every filter of one of its routes matches.

use crate::domain::risk::RiskClass;
use crate::domain::AppError;
use crate::policy::glob::Pattern;
use crate::store::notify::RouteRow;

/// What routes are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    pub rule: Option<&'a str>,
    pub risk: &'a [RiskClass],
    pub agent: &'a str,
    /// The approver role, or where the call was escalated to.
    pub audience: &'a str,
}

/// A route with its globs compiled.
#[derive(Debug, Clone)]
pub struct Route {
    pub channel_id: i64,
    rule: Pattern,
    risk: Option<RiskClass>,
    agent: Pattern,
    audience: Pattern,
}

/// Checks a route's filters as an admin typed them; empty means `*`.
pub fn check(rule: &str, risk: &str, agent: &str, audience: &str) -> Result<[String; 4], AppError> {
    let norm = |what: &str, text: &str| -> Result<String, AppError> {
        let text = text.trim();
        if text.chars().count() > 200 || text.chars().any(char::is_control) {
            return Err(AppError::Invalid(format!(
                "the {what} filter is at most 200 characters, without control characters"
            )));
        }
        let text = if text.is_empty() { "*" } else { text };
        Pattern::new(text).map_err(|e| AppError::Invalid(format!("the {what} filter: {e}")))?;
        Ok(text.to_string())
    };
    let risk = match risk.trim() {
        "" | "*" => "*".to_string(),
        r => r
            .parse::<RiskClass>()
            .map_err(|_| {
                AppError::Invalid(format!(
                    "`{}` is not a risk class ({})",
                    crate::domain::inbox::truncate(r, 40),
                    RiskClass::ALL.map(|r| r.as_str()).join(", ")
                ))
            })?
            .as_str()
            .to_string(),
    };
    Ok([
        norm("rule", rule)?,
        risk,
        norm("agent", agent)?,
        norm("audience", audience)?,
    ])
}

impl Route {
    /// Compiles a stored route (`None` if a stored filter no longer compiles).
    pub fn compile(row: &RouteRow) -> Option<Self> {
        Some(Self {
            channel_id: row.channel_id,
            rule: Pattern::new(&row.rule).ok()?,
            risk: match row.risk.as_str() {
                "*" => None,
                r => Some(r.parse().ok()?),
            },
            agent: Pattern::new(&row.agent).ok()?,
            audience: Pattern::new(&row.audience).ok()?,
        })
    }

    /// Whether the call goes to this route's channel. A call gated by no named rule (the
    /// default effect) matches only a rule filter of `*`.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let rule = match s.rule {
            Some(rule) => self.rule.matches(rule),
            None => self.rule.literal().is_none() && self.rule.matches(""),
        };
        rule && self.risk.is_none_or(|r| s.risk.contains(&r))
            && self.agent.matches(s.agent)
            && self.audience.matches(s.audience)
    }
}

/// The channels (ids, each once, in route order) a call goes to.
pub fn channels_for(routes: &[Route], s: &Subject<'_>) -> Vec<i64> {
    let mut out = Vec::new();
    for route in routes {
        if !out.contains(&route.channel_id) && route.matches(s) {
            out.push(route.channel_id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RiskClass::*;

    fn route(channel: i64, rule: &str, risk: &str, agent: &str, audience: &str) -> Route {
        Route::compile(&RouteRow {
            id: 0,
            channel_id: channel,
            rule: rule.into(),
            risk: risk.into(),
            agent: agent.into(),
            audience: audience.into(),
        })
        .unwrap()
    }

    #[test]
    fn routes_match_on_every_filter() {
        let subject = Subject {
            rule: Some("gate-prod"),
            risk: &[Production, Destructive],
            agent: "deploy-bot",
            audience: "approver",
        };
        let cases = [
            (route(1, "*", "*", "*", "*"), true),
            (route(1, "gate-*", "*", "*", "*"), true),
            (route(1, "gate-dev", "*", "*", "*"), false),
            (route(1, "*", "production", "*", "*"), true),
            (route(1, "*", "financial", "*", "*"), false),
            (route(1, "*", "*", "deploy-*", "*"), true),
            (route(1, "*", "*", "billing-*", "*"), false),
            (route(1, "*", "*", "*", "approver"), true),
            (route(1, "*", "*", "*", "manager"), false),
            (
                route(
                    1,
                    "{gate-prod,gate-dev}",
                    "destructive",
                    "*-bot",
                    "approver",
                ),
                true,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.matches(&subject), want, "{r:?}");
        }
        let default_rule = Subject {
            rule: None,
            ..subject.clone()
        };
        assert!(route(1, "*", "*", "*", "*").matches(&default_rule));
        assert!(!route(1, "gate-prod", "*", "*", "*").matches(&default_rule));
    }

    #[test]
    fn each_channel_once() {
        let routes = [
            route(1, "*", "*", "*", "*"),
            route(2, "nope", "*", "*", "*"),
            route(1, "gate-*", "*", "*", "*"),
            route(3, "*", "production", "*", "*"),
        ];
        let subject = Subject {
            rule: Some("gate-prod"),
            risk: &[Production],
            agent: "a",
            audience: "approver",
        };
        assert_eq!(channels_for(&routes, &subject), vec![1, 3]);
    }

    #[test]
    fn filters_are_checked() {
        assert_eq!(
            check("", " ", "deploy-*", "").unwrap(),
            ["*", "*", "deploy-*", "*"].map(str::to_string)
        );
        assert!(check("[", "*", "*", "*").is_err());
        assert!(check("*", "scary", "*", "*").is_err());
        assert!(check("*", "*", "a\u{7}", "*").is_err());
        assert_eq!(check("*", "production", "*", "*").unwrap()[1], "production");
    }
}
