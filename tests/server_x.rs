//! `registrar serve --flavor x` over real HTTP: every endpoint, X encoding (int64 as
//! strings, empty fields omitted, wrapper lists of stubs, `{}`), Google error bodies, the
//! quirks kept on purpose, pagination, and conformance to the discovery document's schemas.

mod common;

use common::{Server, assert_x_error, enc};
use serde_json::{Value, json};

const ALICE: &str = "alice@example.com";

fn dev_body(email: &str) -> Value {
    json!({"email": email, "firstName": "Alice", "lastName": "Doe", "userName": "alice"})
}

#[tokio::test]
async fn developers_lifecycle_and_encoding() {
    let s = Server::start("x", &[]);
    let d = s.post("developers", dev_body(ALICE)).await.expect(201).body;
    assert_eq!(d["email"], ALICE);
    assert_eq!(d["status"], "active");
    assert_eq!(d["organizationName"], "local");
    assert!(
        d["createdAt"].as_str().unwrap().parse::<i64>().unwrap() > 0,
        "int64 as string"
    );
    assert!(
        d.get("attributes").is_none() && d.get("apps").is_none(),
        "empty omitted: {d}"
    );
    assert!(d.get("createdBy").is_none());
    let id = d["developerId"].as_str().unwrap().to_string();

    let dup = s.post("developers", dev_body(ALICE)).await;
    assert_x_error(
        &dup,
        409,
        "ALREADY_EXISTS",
        "developer.service.DeveloperAlreadyExists",
    );
    let upper = s.post("developers", dev_body("Bob@Example.com")).await;
    assert_x_error(&upper, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    assert_eq!(
        upper.body["error"]["message"],
        "email address has to be lowercase"
    );
    let missing = s.post("developers", json!({"email": "c@x.com"})).await;
    assert_x_error(
        &missing,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );

    let by_email = s
        .get(&format!("developers/{}", enc(ALICE)))
        .await
        .expect(200)
        .body;
    let by_id = s.get(&format!("developers/{id}")).await.expect(200).body;
    assert_eq!(by_email, by_id);

    let mut put = dev_body(ALICE);
    put["attributes"] = json!([{"name": "team", "value": "payments"}]);
    put["firstName"] = json!("Alicia");
    let d = s
        .put(&format!("developers/{id}"), put)
        .await
        .expect(200)
        .body;
    assert_eq!(d["firstName"], "Alicia");
    assert_eq!(
        d["attributes"],
        json!([{"name": "team", "value": "payments"}])
    );
    let renamed = s
        .put(
            &format!("developers/{}", enc(ALICE)),
            dev_body("new@example.com"),
        )
        .await;
    assert_x_error(
        &renamed,
        400,
        "INVALID_ARGUMENT",
        "rest.interceptor.name_mismatch",
    );

    let r = s
        .action(&format!("developers/{}?action=inactive", enc(ALICE)))
        .await
        .expect(204);
    assert!(r.text.is_empty());
    let d = s.get(&format!("developers/{}", enc(ALICE))).await.body;
    assert_eq!(d["status"], "inactive");
    let bad = s
        .action(&format!("developers/{}?action=sleep", enc(ALICE)))
        .await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    s.action(&format!("developers/{}?action=active", enc(ALICE)))
        .await
        .expect(204);

    let gone = s
        .delete(&format!("developers/{}", enc(ALICE)))
        .await
        .expect(200)
        .body;
    assert_eq!(gone["developerId"], id.as_str());
    let missing = s.get(&format!("developers/{}", enc(ALICE))).await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "developer.service.DeveloperIdDoesNotExist",
    );
    assert_eq!(
        missing.body["error"]["message"],
        "DeveloperId alice@example.com does not exist in organization local"
    );
}

