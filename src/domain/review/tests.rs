//! Sequences of reviews with the expected result after each, on an injected clock (in the
//! manner of Teleport's `TestReviewThresholds`).

use super::*;

const DEADLINE: i64 = 1_000_000;

fn reqs(approvals: u32, role: Role) -> Requirements {
    Requirements {
        approvals,
        role,
        excluded: vec!["requester".into()],
        deadline_ms: Some(DEADLINE),
        confirm: None,
        only: None,
        filed_ms: None,
    }
}

/// One step: who submits what, and what the engine must answer.
struct Step {
    who: &'static str,
    role: Role,
    verdict: Verdict,
    shown: &'static str,
    typed: Option<&'static str>,
    edit: Option<(&'static str, Requirements)>,
    at: i64,
    expect: Result<Outcome, &'static str>,
}

fn approve(who: &'static str, shown: &'static str, expect: Result<Outcome, &'static str>) -> Step {
    Step {
        who,
        role: Role::Approver,
        verdict: Verdict::Approve,
        shown,
        typed: None,
        edit: None,
        at: 10,
        expect,
    }
}

fn deny(who: &'static str, shown: &'static str, expect: Result<Outcome, &'static str>) -> Step {
    Step {
        verdict: Verdict::Deny,
        ..approve(who, shown, expect)
    }
}

fn recorded(candidate: u32, approvals: u32, required: u32) -> Result<Outcome, &'static str> {
    Ok(Outcome::Recorded {
        candidate,
        approvals,
        required,
    })
}

fn approved(candidate: u32, approvals: u32) -> Result<Outcome, &'static str> {
    Ok(Outcome::Approved {
        candidate,
        approvals,
    })
}

/// Runs the steps against a subject that starts as candidate 1 with hash `h1`.
fn run(name: &str, start: Requirements, steps: Vec<Step>) {
    let mut requirements = start;
    let mut candidate = 1;
    let mut hash = "h1";
    let mut reviews: Vec<Review> = Vec::new();
    let mut open = true;
    for (i, step) in steps.into_iter().enumerate() {
        let subject = Subject {
            open,
            candidate,
            hash,
            requirements: &requirements,
            reviews: &reviews,
        };
        let submission = Submission {
            reviewer: Reviewer {
                id: step.who,
                role: step.role,
                disabled: false,
                standing: Standing::default(),
            },
            verdict: step.verdict,
            shown: step.shown,
            typed: step.typed,
            edit: step.edit.as_ref().map(|(h, r)| Edit {
                hash: h,
                requirements: r,
            }),
            now_ms: step.at,
        };
        let got = review(&subject, &submission);
        assert_eq!(
            got.as_ref().map_err(Refusal::code),
            step.expect.as_ref().map_err(|c| *c),
            "{name}, step {} ({} {:?})",
            i + 1,
            step.who,
            step.verdict
        );
        let Ok(outcome) = got else { continue };
        let c = match outcome {
            Outcome::Recorded { candidate, .. }
            | Outcome::Approved { candidate, .. }
            | Outcome::Vetoed { candidate }
            | Outcome::EditedOnly { candidate, .. } => candidate,
        };
        if c != candidate {
            let (h, r) = step.edit.expect("a new candidate comes from an edit");
            candidate = c;
            hash = h;
            requirements = r;
        }
        reviews.push(Review {
            reviewer: step.who.into(),
            role: step.role,
            active: true,
            verdict: step.verdict,
            candidate,
            qualified_since: 0,
        });
        if matches!(outcome, Outcome::Approved { .. } | Outcome::Vetoed { .. }) {
            open = false;
        }
    }
}

#[test]
fn thresholds() {
    for n in 1..=3u32 {
        let names = ["a", "b", "c"];
        let steps = (0..n)
            .map(|i| {
                let expect = if i + 1 == n {
                    approved(1, n)
                } else {
                    recorded(1, i + 1, n)
                };
                approve(names[i as usize], "h1", expect)
            })
            .chain([approve("d", "h1", Err("not_pending"))])
            .collect();
        run(&format!("{n} of N"), reqs(n, Role::Approver), steps);
    }
}

