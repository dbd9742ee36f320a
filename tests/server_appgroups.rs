//! AppGroups and AppGroup apps on X ([DISC] organizations.appgroups, organizations.appgroups.apps,
//! …apps.keys, …keys.apiproducts; schemas GoogleCloudApigeeV1AppGroup, …AppGroupApp,
//! …AppGroupAppKey, …UpdateAppGroupAppKeyRequest, …ListAppGroupsResponse,
//! …ListAppGroupAppsResponse). Edge has no AppGroups: 404.

mod common;

use common::{Server, assert_x_error};
use serde_json::{Value, json};

fn names(list: &Value, wrapper: &str) -> Vec<String> {
    list[wrapper]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn appgroups_and_their_apps_and_keys() {
    let s = Server::start("x", &[]);
    s.seed("dev@example.com", "p1", "devapp").await;
    s.post(
        "apiproducts",
        json!({"name": "p2", "displayName": "P2", "approvalType": "manual"}),
    )
    .await
    .expect(201);

    // [DISC] appgroups.create / get / list (ListAppGroupsResponse: appGroups, totalSize).
    let g = s
        .post(
            "appgroups",
            json!({"name": "team-a", "displayName": "Team A", "channelId": "portal",
                   "attributes": [{"name": "tier", "value": "gold"}], "email": "a@example.com"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(g["status"], "active");
    assert!(g["appGroupId"].is_string());
    assert!(g["createdAt"].is_string(), "int64 as a string");
    assert_eq!(g["email"], "a@example.com", "unmodelled fields kept");
    s.post("appgroups", json!({"name": "team-b"}))
        .await
        .expect(201);
    let dup = s.post("appgroups", json!({"name": "team-a"})).await;
    assert_eq!(dup.status, 409);
    let all = s.get("appgroups").await.expect(200).body;
    assert_eq!(names(&all, "appGroups"), ["team-a", "team-b"]);
    assert_eq!(all["totalSize"], 2);
    let p1 = s.get("appgroups?pageSize=1").await.expect(200).body;
    assert_eq!(names(&p1, "appGroups"), ["team-a"]);
    let t = p1["nextPageToken"].as_str().unwrap();
    let p2 = s
        .get(&format!("appgroups?pageSize=1&pageToken={t}"))
        .await
        .body;
    assert_eq!(names(&p2, "appGroups"), ["team-b"]);
    assert!(p2.get("nextPageToken").is_none());
    let active = s.get("appgroups?filter=status%3Dactive").await.body;
    assert_eq!(names(&active, "appGroups").len(), 2);
    // [DISC] appgroups.update `action=active|inactive` with an empty body.
    let off = s
        .call("PUT", "appgroups/team-b?action=inactive", None)
        .await
        .expect(200)
        .body;
    assert_eq!(off["status"], "inactive");
    let inactive = s.get("appgroups?filter=status=inactive").await.body;
    assert_eq!(names(&inactive, "appGroups"), ["team-b"]);
    let put = s
        .put(
            "appgroups/team-a",
            json!({"name": "team-a", "displayName": "Team A2"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(put["displayName"], "Team A2");
    assert!(
        put.get("email").is_none(),
        "a full replace drops what it does not repeat"
    );
    assert_eq!(s.get("appgroups/nope").await.status, 404);

    // [DISC] appgroups.apps.create: "associates the AppGroup app with the specified API
    // product and auto-generates an API key".
    let base = "appgroups/team-a/apps";
    let app = s
        .post(
            base,
            json!({"name": "svc", "apiProducts": ["p1"], "callbackUrl": "https://svc/cb"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(app["appGroup"], "team-a");
    assert!(app.get("developerId").is_none() && app.get("developerEmail").is_none());
    assert_eq!(app["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(app["credentials"][0]["apiProducts"][0]["apiproduct"], "p1");
    s.post(base, json!({"name": "batch"})).await.expect(201);
    let listed = s.get(base).await.expect(200).body;
    assert_eq!(names(&listed, "appGroupApps"), ["batch", "svc"]);
    assert!(listed["appGroupApps"][1]["credentials"].is_array());
    let page = s.get(&format!("{base}?pageSize=1")).await.body;
    assert_eq!(names(&page, "appGroupApps"), ["batch"]);
    assert!(page["nextPageToken"].is_string());
    let got = s.get(&format!("{base}/svc")).await.expect(200).body;
    assert_eq!(got["callbackUrl"], "https://svc/cb");
    let missing = s.get(&format!("{base}/nope")).await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "developer.service.AppDoesNotExist",
    );
    assert!(
        !missing.text.contains("registrar.invalid"),
        "{}",
        missing.text
    );
    let in_missing_group = s.get("appgroups/nope/apps/svc").await;
    assert_eq!(in_missing_group.status, 404);

    // Keys: create (import), add products, approve/revoke, product action, delete.
    let key_base = format!("{base}/svc/keys");
    let k = s
        .post(
            &key_base,
            json!({"consumerKey": "group-key-1", "consumerSecret": "group-secret-1"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(k["status"], "approved");
    let k = s
        .post(
            &format!("{key_base}/group-key-1"),
            json!({"apiProducts": ["p2", "p2"],
                   "appGroupAppKey": {"attributes": [{"name": "owner", "value": "ops"}]}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        k["apiProducts"],
        json!([{"apiproduct": "p2", "status": "pending"}])
    );
    assert_eq!(k["attributes"], json!([{"name": "owner", "value": "ops"}]));
    let k = s
        .post(
            &format!("{key_base}/group-key-1"),
            json!({"action": "revoke"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(k["status"], "revoked");
    s.action(&format!(
        "{key_base}/group-key-1/apiproducts/p2?action=approve"
    ))
    .await
    .expect(204);
    let k = s
        .get(&format!("{key_base}/group-key-1"))
        .await
        .expect(200)
        .body;
    assert_eq!(k["apiProducts"][0]["status"], "approved");
    s.delete(&format!("{key_base}/group-key-1/apiproducts/p2"))
        .await
        .expect(200);
    s.delete(&format!("{key_base}/group-key-1"))
        .await
        .expect(200);
    assert_eq!(s.get(&format!("{key_base}/group-key-1")).await.status, 404);

    // The org-wide list: AppGroup apps with `appGroup` and no developer; `filter=appType=`.
    let org = s.get("apps?expand=true").await.expect(200).body;
    let mut seen: Vec<(String, Option<String>)> = org["app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["appGroup"].as_str().map(str::to_string),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("batch".to_string(), Some("team-a".to_string())),
            ("devapp".to_string(), None),
            ("svc".to_string(), Some("team-a".to_string())),
        ]
    );
    let groups_only = s.get("apps?expand=true&filter=appType=AppGroup").await.body;
    assert_eq!(groups_only["app"].as_array().unwrap().len(), 2);
    let devs_only = s
        .get("apps?expand=true&filter=appType=Developer&pageSize=10")
        .await
        .body;
    assert_eq!(devs_only["app"].as_array().unwrap().len(), 1);
    assert_eq!(devs_only["totalSize"], 1);
    let by_group = s.get("apps?filter=appGroup=team-a").await.body;
    assert_eq!(by_group["app"].as_array().unwrap().len(), 2);
    // Developers never show a group's internal owner.
    let devs = s.get("developers?expand=true").await.body;
    assert_eq!(devs["developer"].as_array().unwrap().len(), 1);

    // App status via PUT ?action=revoke; then the org list's status default hides it.
    let revoked = s
        .call("PUT", &format!("{base}/batch?action=revoke"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(revoked["status"], "revoked");
    let groups_only = s.get("apps?filter=appType=AppGroup").await.body;
    assert_eq!(groups_only["app"].as_array().unwrap().len(), 1);

    // Deletes: an app, then the group with its apps and keys.
    let gone = s.delete(&format!("{base}/svc")).await.expect(200).body;
    assert_eq!(gone["name"], "svc");
    let gone = s.delete("appgroups/team-a").await.expect(200).body;
    assert_eq!(gone["name"], "team-a");
    assert_eq!(
        s.get("apps?filter=appType=AppGroup&status=revoked")
            .await
            .body,
        json!({})
    );
    assert_eq!(s.get(base).await.status, 404);
}

#[tokio::test]
async fn edge_has_no_appgroups() {
    let s = Server::start("edge", &[]);
    assert_eq!(s.get("appgroups").await.status, 404);
    assert_eq!(s.post("appgroups", json!({"name": "g"})).await.status, 404);
}
