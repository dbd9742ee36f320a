//! `registrar serve --flavor edge` over real HTTP: every endpoint (also under the `/v1/o`
//! alias), Edge encoding (numbers, empty lists present, createdBy, bare name arrays), Edge
//! error bodies, the quirks kept on purpose, and pagination.

mod common;

use common::{Server, assert_edge_error, enc};
use serde_json::{Value, json};

fn dev_body(email: &str) -> Value {
    json!({"email": email, "firstName": "Ada", "lastName": "Lovelace", "userName": "ada"})
}

#[tokio::test]
async fn developers_encoding_errors_and_email_rules() {
    let s = Server::start("edge", &[]);
    let d = s
        .post("developers", dev_body("Ada@Example.com"))
        .await
        .expect(201)
        .body;
    assert_eq!(
        d["email"], "Ada@Example.com",
        "mixed case is accepted on Edge"
    );
    assert!(d["createdAt"].is_i64(), "numbers on Edge: {d}");
    assert_eq!(d["attributes"], json!([]));
    assert_eq!(d["apps"], json!([]));
    assert_eq!(d["companies"], json!([]));
    assert!(d["createdBy"].is_string() && d["lastModifiedBy"].is_string());
    // Lookups ignore case; uniqueness too.
    s.get("developers/ada%40example.com").await.expect(200);
    let dup = s.post("developers", dev_body("ada@example.com")).await;
    assert_edge_error(&dup, 409, "developer.service.DeveloperAlreadyExists");
    // Email change via PUT is allowed on Edge.
    let changed = s
        .put("developers/Ada%40Example.com", dev_body("ada2@example.com"))
        .await
        .expect(200)
        .body;
    assert_eq!(changed["email"], "ada2@example.com");
    let missing = s.get("developers/Ada%40Example.com").await;
    assert_edge_error(&missing, 404, "developer.service.DeveloperIdDoesNotExist");
    s.action("developers/ada2%40example.com?action=inactive")
        .await
        .expect(204);
    assert_eq!(
        s.get("developers/ada2%40example.com").await.body["status"],
        "inactive"
    );
    let no_action = s.post("developers/ada2%40example.com", json!({})).await;
    assert_edge_error(&no_action, 400, "registrar.InvalidArgument");

    assert_eq!(
        s.get("developers").await.expect(200).body,
        json!(["ada2@example.com"])
    );
    let expanded = s.get("developers?expand=true").await.body;
    assert_eq!(expanded["developer"][0]["email"], "ada2@example.com");
    let deleted = s
        .delete("developers/ada2%40example.com")
        .await
        .expect(200)
        .body;
    assert_eq!(deleted["email"], "ada2@example.com");
    assert_eq!(s.get("developers").await.body, json!([]));
    assert_eq!(
        s.get("developers?expand=true").await.body,
        json!({"developer": []})
    );
}