#[test]
fn sequences() {
    let stricter = Requirements {
        approvals: 2,
        role: Role::Manager,
        confirm: Some("deploy production".into()),
        ..reqs(2, Role::Manager)
    };
    let cases: Vec<(&str, Requirements, Vec<Step>)> = vec![
        (
            "one deny vetoes, even after approvals",
            reqs(3, Role::Approver),
            vec![
                approve("a", "h1", recorded(1, 1, 3)),
                deny("b", "h1", Ok(Outcome::Vetoed { candidate: 1 })),
                approve("c", "h1", Err("not_pending")),
            ],
        ),
        (
            "the same person never counts twice",
            reqs(2, Role::Approver),
            vec![
                approve("a", "h1", recorded(1, 1, 2)),
                approve("a", "h1", Err("duplicate_reviewer")),
                deny("a", "h1", Err("duplicate_reviewer")),
                approve("b", "h1", approved(1, 2)),
            ],
        ),
        (
            "a review of what is no longer the candidate is refused",
            reqs(2, Role::Approver),
            vec![
                approve("a", "h0", Err("stale_view")),
                deny("a", "h0", Err("stale_view")),
                approve("a", "h1", recorded(1, 1, 2)),
            ],
        ),
        (
            "an edit resets earlier approvals: two people approve the same final arguments",
            reqs(2, Role::Approver),
            vec![
                approve("a", "h1", recorded(1, 1, 2)),
                Step {
                    edit: Some(("h2", reqs(2, Role::Approver))),
                    ..approve("b", "h1", recorded(2, 1, 2))
                },
                // A's card still shows candidate 1.
                approve("a", "h1", Err("stale_view")),
                approve("c", "h2", approved(2, 2)),
            ],
        ),
        (
            "the first approver may approve the edited version too",
            reqs(2, Role::Approver),
            vec![
                approve("a", "h1", recorded(1, 1, 2)),
                Step {
                    edit: Some(("h2", reqs(2, Role::Approver))),
                    ..approve("b", "h1", recorded(2, 1, 2))
                },
                approve("a", "h2", approved(2, 2)),
            ],
        ),
        (
            "an edit that needs a higher role: the editor's approval does not count",
            reqs(1, Role::Approver),
            vec![
                Step {
                    typed: Some("deploy production"),
                    edit: Some(("h2", stricter.clone())),
                    ..approve(
                        "b",
                        "h1",
                        Ok(Outcome::EditedOnly {
                            candidate: 2,
                            why: Refusal::NotEligible {
                                needs: Role::Manager,
                                disabled: false,
                            },
                        }),
                    )
                },
                approve("b", "h2", Err("not_eligible")),
                Step {
                    role: Role::Manager,
                    ..approve("m1", "h2", Err("confirmation_mismatch"))
                },
                Step {
                    role: Role::Manager,
                    typed: Some(" deploy production "),
                    ..approve("m1", "h2", recorded(2, 1, 2))
                },
                Step {
                    role: Role::Admin,
                    typed: Some("deploy production"),
                    ..approve("m2", "h2", approved(2, 2))
                },
            ],
        ),
        (
            "an editor who qualifies counts under the raised requirements",
            reqs(1, Role::Approver),
            vec![
                Step {
                    role: Role::Manager,
                    typed: Some("deploy production"),
                    edit: Some(("h2", stricter.clone())),
                    ..approve("m1", "h1", recorded(2, 1, 2))
                },
                Step {
                    role: Role::Manager,
                    typed: Some("deploy production"),
                    ..approve("m2", "h2", approved(2, 2))
                },
            ],
        ),
        (
            "an edit whose phrase the editor did not type is refused",
            reqs(1, Role::Approver),
            vec![
                Step {
                    role: Role::Manager,
                    typed: Some("deploy staging"),
                    edit: Some(("h2", stricter.clone())),
                    ..approve("m1", "h1", Err("confirmation_mismatch"))
                },
                Step {
                    role: Role::Manager,
                    typed: Some("deploy production"),
                    edit: Some(("h2", stricter.clone())),
                    ..approve("m1", "h1", recorded(2, 1, 2))
                },
            ],
        ),
        (
            "an editor who does not qualify cannot edit the new version again",
            reqs(1, Role::Approver),
            vec![
                Step {
                    edit: Some(("h2", reqs(1, Role::Manager))),
                    ..approve(
                        "b",
                        "h1",
                        Ok(Outcome::EditedOnly {
                            candidate: 2,
                            why: Refusal::NotEligible {
                                needs: Role::Manager,
                                disabled: false,
                            },
                        }),
                    )
                },
                Step {
                    role: Role::Manager,
                    ..approve("m", "h2", approved(2, 1))
                },
            ],
        ),
        (
            "an edit to the same snapshot is a plain approval",
            reqs(1, Role::Approver),
            vec![Step {
                edit: Some(("h1", reqs(1, Role::Approver))),
                ..approve("a", "h1", approved(1, 1))
            }],
        ),
        (
            "eligibility: role, requester, disabled",
            reqs(1, Role::Manager),
            vec![
                approve("a", "h1", Err("not_eligible")),
                Step {
                    role: Role::Admin,
                    ..approve("requester", "h1", Err("self_review"))
                },
                Step {
                    role: Role::Viewer,
                    ..deny("v", "h1", Err("not_eligible"))
                },
                Step {
                    role: Role::Manager,
                    ..approve("m", "h1", approved(1, 1))
                },
            ],
        ),
        (
            "the deadline, to the millisecond",
            reqs(2, Role::Approver),
            vec![
                Step {
                    at: DEADLINE - 1,
                    ..approve("a", "h1", recorded(1, 1, 2))
                },
                Step {
                    at: DEADLINE,
                    ..approve("b", "h1", Err("deadline_passed"))
                },
                Step {
                    at: DEADLINE + 1,
                    ..deny("c", "h1", Err("deadline_passed"))
                },
            ],
        ),
    ];
    for (name, start, steps) in cases {
        run(name, start, steps);
    }
}

