use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use reqwest::StatusCode;

/// A form body.
type Form = &'static [(&'static str, &'static str)];

/// Every role-guarded server function, with the least role that may call it.
const GUARDED: &[(&str, Form, Role)] = &[
    ("list_users", &[], Role::Admin),
    (
        "add_user",
        &[
            ("username", "newbie"),
            ("password", "long enough 1"),
            ("role", "viewer"),
        ],
        Role::Admin,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_server_functions_check_the_callers_role() {
    let app = TestApp::spawn().await;
    for (name, form, min) in GUARDED {
        // Anonymous callers are asked to sign in.
        let (status, code, _) = error_of(app.rpc(&app.client(), name, form).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "unauthenticated"),
            "{name} anonymous"
        );

        for role in Role::ALL {
            let client = app.signed_in(&format!("{name}-{role}"), role).await;
            let res = app.rpc(&client, name, form).await;
            if role.includes(*min) {
                // Allowed roles get past the check (add_user: the second admin hits the
                // taken username, which is still past the role check).
                assert!(
                    res.status().is_success() || res.status() == StatusCode::CONFLICT,
                    "{name} as {role}: {}",
                    res.status()
                );
            } else {
                let (status, code, message) = error_of(res).await;
                assert_eq!(
                    (status, code.as_str()),
                    (403, "forbidden"),
                    "{name} as {role}"
                );
                assert_eq!(message, format!("this needs the {min} role"));
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_add_people_with_validation() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let res = app
        .rpc(
            &admin,
            "add_user",
            &[
                ("username", "Vic"),
                ("password", "viewer password"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(res.status().is_success());
    let added: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (added["username"].as_str(), added["role"].as_str()),
        (Some("vic"), Some("viewer"))
    );

    let cases: &[(Form, u16, &str)] = &[
        (
            &[
                ("username", "vic"),
                ("password", "another password"),
                ("role", "viewer"),
            ],
            409,
            "conflict",
        ),
        (
            &[
                ("username", "bo"),
                ("password", "short"),
                ("role", "viewer"),
            ],
            422,
            "invalid",
        ),
        (
            &[
                ("username", "bo"),
                ("password", "long enough 1"),
                ("role", "root"),
            ],
            400,
            "bad_request",
        ),
    ];
    for (form, status, code) in cases {
        let got = error_of(app.rpc(&admin, "add_user", form).await).await;
        assert_eq!((got.0, got.1.as_str()), (*status, *code), "{form:?}");
    }
    let people: Vec<serde_json::Value> = app
        .rpc(&admin, "list_users", &[])
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<_> = people
        .iter()
        .map(|p| p["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "vic"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_people_page_is_refused_on_the_server_for_non_admins() {
    let app = TestApp::spawn().await;
    let viewer = app.signed_in("vic", Role::Viewer).await;
    let res = app.page(&viewer, "/people").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains("this needs the admin role"));
    assert!(!page.contains("Add a person"));

    let anonymous = app.page(&app.client(), "/people").await;
    assert_eq!(anonymous.status(), StatusCode::FOUND);
    assert_eq!(anonymous.headers()["location"], "/login");

    let admin = app.signed_in("root", Role::Admin).await;
    let res = app.page(&admin, "/people").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Add a person"));
    app.stop().await;
}