#[tokio::test]
async fn apps_keys_and_products_under_both_path_prefixes() {
    let s = Server::start("edge", &[]);
    let email = "dev@example.com";
    s.post("developers", dev_body(email)).await.expect(201);
    let p = s
        .post("/v1/o/local/apiproducts", json!({"name": "p1", "displayName": "P1", "approvalType": "manual", "scopes": ["READ", "WRITE"]}))
        .await
        .expect(201)
        .body;
    assert_eq!(p["environments"], json!([]));
    assert!(p["createdAt"].is_i64());
    assert_eq!(s.get("apiproducts").await.body, json!(["p1"]));

    for prefix in ["/v1/organizations/local", "/v1/o/local"] {
        let app_name = if prefix.ends_with("o/local") {
            "alias"
        } else {
            "main"
        };
        let apps = format!("{prefix}/developers/{}/apps", enc(email));
        let app = s
            .post(&apps, json!({"name": app_name, "apiProducts": ["p1"]}))
            .await
            .expect(201)
            .body;
        let k = &app["credentials"][0];
        assert_eq!(k["consumerKey"].as_str().unwrap().len(), 32);
        assert_eq!(k["consumerSecret"].as_str().unwrap().len(), 16);
        assert_eq!(k["expiresAt"], -1);
        assert_eq!(k["scopes"], json!([]));
        assert_eq!(k["attributes"], json!([]));
        assert_eq!(
            k["apiProducts"],
            json!([{"apiproduct": "p1", "status": "pending"}])
        );
        assert_eq!(app["attributes"], json!([]));
        assert!(app["createdBy"].is_string());
        assert!(app.get("keyExpiresIn").is_none());

        let one = format!("{apps}/{app_name}");
        s.get(&one).await.expect(200);
        let put = s.put(&one, json!({"apiProducts": ["p1"], "attributes": [{"name": "DisplayName", "value": "D"}]})).await.expect(200).body;
        assert_eq!(
            put["credentials"].as_array().unwrap().len(),
            2,
            "PUT with apiProducts mints a key"
        );
        let generated = s
            .post(&one, json!({"apiProducts": [], "keyExpiresIn": 60000}))
            .await
            .expect(200)
            .body;
        let newest = &generated["credentials"][2];
        assert_eq!(
            newest["expiresAt"].as_i64().unwrap() - newest["issuedAt"].as_i64().unwrap(),
            60000
        );
        s.action(&format!("{one}?action=revoke")).await.expect(204);

        let key = format!("key-{app_name}");
        let imported = s
            .post(
                &format!("{one}/keys/create"),
                json!({"consumerKey": key, "consumerSecret": "secret", "apiProducts": ["p1"],
                       "expiresInSeconds": 60}),
            )
            .await
            .expect(201)
            .body;
        assert_eq!(
            imported["apiProducts"],
            json!([]),
            "import ignores products"
        );
        assert_eq!(
            imported["expiresAt"], -1,
            "Edge cannot set an expiry on import"
        );
        let k = format!("{one}/keys/{key}");
        let added = s
            .post(&k, json!({"apiProducts": ["p1"]}))
            .await
            .expect(200)
            .body;
        assert_eq!(added["apiProducts"][0]["status"], "pending");
        s.action(&format!("{k}/apiproducts/p1?action=approve"))
            .await
            .expect(204);
        let scoped = s
            .put(&k, json!({"scopes": ["READ"]}))
            .await
            .expect(200)
            .body;
        assert_eq!(scoped["scopes"], json!(["READ"]));
        assert_eq!(scoped["apiProducts"][0]["status"], "approved");
        let bad = s.put(&k, json!({"scopes": ["ADMIN"]})).await;
        assert_edge_error(&bad, 400, "keymanagement.service.InvalidScopes");
        assert_eq!(
            bad.body["message"],
            "Invalid scopes. Scopes must be contained in [READ, WRITE]"
        );
        s.action(&format!("{k}?action=revoke")).await.expect(204);
        assert_eq!(s.get(&k).await.expect(200).body["status"], "revoked");
        s.delete(&format!("{k}/apiproducts/p1")).await.expect(200);
        let again = s.delete(&format!("{k}/apiproducts/p1")).await;
        assert_edge_error(&again, 500, "registrar.ProductNotOnKey");
        let dup = s
            .post(
                &format!("{one}/keys/create"),
                json!({"consumerKey": key, "consumerSecret": "x"}),
            )
            .await;
        assert_edge_error(&dup, 409, "keymanagement.service.ConsumerKeyAlreadyExists");
        assert_eq!(
            s.delete(&k).await.expect(200).body["consumerKey"],
            key.as_str()
        );
        let missing = s.get(&k).await;
        assert_edge_error(
            &missing,
            404,
            "keymanagement.service.InvalidClientIdForGivenApp",
        );
        // Edge has no POST …/keys (only keys/create).
        let r = s
            .post(
                &format!("{one}/keys"),
                json!({"consumerKey": "z", "consumerSecret": "z"}),
            )
            .await;
        assert_edge_error(&r, 404, "registrar.NotFound");
    }
    let apps = format!("developers/{}/apps", enc(email));
    assert_eq!(
        s.get(&apps).await.expect(200).body,
        json!(["alias", "main"])
    );
    let org = s.get("apps").await.expect(200).body;
    let ids = org.as_array().unwrap();
    assert_eq!(ids.len(), 2);
    let one = s
        .get(&format!("apps/{}", ids[0].as_str().unwrap()))
        .await
        .expect(200)
        .body;
    assert_eq!(one["appFamily"], "default");
    let expanded = s.get("apps?expand=true&rows=1").await.body;
    assert_eq!(expanded["app"].as_array().unwrap().len(), 1);
    let dup = s.post(&apps, json!({"name": "main"})).await;
    assert_edge_error(&dup, 409, "keymanagement.service.app_already_exists");
    let gone = s.delete(&format!("{apps}/main")).await.expect(200).body;
    assert_eq!(gone["name"], "main");
    let missing = s.get(&format!("{apps}/main")).await;
    assert_edge_error(&missing, 404, "developer.service.AppDoesNotExist");
    let product_gone = s.delete("apiproducts/p1").await.expect(200).body;
    assert_eq!(product_gone["name"], "p1");
    let missing = s.get("apiproducts/p1").await;
    assert_edge_error(
        &missing,
        404,
        "keymanagement.service.apiproduct_doesnot_exist",
    );
}

#[tokio::test]
async fn pagination_is_inclusive_and_unknown_start_keys_are_404() {
    let s = Server::start("edge", &[]);
    for i in 0..4 {
        s.post("developers", dev_body(&format!("u{i}@x.com")))
            .await
            .expect(201);
        s.post(
            "apiproducts",
            json!({"name": format!("p{i}"), "displayName": "P"}),
        )
        .await
        .expect(201);
    }
    assert_eq!(
        s.get("developers?count=2&startKey=u1%40x.com").await.body,
        json!(["u1@x.com", "u2@x.com"])
    );
    assert_eq!(
        s.get("apiproducts?count=3&startKey=p2").await.body,
        json!(["p2", "p3"])
    );
    let miss = s.get("developers?startKey=nobody%40x.com").await;
    assert_edge_error(&miss, 404, "keymanagement.service.developer_doesnot_exist");
    let miss = s.get("apiproducts?startKey=zzz").await;
    assert_edge_error(&miss, 404, "keymanagement.service.apiproduct_doesnot_exist");
    for i in 0..3 {
        s.post(
            "developers/u0%40x.com/apps",
            json!({"name": format!("a{i}")}),
        )
        .await
        .expect(201);
    }
    assert_eq!(
        s.get("developers/u0%40x.com/apps?startKey=a1&count=1")
            .await
            .body,
        json!(["a1"])
    );
    // Developer-app lists are capped at 100 on Edge, whatever count asks.
    assert_eq!(
        s.get("developers/u0%40x.com/apps?count=5000")
            .await
            .expect(200)
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let miss = s.get("apps?startKey=nope").await;
    assert_edge_error(&miss, 404, "keymanagement.service.app_doesnot_exist");
    let d = s.get("developers/u0%40x.com").await.body;
    assert_eq!(d["apps"], json!(["a0", "a1", "a2"]));
}