#[test]
fn counting_ignores_ineligible_excluded_and_other_candidates() {
    let r = |who: &str, role, verdict, candidate| Review {
        reviewer: who.into(),
        role,
        active: who != "gone",
        verdict,
        candidate,
        qualified_since: 0,
    };
    let reviews = [
        r("a", Role::Manager, Verdict::Approve, 2),
        r("a", Role::Manager, Verdict::Approve, 2),
        r("b", Role::Approver, Verdict::Approve, 2),
        r("c", Role::Manager, Verdict::Approve, 1),
        r("requester", Role::Admin, Verdict::Approve, 2),
        r("d", Role::Admin, Verdict::Deny, 2),
        r("e", Role::Admin, Verdict::Approve, 2),
        r("gone", Role::Admin, Verdict::Approve, 2),
    ];
    assert_eq!(approvals(&reviews, 2, &reqs(1, Role::Manager)), 2);
    assert_eq!(approvals(&reviews, 2, &reqs(1, Role::Approver)), 3);
    assert_eq!(approvals(&reviews, 1, &reqs(1, Role::Approver)), 1);
}

#[test]
fn a_disabled_account_is_not_eligible() {
    let requirements = reqs(1, Role::Approver);
    let subject = Subject {
        open: true,
        candidate: 1,
        hash: "h1",
        requirements: &requirements,
        reviews: &[],
    };
    let reviewer = Reviewer {
        id: "a",
        role: Role::Admin,
        disabled: true,
        standing: Standing::default(),
    };
    let refusal = may_review(&subject, reviewer, 0).unwrap_err();
    assert_eq!(refusal.code(), "not_eligible");
    assert_eq!(refusal.to_string(), "this account is disabled");
}