#[tokio::test]
async fn lists_are_wrappers_of_stubs_paginated_with_inclusive_start_key() {
    let s = Server::start("x", &[]);
    assert_eq!(s.get("developers").await.expect(200).body, json!({}));
    assert_eq!(
        s.get("apiproducts?expand=true").await.expect(200).body,
        json!({})
    );
    assert_eq!(s.get("apps").await.expect(200).body, json!({}));
    for i in 0..5 {
        s.post("developers", dev_body(&format!("d{i}@x.com")))
            .await
            .expect(201);
    }
    let page = s.get("developers?count=2").await.expect(200).body;
    assert_eq!(
        page,
        json!({"developer": [{"email": "d0@x.com"}, {"email": "d1@x.com"}]})
    );
    let page = s.get("developers?count=2&startKey=d1%40x.com").await.body;
    assert_eq!(
        page,
        json!({"developer": [{"email": "d1@x.com"}, {"email": "d2@x.com"}]})
    );
    let page = s
        .get("developers?expand=true&count=1000&startKey=d4%40x.com")
        .await
        .body;
    assert_eq!(page["developer"].as_array().unwrap().len(), 1);
    assert_eq!(page["developer"][0]["firstName"], "Alice");
    assert_eq!(
        s.get("developers?startKey=zz%40x.com")
            .await
            .expect(200)
            .body,
        json!({})
    );
    let ids = s
        .get("developers?ids=d3%40x.com,d0%40x.com,nobody%40x.com")
        .await
        .body;
    assert_eq!(
        ids,
        json!({"developer": [{"email": "d0@x.com"}, {"email": "d3@x.com"}]})
    );
    assert_eq!(
        s.get("developers?count=99999").await.expect(200).body["developer"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let bad = s.get("developers?count=-1").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    let bad = s.get("developers?expand=maybe").await;
    assert_x_error(&bad, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");

    s.post("apiproducts", json!({"name": "p1", "displayName": "P1"}))
        .await
        .expect(201);
    s.post("apiproducts", json!({"name": "p2", "displayName": "P2"}))
        .await
        .expect(201);
    let products = s.get("apiproducts?startKey=p2").await.expect(200).body;
    assert_eq!(products, json!({"apiProduct": [{"name": "p2"}]}));

    for name in ["a", "b", "c"] {
        s.post("developers/d0%40x.com/apps", json!({"name": name}))
            .await
            .expect(201);
    }
    let apps = s
        .get("developers/d0%40x.com/apps?count=2&startKey=b")
        .await
        .expect(200)
        .body;
    let stubs = apps["app"].as_array().unwrap();
    assert_eq!(stubs.len(), 2);
    assert!(
        stubs
            .iter()
            .all(|a| a.as_object().unwrap().keys().eq(["appId"]))
    );
    let owners = s.get("developers?app=b").await.expect(200).body;
    assert_eq!(owners, json!({"developer": [{"email": "d0@x.com"}]}));
    assert_eq!(s.get("developers?app=zzz").await.body, json!({}));
    let shallow = s
        .get("developers/d0%40x.com/apps?shallowExpand=true")
        .await
        .body;
    assert!(shallow["app"][0].get("credentials").is_none());
    assert_eq!(shallow["app"][0]["name"], "a");
    let full = s.get("developers/d0%40x.com/apps?expand=true").await.body;
    assert_eq!(full["app"][2]["credentials"].as_array().unwrap().len(), 1);

    let org = s.get("apps?rows=2").await.expect(200).body;
    let ids: Vec<&str> = org["app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "sorted by appId");
    let next = s
        .get(&format!("apps?rows=2&startKey={}&expand=true", ids[1]))
        .await
        .body;
    assert_eq!(next["app"][0]["appId"], ids[1], "startKey is inclusive");
    assert_eq!(next["app"][0]["developerEmail"], "d0@x.com");
    let no_cred = s.get("apps?expand=true&includeCred=false").await.body;
    assert!(no_cred["app"][0].get("credentials").is_none());
    let by_ids = s.get(&format!("apps?ids={}", ids[0])).await.body;
    assert_eq!(by_ids, json!({"app": [{"appId": ids[0]}]}));
}

#[tokio::test]
async fn apps_and_keys_with_the_platform_quirks() {
    let s = Server::start("x", &[]);
    s.post("developers", dev_body(ALICE)).await.expect(201);
    s.post("apiproducts", json!({"name": "auto", "displayName": "Auto", "approvalType": "auto", "scopes": ["read", "write"]}))
        .await
        .expect(201);
    s.post(
        "apiproducts",
        json!({"name": "manual", "displayName": "Manual", "approvalType": "manual"}),
    )
    .await
    .expect(201);
    let apps = format!("developers/{}/apps", enc(ALICE));

    // Quirk: create mints one key; grant status follows approvalType; keyExpiresIn sets expiresAt.
    let app = s
        .post(&apps, json!({"name": "web", "apiProducts": ["auto", "manual"], "keyExpiresIn": "3600000",
                            "callbackUrl": "https://web/cb", "attributes": [{"name": "DisplayName", "value": "Web"}]}))
        .await
        .expect(201)
        .body;
    let creds = app["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    let k = &creds[0];
    assert_eq!(k["consumerKey"].as_str().unwrap().len(), 48);
    assert_eq!(k["consumerSecret"].as_str().unwrap().len(), 64);
    assert_eq!(
        k["apiProducts"],
        json!([{"apiproduct": "auto", "status": "approved"}, {"apiproduct": "manual", "status": "pending"}])
    );
    let issued: i64 = k["issuedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(k["expiresAt"], (issued + 3_600_000).to_string());
    assert_eq!(app["keyExpiresIn"], "3600000");
    let first_key = k["consumerKey"].as_str().unwrap().to_string();
    let never = s
        .post(&apps, json!({"name": "never", "keyExpiresIn": -1}))
        .await
        .expect(201)
        .body;
    assert_eq!(never["credentials"][0]["expiresAt"], "-1");
    assert!(
        never["credentials"][0].get("apiProducts").is_none(),
        "empty omitted"
    );
    let unknown = s
        .post(&apps, json!({"name": "x", "apiProducts": ["nope"]}))
        .await;
    assert_x_error(
        &unknown,
        404,
        "NOT_FOUND",
        "keymanagement.service.apiproduct_doesnot_exist",
    );
    let dup = s.post(&apps, json!({"name": "web"})).await;
    assert_x_error(
        &dup,
        409,
        "ALREADY_EXISTS",
        "keymanagement.service.app_already_exists",
    );
    let bad_name = s.post(&apps, json!({"name": "-bad/name"})).await;
    assert_x_error(
        &bad_name,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );

    let web = format!("{apps}/web");
    let got = s.get(&web).await.expect(200).body;
    assert_eq!(got["callbackUrl"], "https://web/cb");
    // PUT without products: metadata only. PUT with products: a new key (quirk).
    let put = s.put(&web, json!({"attributes": [{"name": "Notes", "value": "n"}], "callbackUrl": "https://web/cb2"})).await.expect(200).body;
    assert_eq!(put["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(put["attributes"], json!([{"name": "Notes", "value": "n"}]));
    let put = s
        .put(
            &web,
            json!({"apiProducts": ["auto"], "callbackUrl": "https://web/cb2"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(put["credentials"].as_array().unwrap().len(), 2);
    assert!(
        put.get("attributes").is_none(),
        "PUT replaced the attributes"
    );
    // POST with a body: generate a key pair.
    let generated = s.post(&web, json!({"apiProducts": ["auto"], "keyExpiresIn": 1000, "callbackUrl": "https://web/cb2"})).await.expect(200).body;
    assert_eq!(generated["credentials"].as_array().unwrap().len(), 3);
    s.action(&format!("{web}?action=revoke")).await.expect(204);
    assert_eq!(s.get(&web).await.body["status"], "revoked");
    s.action(&format!("{web}?action=approve")).await.expect(204);

    // Import at both paths: products ignored, status approved even if revoked is asked.
    let imported = s
        .post(&format!("{web}/keys"), json!({"consumerKey": "imported-1", "consumerSecret": "s3cret", "apiProducts": ["auto"], "status": "revoked"}))
        .await
        .expect(201)
        .body;
    assert_eq!(imported["status"], "approved");
    assert!(
        imported.get("apiProducts").is_none(),
        "import ignores products: {imported}"
    );
    let k2 = s
        .post(
            &format!("{web}/keys/create"),
            json!({"consumerKey": "imported-2", "consumerSecret": "s", "expiresInSeconds": "60"}),
        )
        .await
        .expect(201)
        .body;
    let issued: i64 = k2["issuedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(k2["expiresAt"], (issued + 60_000).to_string());
    let dup = s
        .post(
            &format!("{web}/keys/create"),
            json!({"consumerKey": "imported-1", "consumerSecret": "x"}),
        )
        .await;
    assert_x_error(
        &dup,
        409,
        "ABORTED",
        "keymanagement.service.ConsumerKeyAlreadyExists",
    );
    assert_eq!(dup.body["error"]["message"], "ConsumerKey already exists");
    let missing = s
        .post(
            &format!("{web}/keys/create"),
            json!({"consumerKey": "only-key"}),
        )
        .await;
    assert_x_error(
        &missing,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );

    let key = format!("{web}/keys/imported-1");
    let k = s.post(&key, json!({"apiProducts": ["auto", "manual", "auto"], "attributes": [{"name": "registrar-credential", "value": "primary"}]}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        k["apiProducts"],
        json!([{"apiproduct": "auto", "status": "approved"}, {"apiproduct": "manual", "status": "pending"}])
    );
    assert_eq!(k["attributes"][0]["value"], "primary");
    let k = s
        .put(&key, json!({"scopes": ["read"]}))
        .await
        .expect(200)
        .body;
    assert_eq!(k["scopes"], json!(["read"]));
    let bad = s.put(&key, json!({"scopes": ["admin"]})).await;
    assert_x_error(
        &bad,
        400,
        "INVALID_ARGUMENT",
        "keymanagement.service.InvalidScopes",
    );
    s.action(&format!("{key}?action=revoke")).await.expect(204);
    s.action(&format!("{key}/apiproducts/manual?action=approve"))
        .await
        .expect(204);
    let k = s.get(&key).await.expect(200).body;
    assert_eq!(k["status"], "revoked");
    assert_eq!(
        k["apiProducts"][1],
        json!({"apiproduct": "manual", "status": "approved"})
    );
    let k = s
        .delete(&format!("{key}/apiproducts/manual"))
        .await
        .expect(200)
        .body;
    assert_eq!(k["apiProducts"].as_array().unwrap().len(), 1);
    // Quirk: removing a product the key does not have is a 500.
    let again = s.delete(&format!("{key}/apiproducts/manual")).await;
    assert_x_error(&again, 500, "INTERNAL", "registrar.ProductNotOnKey");
    assert_eq!(
        again.body["error"]["message"],
        "APIProduct is not associated with consumer key"
    );
    let deleted = s.delete(&key).await.expect(200).body;
    assert_eq!(deleted["consumerKey"], "imported-1");
    let missing = s.get(&key).await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "keymanagement.service.InvalidClientIdForGivenApp",
    );
    assert!(
        !missing.text.contains("imported-1"),
        "errors never echo keys"
    );

    // Keys by developerId path, org-wide view, delete app.
    let dev_id = s.get(&format!("developers/{}", enc(ALICE))).await.body["developerId"]
        .as_str()
        .unwrap()
        .to_string();
    s.get(&format!("developers/{dev_id}/apps/web/keys/{first_key}"))
        .await
        .expect(200);
    let app_id = app["appId"].as_str().unwrap();
    let org_app = s.get(&format!("apps/{app_id}")).await.expect(200).body;
    assert_eq!(org_app["developerEmail"], ALICE);
    assert!(org_app.get("appFamily").is_none());
    let missing = s.get("apps/00000000-0000-0000-0000-000000000000").await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "keymanagement.service.app_doesnot_exist",
    );
    let gone = s.delete(&web).await.expect(200).body;
    assert_eq!(gone["name"], "web");
    let missing = s.get(&web).await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "developer.service.AppDoesNotExist",
    );
    assert_eq!(
        missing.body["error"]["message"],
        "App named web does not exist under alice@example.com"
    );
}

#[tokio::test]
async fn the_edge_alias_and_edge_key_path_are_not_served() {
    let s = Server::start("x", &[]);
    let r = s.get("/v1/o/local/developers").await;
    assert_x_error(&r, 404, "NOT_FOUND", "registrar.NotFound");
    let r = s.get("/v1/organizations/other/developers").await;
    assert_x_error(
        &r,
        404,
        "NOT_FOUND",
        "organizations.OrganizationDoesNotExist",
    );
}
