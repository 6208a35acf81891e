use super::*;
use serde_json::json;

fn workflow(on: OnDeadline, to: Option<Audience>, escalate_ms: i64) -> Workflow {
    Workflow {
        on_deadline: on,
        escalate_ms: to.as_ref().map(|_| escalate_ms),
        escalate_to: to,
        ..Workflow::default()
    }
}

#[test]
fn deadline_outcomes_and_escalation_sequences() {
    let managers = Some(Audience::Role(Role::Manager));
    let day = 24 * 3600 * 1000;
    let cases = [
        (
            "expire by default",
            Workflow::default(),
            false,
            0,
            1000,
            DeadlineStep::Expire,
        ),
        (
            "deny",
            workflow(OnDeadline::Deny, None, 0),
            false,
            0,
            1000,
            DeadlineStep::Deny,
        ),
        (
            "deny even after an escalation",
            workflow(OnDeadline::Deny, managers.clone(), 500),
            true,
            0,
            1000,
            DeadlineStep::Deny,
        ),
        (
            "escalate once, with a new deadline",
            workflow(OnDeadline::Escalate, managers.clone(), 500),
            false,
            0,
            1000,
            DeadlineStep::Escalate {
                to: Audience::Role(Role::Manager),
                deadline_ms: 1500,
            },
        ),
        (
            "then expire",
            workflow(OnDeadline::Escalate, managers.clone(), 500),
            true,
            0,
            1500,
            DeadlineStep::Expire,
        ),
        (
            "escalation stops at the hard cap",
            workflow(OnDeadline::Escalate, managers.clone(), 10 * day),
            false,
            0,
            25 * day,
            DeadlineStep::Escalate {
                to: Audience::Role(Role::Manager),
                deadline_ms: HARD_CAP_MS,
            },
        ),
        (
            "at the hard cap already: expire",
            workflow(OnDeadline::Escalate, managers.clone(), day),
            false,
            0,
            HARD_CAP_MS,
            DeadlineStep::Expire,
        ),
        (
            "to a group",
            workflow(
                OnDeadline::Escalate,
                Some(Audience::Group("oncall".into())),
                60_000,
            ),
            false,
            100,
            1000,
            DeadlineStep::Escalate {
                to: Audience::Group("oncall".into()),
                deadline_ms: 61_000,
            },
        ),
    ];
    for (name, w, escalated, created, deadline, want) in cases {
        assert_eq!(
            at_deadline(&w, escalated, created, deadline),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_rule_without_a_fallback_never_escalates() {
    let settings = GateSettings {
        on_deadline: OnDeadline::Escalate,
        ..GateSettings::default()
    };
    assert_eq!(
        Workflow::of(&settings, &Default::default()).on_deadline,
        OnDeadline::Expire
    );
    let settings = GateSettings {
        on_deadline: OnDeadline::Escalate,
        escalate_to: Some("manager".into()),
        deadline_secs: 60,
        ..GateSettings::default()
    };
    let w = Workflow::of(&settings, &Default::default());
    assert_eq!(w.escalate_to, Some(Audience::Role(Role::Manager)));
    assert_eq!(
        w.escalate_ms,
        Some(60_000),
        "defaults to the rule's deadline"
    );
    let plain = Workflow::of(&GateSettings::default(), &Default::default());
    assert_eq!(
        plain.extend_max_ms,
        Some(3_600_000),
        "extensions up to the deadline"
    );
    assert_eq!(plain.grant, None);
}

/// (name, workflow, deadline, extensions so far, amount, now, expected)
type ExtendCase<'a> = (
    &'a str,
    &'a Workflow,
    i64,
    u32,
    i64,
    i64,
    Result<i64, ExtendRefusal>,
);

#[test]
fn extension_caps() {
    let w = Workflow::default();
    let capped = Workflow {
        extend_max_ms: Some(5_000),
        ..Workflow::default()
    };
    let hour = 3_600_000;
    let cases: [ExtendCase; 8] = [
        (
            "up to the rule's deadline",
            &w,
            10_000,
            0,
            hour,
            0,
            Ok(10_000 + hour),
        ),
        ("second extension", &w, 10_000, 1, 1_000, 9_999, Ok(11_000)),
        (
            "a third is refused",
            &w,
            10_000,
            2,
            1_000,
            0,
            Err(ExtendRefusal::NoneLeft),
        ),
        (
            "at the deadline: too late",
            &w,
            10_000,
            0,
            1_000,
            10_000,
            Err(ExtendRefusal::TooLate),
        ),
        (
            "more than the rule's deadline",
            &w,
            10_000,
            0,
            hour + 1,
            0,
            Err(ExtendRefusal::BadAmount { max_ms: hour }),
        ),
        (
            "more than the rule allows",
            &capped,
            10_000,
            0,
            5_001,
            0,
            Err(ExtendRefusal::BadAmount { max_ms: 5_000 }),
        ),
        (
            "nothing",
            &w,
            10_000,
            0,
            0,
            0,
            Err(ExtendRefusal::BadAmount { max_ms: hour }),
        ),
        (
            "past the hard cap",
            &w,
            HARD_CAP_MS - 10,
            0,
            1_000,
            0,
            Err(ExtendRefusal::PastCap {
                cap_ms: HARD_CAP_MS,
            }),
        ),
    ];
    for (name, w, deadline, extensions, add, now, want) in cases {
        assert_eq!(
            extend(w, 0, hour, deadline, extensions, add, now),
            want,
            "{name}"
        );
    }
}

#[test]
fn grant_matching_identical_versus_decisive_arguments() {
    let identical = GrantTerms {
        max_ms: 1,
        max_uses: 1,
        pointers: vec![],
    };
    let by_service = GrantTerms {
        pointers: vec!["/service".into()],
        ..identical.clone()
    };
    let args = json!({ "service": "api", "lines": 100 });
    let same = GrantMatch::of(&identical, true, &args, "h1").unwrap();
    assert_eq!(
        same,
        GrantMatch::Identical("h1".into()),
        "no pointers: identical only"
    );
    assert!(same.covers(&args, "h1"));
    assert!(!same.covers(&json!({ "service": "api", "lines": 5 }), "h2"));

    let asked_identical = GrantMatch::of(&by_service, false, &args, "h1").unwrap();
    assert_eq!(asked_identical, GrantMatch::Identical("h1".into()));

    let similar = GrantMatch::of(&by_service, true, &args, "h1").unwrap();
    let cases = [
        (json!({ "service": "api", "lines": 5 }), true),
        (json!({ "service": "api" }), true),
        (json!({ "service": "web", "lines": 100 }), false),
        (json!({ "lines": 100 }), false),
        (json!({ "service": ["api"] }), false),
    ];
    for (other, want) in cases {
        assert_eq!(similar.covers(&other, "other"), want, "{other}");
    }
    assert_eq!(similar.describe(), "/service = \"api\"");
    assert!(GrantMatch::of(&by_service, true, &json!({ "lines": 1 }), "h").is_err());
}

#[test]
fn grants_are_refused_where_one_word_is_not_enough() {
    let cases = [
        (vec![], false, 1, false),
        (vec![RiskClass::Production], false, 1, false),
        (vec![RiskClass::Destructive], false, 1, true),
        (
            vec![RiskClass::Financial, RiskClass::Irreversible],
            false,
            1,
            true,
        ),
        (vec![], true, 1, true),
        (vec![], false, 2, true),
    ];
    for (risk, confirm, approvals, refused) in cases {
        assert_eq!(
            grant_refusal(&risk, confirm, approvals).is_some(),
            refused,
            "{risk:?} confirm={confirm} approvals={approvals}"
        );
    }
}

#[test]
fn audiences() {
    assert_eq!(
        Audience::parse("manager"),
        Ok(Audience::Role(Role::Manager))
    );
    assert_eq!(
        Audience::parse("group:on-call"),
        Ok(Audience::Group("on-call".into()))
    );
    assert!(Audience::parse("viewer").is_err());
    assert!(Audience::parse("group:").is_err());
    assert!(Audience::parse("group:a b").is_err());
    assert!(Audience::parse("boss").is_err());
    assert_eq!(Audience::Role(Role::Manager).describe(), "managers");
    assert_eq!(Audience::Group("oncall".into()).as_text(), "group:oncall");
}
