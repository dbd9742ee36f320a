//! Filters of the org-wide app list (`/apps?filter=…`, `status`, `apiProduct`, `keyStatus`).

mod common;

use common::{Server, assert_x_error};
use serde_json::{Value, json};

fn names(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["app"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| a["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn org_apps_can_be_filtered() {
    let s = Server::start("x", &[]);
    let web = s.seed("one@example.com", "p1", "web").await;
    s.seed("two@example.com", "p1", "cli").await;
    s.post("apiproducts", json!({"name": "p2", "displayName": "P2"}))
        .await
        .expect(201);
    s.post(
        "developers/two%40example.com/apps",
        json!({"name": "batch", "apiProducts": ["p2"]}),
    )
    .await
    .expect(201);
    s.action("developers/two%40example.com/apps/cli?action=revoke")
        .await
        .expect(204);

    let key = web["credentials"][0]["consumerKey"].as_str().unwrap();
    let by_key = s
        .get(&format!("apps?expand=true&filter=consumerKey={key}"))
        .await
        .expect(200)
        .body;
    assert_eq!(names(&by_key), ["web"]);
    assert_eq!(
        s.get("apps?expand=true&filter=consumerKey=nope")
            .await
            .expect(200)
            .body,
        json!({})
    );
    // [DISC] organizations.apps.list: `status` defaults to `approved`, so the revoked
    // `cli` shows only when asked for (tests/server_docs.rs has the full story).
    let by_dev = s
        .get("apps?expand=true&filter=developerEmail=two%40example.com")
        .await
        .body;
    assert_eq!(names(&by_dev), ["batch"]);
    let by_dev = s
        .get("apps?expand=true&filter=developerEmail=two%40example.com&status=revoked")
        .await
        .body;
    assert_eq!(names(&by_dev), ["cli"]);
    assert_eq!(
        names(&s.get("apps?expand=true&status=revoked").await.body),
        ["cli"]
    );
    assert_eq!(
        names(
            &s.get("apps?expand=true&filter=status%3Dapproved")
                .await
                .body
        ),
        ["batch", "web"]
    );
    assert_eq!(
        names(&s.get("apps?expand=true&apiProduct=p2").await.body),
        ["batch"]
    );
    assert_eq!(
        names(
            &s.get("apps?expand=true&filter=appName=cli&status=revoked")
                .await
                .body
        ),
        ["cli"]
    );
    assert_eq!(s.get("apps?filter=appType=AppGroup").await.body, json!({}));
    assert_eq!(
        names(
            &s.get("apps?expand=true&filter=appType=Developer&pageSize=2")
                .await
                .body
        )
        .len(),
        2
    );
    let stubs = s.get("apps?filter=appName=web").await.body;
    assert_eq!(
        stubs["app"][0].as_object().unwrap().len(),
        1,
        "stubs carry only appId"
    );
    let bad = s.get("apps?filter=color=red").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    let bad = s.get("apps?filter=nonsense").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");

    let edge = Server::start("edge", &[]);
    edge.seed("e@example.com", "p", "a1").await;
    edge.post("developers/e%40example.com/apps", json!({"name": "a2"}))
        .await
        .expect(201);
    edge.action("developers/e%40example.com/apps/a2?action=revoke")
        .await
        .expect(204);
    let revoked = edge
        .get("apps?expand=true&status=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(names(&revoked), ["a2"]);
    assert_eq!(
        edge.get("apps?status=approved")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