/// Eligibility from before the request: a subject filed at `FILED`, and reviewers whose
/// qualification began before, at, or after it, or who are cooling off after a reset.
#[test]
fn reviewers_qualify_only_from_before_the_subject() {
    const FILED: i64 = 100;
    let requirements = Requirements {
        filed_ms: Some(FILED),
        ..reqs(2, Role::Manager)
    };
    let subject = Subject {
        open: true,
        candidate: 1,
        hash: "h1",
        requirements: &requirements,
        reviews: &[],
    };
    let standing = |since_ms, by, cooling_until_ms| Standing {
        since_ms,
        by,
        cooling_until_ms,
    };
    use QualifiedBy::*;
    let cases: [(&str, Standing, i64, Result<(), &str>); 9] = [
        (
            "created long before",
            standing(0, Created, None),
            200,
            Ok(()),
        ),
        (
            "qualified at the instant it was filed",
            standing(FILED, RoleRaised, None),
            200,
            Ok(()),
        ),
        (
            "created after",
            standing(101, Created, None),
            200,
            Err("your account was created after"),
        ),
        (
            "promoted after",
            standing(150, RoleRaised, None),
            200,
            Err("your role became manager after"),
        ),
        (
            "enabled again after",
            standing(150, Enabled, None),
            200,
            Err("enabled again after"),
        ),
        (
            "password reset after",
            standing(150, PasswordReset, None),
            200,
            Err("reset your password"),
        ),
        (
            "reset before, still cooling",
            standing(50, PasswordReset, Some(300)),
            200,
            Err("again from 1970-01-01 00:00 UTC"),
        ),
        (
            "reset before, cooling over",
            standing(50, PasswordReset, Some(150)),
            200,
            Ok(()),
        ),
        (
            "cooling ends exactly now",
            standing(50, PasswordReset, Some(200)),
            200,
            Ok(()),
        ),
    ];
    for (name, standing, now, want) in cases {
        let reviewer = Reviewer {
            id: "m",
            role: Role::Manager,
            disabled: false,
            standing,
        };
        match (may_review(&subject, reviewer, now), want) {
            (Ok(()), Ok(())) => {}
            (Err(refusal), Err(part)) => {
                assert_eq!(refusal.code(), "not_eligible", "{name}");
                assert!(refusal.to_string().contains(part), "{name}: {refusal}");
            }
            (got, want) => panic!("{name}: got {got:?}, wanted {want:?}"),
        }
    }
    // Without `filed_ms` (an ordinary call) none of this applies.
    let plain = reqs(1, Role::Approver);
    let subject = Subject {
        requirements: &plain,
        ..subject
    };
    let late = Reviewer {
        id: "m",
        role: Role::Manager,
        disabled: false,
        standing: standing(150, PasswordReset, Some(300)),
    };
    assert_eq!(may_review(&subject, late, 200), Ok(()));
}

/// A recorded approval stops counting once its reviewer's qualification restarts after
/// the subject was filed (demoted and promoted again, disabled and enabled, reset).
#[test]
fn recorded_approvals_stop_counting_when_qualification_restarts() {
    let requirements = Requirements {
        filed_ms: Some(100),
        ..reqs(1, Role::Manager)
    };
    let r = |who: &str, qualified_since| Review {
        reviewer: who.into(),
        role: Role::Manager,
        active: true,
        verdict: Verdict::Approve,
        candidate: 1,
        qualified_since,
    };
    let reviews = [r("a", 10), r("b", 100), r("c", 101), r("d", 5_000)];
    assert_eq!(approvals(&reviews, 1, &requirements), 2);
    assert_eq!(approvals(&reviews, 1, &reqs(1, Role::Manager)), 4);
}
