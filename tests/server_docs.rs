//! `serve` as the Apigee docs say, in their least forgiving reading (issue 9, part 5). Each
//! test cites its source tag from spec/apigee-api.md §8.

mod common;

use common::{Server, assert_x_error};
use serde_json::{Value, json};

/// Names of the apps of an expanded list, sorted.
fn app_names(body: &Value) -> Vec<String> {
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

/// Consumer keys' statuses of one app of an expanded list.
fn key_statuses(body: &Value, app: &str) -> Vec<String> {
    let apps = body["app"].as_array().unwrap();
    let a = apps.iter().find(|a| a["name"] == app).unwrap();
    a["credentials"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|k| k["status"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A developer with apps `web` (approved, one approved and one revoked key) and `cli`
/// (revoked).
async fn revoked_fixture(s: &Server) {
    let web = s.seed("one@example.com", "p1", "web").await;
    let first = web["credentials"][0]["consumerKey"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(
        "developers/one%40example.com/apps/web",
        json!({"apiProducts": ["p1"]}),
    )
    .await
    .expect(200);
    s.action(&format!(
        "developers/one%40example.com/apps/web/keys/{first}?action=revoke"
    ))
    .await
    .expect(204);
    s.post("developers/one%40example.com/apps", json!({"name": "cli"}))
        .await
        .expect(201);
    s.action("developers/one%40example.com/apps/cli?action=revoke")
        .await
        .expect(204);
}

// [DISC] organizations.apps.list: "status … Valid values are `approved` or `revoked`.
// Defaults to `approved`." and "keyStatus … Key status of the app. Valid values include
// `approved` or `revoked`. Defaults to `approved`." keyStatus filters the keys shown, not the
// apps (see server/routes/app_filter.rs).
#[tokio::test]
async fn x_org_apps_default_to_approved_apps_and_keys() {
    let s = Server::start("x", &[]);
    revoked_fixture(&s).await;

    let plain = s.get("apps?expand=true").await.expect(200).body;
    assert_eq!(
        app_names(&plain),
        ["web"],
        "a revoked app is absent by default"
    );
    assert_eq!(
        key_statuses(&plain, "web"),
        ["approved"],
        "revoked keys are absent by default"
    );
    let ids = s.get("apps").await.expect(200).body;
    assert_eq!(ids["app"].as_array().unwrap().len(), 1);

    let revoked = s
        .get("apps?expand=true&status=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(app_names(&revoked), ["cli"]);
    let revoked_keys = s
        .get("apps?expand=true&keyStatus=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(app_names(&revoked_keys), ["web"]);
    assert_eq!(key_statuses(&revoked_keys, "web"), ["revoked"]);
    let both = s
        .get("apps?expand=true&status=revoked&keyStatus=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(app_names(&both), ["cli"]);
    assert_eq!(
        key_statuses(&both, "cli"),
        Vec::<String>::new(),
        "cli's key is approved"
    );

    // `ids` and `filter` are filters on top of the default, not a way around it.
    let cli_id = revoked["app"][0]["appId"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&format!("apps?ids={cli_id}")).await.expect(200).body,
        json!({})
    );
    assert_eq!(
        s.get("apps?filter=appName=cli").await.expect(200).body,
        json!({})
    );
    let bad = s.get("apps?status=all").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    let bad = s.get("apps?keyStatus=pending").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
}

// [EOAS] listApps documents `status` ("Valid values include `approved` or `revoked`") with no
// default, and `keyStatus` only appears in clients [PHP-appctl][PERL]: on Edge both apply
// only when given, so the plain list holds revoked apps and keys.
#[tokio::test]
async fn edge_org_apps_filter_status_only_when_asked() {
    let s = Server::start("edge", &[]);
    revoked_fixture(&s).await;
    let plain = s.get("apps?expand=true").await.expect(200).body;
    assert_eq!(app_names(&plain), ["cli", "web"]);
    let mut web = key_statuses(&plain, "web");
    web.sort();
    assert_eq!(web, ["approved", "revoked"]);
    assert_eq!(s.get("apps").await.body.as_array().unwrap().len(), 2);
    let revoked = s
        .get("apps?expand=true&status=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(app_names(&revoked), ["cli"]);
    let approved_keys = s.get("apps?expand=true&keyStatus=approved").await.body;
    assert_eq!(key_statuses(&approved_keys, "web"), ["approved"]);
}

// [DISC] organizations.apps.list: `pageSize` ("at most 1000 … values above 1000 will be
// coerced to 1000"), `pageToken`; ListAppsResponse {app, nextPageToken, totalSize}. The
// token is opaque; the order (appId) is stable; totalSize counts every matching app.
#[tokio::test]
async fn x_org_apps_page_with_tokens() {
    let s = Server::start("x", &[]);
    s.seed("one@example.com", "p1", "a0").await;
    for i in 1..7 {
        s.post(
            "developers/one%40example.com/apps",
            json!({"name": format!("a{i}")}),
        )
        .await
        .expect(201);
    }
    s.action("developers/one%40example.com/apps/a3?action=revoke")
        .await
        .expect(204);

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!("apps?expand=true&pageSize=2&pageToken={t}"),
            None => "apps?expand=true&pageSize=2".to_string(),
        };
        let body = s.get(&path).await.expect(200).body;
        pages += 1;
        assert_eq!(body["totalSize"], 6, "approved apps only: {body}");
        let items = body["app"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|a| a["appId"].as_str().unwrap().to_string()),
        );
        match body.get("nextPageToken") {
            Some(t) => {
                let t = t.as_str().unwrap().to_string();
                assert!(!seen.contains(&t), "the token is not an appId");
                token = Some(t);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "stable appId order, no repeats");
    assert_eq!(seen.len(), 6);

    // The revoked app pages the same way when asked for.
    let revoked = s
        .get("apps?pageSize=5&status=revoked")
        .await
        .expect(200)
        .body;
    assert_eq!(revoked["totalSize"], 1);
    assert!(revoked.get("nextPageToken").is_none());
    // Coerced to 1000, and a foreign token is refused.
    let all = s.get("apps?pageSize=5000").await.expect(200).body;
    assert_eq!(all["app"].as_array().unwrap().len(), 6);
    let bad = s.get(&format!("apps?pageToken={}", seen[0])).await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    // `rows`/`startKey` still page as before, without tokens.
    let rows = s
        .get(&format!("apps?rows=2&startKey={}", seen[1]))
        .await
        .expect(200)
        .body;
    assert_eq!(rows["app"][0]["appId"], seen[1].as_str());
    assert!(rows.get("nextPageToken").is_none());
}

/// A developer per email and apps `app-00`… under `dev`.
async fn many(s: &Server, devs: usize, apps: usize) {
    s.seed("dev@example.com", "p", "app-00").await;
    for i in 1..apps {
        s.post(
            "developers/dev%40example.com/apps",
            json!({"name": format!("app-{i:02}")}),
        )
        .await
        .expect(201);
    }
    for i in 0..devs {
        s.post(
            "developers",
            json!({"email": format!("d{i:02}@example.com"), "firstName": "F", "lastName": "L", "userName": "u"}),
        )
        .await
        .expect(201);
    }
}

fn emails(body: &Value) -> Vec<String> {
    body["developer"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["email"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

// [DISC] developers.list and developers.apps.list: `expand` "is not valid if you use the
// `count` or `startKey` query parameters". Default mode accepts the combination as
// published clients send it ([DEVREL-x] sends expand=true&count=1000&startKey=…).
#[tokio::test]
async fn expand_with_paging_pages_by_default() {
    let s = Server::start("x", &[]);
    many(&s, 4, 4).await;
    let page = s
        .get("developers?expand=true&count=2&startKey=d01%40example.com")
        .await
        .expect(200)
        .body;
    assert_eq!(emails(&page), ["d01@example.com", "d02@example.com"]);
    let apps = s
        .get("developers/dev%40example.com/apps?expand=true&count=2&startKey=app-02")
        .await
        .expect(200)
        .body;
    assert_eq!(app_names(&apps), ["app-02", "app-03"]);
}

// Same source, strictest reading (`serve --strict-paging`): next to expand=true, count and
// startKey are ignored and the list starts at the top, capped at 1,000 (Edge developer
// apps: 100, "not paginated" [PHP-commit a3e2adc]). Products keep paging: [DISC]
// apiproducts.list allows expand with count/startKey.
#[tokio::test]
async fn strict_paging_ignores_count_and_start_key_next_to_expand() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &["--strict-paging"]);
        many(&s, 4, 4).await;
        let page = s
            .get("developers?expand=true&count=2&startKey=d01%40example.com")
            .await
            .expect(200)
            .body;
        assert_eq!(
            emails(&page),
            [
                "d00@example.com",
                "d01@example.com",
                "d02@example.com",
                "d03@example.com",
                "dev@example.com"
            ],
            "{flavor}"
        );
        let apps = s
            .get("developers/dev%40example.com/apps?expand=true&count=2&startKey=app-02")
            .await
            .expect(200)
            .body;
        assert_eq!(
            app_names(&apps),
            ["app-00", "app-01", "app-02", "app-03"],
            "{flavor}"
        );
        // Without expand, paging still applies.
        let names = s
            .get("developers?count=2&startKey=d01%40example.com")
            .await
            .expect(200)
            .body;
        let n = match flavor {
            "x" => names["developer"].as_array().unwrap().len(),
            _ => names.as_array().unwrap().len(),
        };
        assert_eq!(n, 2, "{flavor}");
        // Products page with expand even in strict mode.
        for p in ["q1", "q2", "q3"] {
            s.post("apiproducts", json!({"name": p, "displayName": p}))
                .await
                .expect(201);
        }
        let products = s
            .get("apiproducts?expand=true&count=2&startKey=q1")
            .await
            .expect(200)
            .body;
        let got: Vec<&str> = products["apiProduct"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["q1", "q2"], "{flavor}");
    }
}

// [DISC] developers.list: "The limit is 1000"; under --strict-paging an expanded list with
// paging parameters answers the first 1,000 and no more, whatever `count` asks.
#[tokio::test]
async fn strict_paging_caps_expanded_developers_at_1000() {
    let s = Server::start("x", &["--strict-paging"]);
    for i in 0..1001 {
        s.post(
            "developers",
            json!({"email": format!("d{i:04}@example.com"), "firstName": "F", "lastName": "L", "userName": "u"}),
        )
        .await
        .expect(201);
    }
    let body = s
        .get("developers?expand=true&count=1000&startKey=d0500%40example.com")
        .await
        .expect(200)
        .body;
    let got = emails(&body);
    assert_eq!(got.len(), 1000);
    assert_eq!(got[0], "d0000@example.com");
    assert_eq!(got[999], "d0999@example.com");
}

// Issue 9 (spec §4.5 [PHP-pagination]): a published Python Edge client sends `startKey=` on
// every first page; an empty startKey is the same as none, on every list of both flavours.
#[tokio::test]
async fn empty_start_key_is_absent_on_every_list() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &[]);
        s.seed("one@example.com", "p1", "web").await;
        for path in [
            "developers?startKey=&count=10",
            "developers?expand=true&startKey=",
            "apiproducts?startKey=&count=",
            "apiproducts?expand=true&startKey=",
            "developers/one%40example.com/apps?startKey=&count=10",
            "developers/one%40example.com/apps?expand=true&startKey=",
            "apps?startKey=&rows=10",
            "apps?expand=true&startKey=&rows=",
        ] {
            let r = s.get(path).await;
            assert_eq!(r.status, 200, "{flavor} {path}: {}", r.text);
            let n = match &r.body {
                Value::Array(a) => a.len(),
                Value::Object(o) => o
                    .values()
                    .next()
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
                _ => 0,
            };
            assert_eq!(n, 1, "{flavor} {path}: {}", r.text);
        }
    }
}

// [EOAS] getOrganization (Edge: `properties.property[]`, `type`, `environments`) and [DISC]
// organizations.get → GoogleCloudApigeeV1Organization (X). apigee-edge-js reads the org first
// when it connects with basic auth [EDGEJS-conn].
#[tokio::test]
async fn organization_profile_on_both_flavours() {
    let edge = Server::start("edge", &[]);
    let org = edge.get("/v1/organizations/local").await.expect(200).body;
    assert_eq!(org["name"], "local");
    assert_eq!(org["type"], "paid");
    assert!(!org["environments"].as_array().unwrap().is_empty());
    assert!(org["createdAt"].is_number());
    let props = org["properties"]["property"].as_array().unwrap();
    assert!(
        props
            .iter()
            .all(|p| p["name"].is_string() && p["value"].is_string())
    );
    assert_eq!(edge.get("/v1/o/local").await.expect(200).body, org);
    let missing = edge.get("/v1/organizations/other").await;
    assert_eq!(missing.status, 404);

    let x = Server::start("x", &[]);
    let org = x.get("/v1/organizations/local").await.expect(200).body;
    assert_eq!(org["name"], "local");
    assert_eq!(org["state"], "ACTIVE");
    assert_eq!(org["runtimeType"], "CLOUD");
    assert!(org["createdAt"].is_string(), "int64 as a string on X");
    assert_eq!(
        x.get("/v1/o/local").await.status,
        404,
        "X has no /v1/o alias"
    );
}

// Issue 9 / apigee-edge-js `apiproduct.update` [EDGEJS-lib]: Edge takes POST
// /apiproducts/{name} as an update (200, the product). X documents no such method.
#[tokio::test]
async fn edge_post_to_a_product_updates_it() {
    let s = Server::start("edge", &[]);
    s.post(
        "apiproducts",
        json!({"name": "p", "displayName": "P", "approvalType": "auto"}),
    )
    .await
    .expect(201);
    let updated = s
        .post(
            "apiproducts/p",
            json!({"name": "p", "displayName": "P2", "approvalType": "manual",
                   "attributes": [{"name": "tool", "value": "nodejs"}]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["displayName"], "P2");
    assert_eq!(updated["approvalType"], "manual");
    assert_eq!(s.get("apiproducts/p").await.body["displayName"], "P2");
    let x = Server::start("x", &[]);
    x.post("apiproducts", json!({"name": "p", "displayName": "P"}))
        .await
        .expect(201);
    assert_eq!(
        x.post("apiproducts/p", json!({"displayName": "P2"}))
            .await
            .status,
        405
    );
}

// [PHP-devctl] (spec §4.3 listDevelopers): Edge `?app=NAME` answers `{"developer":[…]}` with
// full developers, and 200 with an empty array when nothing matches.
#[tokio::test]
async fn edge_developers_by_app_are_wrapped_full_objects() {
    let s = Server::start("edge", &[]);
    s.seed("one@example.com", "p1", "web").await;
    s.seed("two@example.com", "p1", "cli").await;
    let body = s.get("developers?app=web").await.expect(200).body;
    let devs = body["developer"].as_array().unwrap();
    assert_eq!(devs.len(), 1);
    assert_eq!(devs[0]["email"], "one@example.com");
    assert_eq!(devs[0]["firstName"], "Ada");
    assert_eq!(devs[0]["apps"], json!(["web"]));
    assert_eq!(
        s.get("developers?app=none").await.expect(200).body,
        json!({"developer": []})
    );
}

// [EOAS] approveRevokeGenerateAPIKey: Edge documents a body {"status": "approve|revoke"} on
// POST …/apps/{app}: it sets the status, mints no key, leaves attributes alone.
#[tokio::test]
async fn edge_app_post_with_a_status_body_sets_the_status() {
    let s = Server::start("edge", &[]);
    s.seed("one@example.com", "p1", "web").await;
    let path = "developers/one%40example.com/apps/web";
    s.post(
        &format!("{path}/attributes"),
        json!({"attribute": [{"name": "DisplayName", "value": "Web"}]}),
    )
    .await
    .expect(200);
    let revoked = s
        .post(path, json!({"status": "revoke"}))
        .await
        .expect(200)
        .body;
    assert_eq!(revoked["status"], "revoked");
    let got = s.get(path).await.expect(200).body;
    assert_eq!(got["status"], "revoked");
    assert_eq!(
        got["credentials"].as_array().unwrap().len(),
        1,
        "no key minted"
    );
    assert_eq!(
        got["attributes"],
        json!([{"name": "DisplayName", "value": "Web"}])
    );
    let approved = s
        .post(path, json!({"status": "approve"}))
        .await
        .expect(200)
        .body;
    assert_eq!(approved["status"], "approved");
    let bad = s.post(path, json!({"status": "paused"})).await;
    assert_eq!(bad.status, 400);
    // With key-generation members it is still a key generation.
    s.post(path, json!({"status": "approve", "apiProducts": ["p1"]}))
        .await
        .expect(200);
    assert_eq!(
        s.get(path).await.body["credentials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// [DISC] apiproducts.list `attributename`/`attributevalue`; [EOAS] listAPIProducts "Filter
// the list by passing an `attributename` and `attibutevalue`".
#[tokio::test]
async fn product_lists_filter_by_attribute() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &[]);
        for (name, access) in [
            ("a", "public"),
            ("b", "private"),
            ("c", "public"),
            ("d", ""),
        ] {
            let mut body = json!({"name": name, "displayName": name});
            if !access.is_empty() {
                body["attributes"] = json!([{"name": "access", "value": access}]);
            }
            s.post("apiproducts", body).await.expect(201);
        }
        let names = |b: &Value| -> Vec<String> {
            match b {
                Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                _ => b["apiProduct"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| p["name"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        };
        let public = s
            .get("apiproducts?attributename=access&attributevalue=public")
            .await
            .expect(200)
            .body;
        assert_eq!(names(&public), ["a", "c"], "{flavor}");
        let any = s
            .get("apiproducts?expand=true&attributename=access")
            .await
            .expect(200)
            .body;
        assert_eq!(names(&any), ["a", "b", "c"], "{flavor}");
        let paged = s
            .get("apiproducts?attributename=access&attributevalue=public&startKey=b&count=1")
            .await
            .expect(200)
            .body;
        assert_eq!(names(&paged), ["c"], "{flavor}");
    }
}

// [EOAS] getAPIProduct: `query=list|count`, `entity=keys|apps|developers|companies`,
// `startkey`, `count` (≤100). The count shape `{"value": N}` is what an Edge user's
// runbook shows (⚠ not in the spec).
#[tokio::test]
async fn edge_product_query_counts_and_lists_what_uses_it() {
    let s = Server::start("edge", &[]);
    let web = s.seed("one@example.com", "p1", "web").await;
    let cli = s.seed("two@example.com", "p1", "cli").await;
    s.post(
        "developers/two%40example.com/apps",
        json!({"name": "other"}),
    )
    .await
    .expect(201);
    let count = |entity: &str| format!("apiproducts/p1?query=count&entity={entity}");
    assert_eq!(
        s.get(&count("apps")).await.expect(200).body,
        json!({"value": 2})
    );
    assert_eq!(s.get(&count("developers")).await.body, json!({"value": 2}));
    assert_eq!(s.get(&count("keys")).await.body, json!({"value": 2}));
    assert_eq!(s.get(&count("companies")).await.body, json!({"value": 0}));
    let mut ids = vec![
        web["appId"].as_str().unwrap().to_string(),
        cli["appId"].as_str().unwrap().to_string(),
    ];
    ids.sort();
    let apps = s
        .get("apiproducts/p1?query=list&entity=apps")
        .await
        .expect(200)
        .body;
    assert_eq!(apps, json!(ids));
    let devs = s
        .get("apiproducts/p1?query=list&entity=developers&startkey=two%40example.com&count=5")
        .await
        .body;
    assert_eq!(devs, json!(["two@example.com"]));
    let bad = s.get("apiproducts/p1?query=sum&entity=apps").await;
    assert_eq!(bad.status, 400);
    let bad = s.get("apiproducts/p1?query=count&entity=proxies").await;
    assert_eq!(bad.status, 400);
    // Without `query`, the product.
    assert_eq!(s.get("apiproducts/p1").await.body["name"], "p1");
}

// [EOAS] listDeveloperApps: Edge `count` ≤100; `expand` lists apps as objects, without it
// names; [PHP-commits 0c291d6, 954e5e9] `shallowExpand` drops credentials and developerId.
#[tokio::test]
async fn edge_developer_apps_list_as_documented() {
    let s = Server::start("edge", &[]);
    s.seed("one@example.com", "p1", "web").await;
    let names = s
        .get("developers/one%40example.com/apps?count=500")
        .await
        .expect(200)
        .body;
    assert_eq!(names, json!(["web"]));
    let full = s
        .get("developers/one%40example.com/apps?expand=true")
        .await
        .body;
    assert!(full["app"][0]["credentials"].is_array());
    let shallow = s
        .get("developers/one%40example.com/apps?shallowExpand=true")
        .await
        .body;
    assert!(shallow["app"][0].get("credentials").is_none());
    assert!(shallow["app"][0].get("developerId").is_none());
}
