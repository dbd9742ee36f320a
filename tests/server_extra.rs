//! Fields registrar does not model are stored and returned verbatim (issue 9, part 5):
//! created with the entity, replaced by a full-replace PUT (a field absent from the PUT is
//! gone, as on the platform: [DISC] apiproducts.update "full ApiProduct"; developers.update
//! "full replace"; [EOAS] updateDeveloper "send the whole profile"), left alone by partial
//! operations (`?action=`, attributes and keys endpoints, key generation).

mod common;

use common::Server;
use serde_json::{Value, json};

fn operation_groups() -> Value {
    json!({
        "operationGroup": {
            "operationConfigs": [{
                "apiSource": "orders-proxy",
                "operations": [{"resource": "/orders", "methods": ["GET", "POST"]}],
                "quota": {"limit": "10", "interval": "1", "timeUnit": "minute"},
                "attributes": [{"name": "tier", "value": "gold"}]
            }],
            "operationConfigType": "proxy"
        },
        "graphqlOperationGroup": {
            "operationConfigs": [{"apiSource": "gql", "operations": [{"operationTypes": ["QUERY"], "operation": "orders"}]}]
        },
        "grpcOperationGroup": {"operationConfigs": [{"apiSource": "grpc", "service": "Orders", "methods": ["Get"]}]},
        "quotaCounterScope": "OPERATION",
        "space": "team-a"
    })
}

fn with(base: Value, more: &Value) -> Value {
    let mut b = base;
    for (k, v) in more.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn assert_has(body: &Value, fields: &Value) {
    for (k, v) in fields.as_object().unwrap() {
        assert_eq!(&body[k], v, "field {k} in {body}");
    }
}

fn assert_lacks(body: &Value, fields: &Value) {
    for k in fields.as_object().unwrap().keys() {
        assert!(body.get(k).is_none(), "field {k} should be gone: {body}");
    }
}

// [DISC] GoogleCloudApigeeV1ApiProduct: operationGroup, graphqlOperationGroup,
// grpcOperationGroup, quotaCounterScope, space (spec §3.3) — fields registrar does not model.
#[tokio::test]
async fn product_fields_registrar_does_not_model_round_trip() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &[]);
        let og = operation_groups();
        let base = json!({"name": "orders", "displayName": "Orders", "approvalType": "auto"});
        let created = s
            .post("apiproducts", with(base.clone(), &og))
            .await
            .expect(201)
            .body;
        assert_has(&created, &og);
        let got = s.get("apiproducts/orders").await.expect(200).body;
        assert_has(&got, &og);
        let listed = s.get("apiproducts?expand=true").await.expect(200).body;
        assert_has(&listed["apiProduct"][0], &og);

        // A client PUTs the whole GET body back (output-only fields included): unchanged.
        let again = s
            .put("apiproducts/orders", got.clone())
            .await
            .expect(200)
            .body;
        assert_has(&again, &og);
        assert_eq!(again["createdAt"], got["createdAt"]);

        // Attribute endpoints are partial: the fields stay.
        s.post(
            "apiproducts/orders/attributes",
            json!({"attribute": [{"name": "access", "value": "private"}]}),
        )
        .await
        .expect(200);
        assert_has(&s.get("apiproducts/orders").await.body, &og);

        // A PUT without them removes them; one with a new value replaces it.
        let replaced = s
            .put(
                "apiproducts/orders",
                with(base.clone(), &json!({"space": "team-b"})),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(replaced["space"], "team-b", "{flavor}");
        assert!(
            replaced.get("operationGroup").is_none(),
            "{flavor}: {replaced}"
        );
        let plain = s
            .put("apiproducts/orders", base.clone())
            .await
            .expect(200)
            .body;
        assert_lacks(&plain, &og);
        assert_lacks(&s.get("apiproducts/orders").await.body, &og);
    }
}

// [DISC] GoogleCloudApigeeV1Developer has accessType/appFamily, which registrar does not
// model; any other member a client sends is kept the same way.
#[tokio::test]
async fn developer_and_app_fields_registrar_does_not_model_round_trip() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &[]);
        let dev_extra =
            json!({"accessType": "restricted", "appFamily": "default", "x-team": {"cost": 7}});
        let dev =
            json!({"email": "a@example.com", "firstName": "A", "lastName": "B", "userName": "ab"});
        s.post("developers", with(dev.clone(), &dev_extra))
            .await
            .expect(201);
        s.action("developers/a%40example.com?action=inactive")
            .await
            .expect(204);
        let got = s.get("developers/a%40example.com").await.expect(200).body;
        assert_has(&got, &dev_extra);
        let listed = s.get("developers?expand=true").await.expect(200).body;
        assert_has(&listed["developer"][0], &dev_extra);
        let put = s
            .put("developers/a%40example.com", got.clone())
            .await
            .expect(200)
            .body;
        assert_has(&put, &dev_extra);
        let put = s
            .put("developers/a%40example.com", dev.clone())
            .await
            .expect(200)
            .body;
        assert_lacks(&put, &dev_extra);

        s.post("apiproducts", json!({"name": "p", "displayName": "P"}))
            .await
            .expect(201);
        let app_extra = json!({"notes": "legacy", "externalRef": {"system": "crm", "id": 12}});
        let created = s
            .post(
                "developers/a%40example.com/apps",
                with(json!({"name": "web", "apiProducts": ["p"]}), &app_extra),
            )
            .await
            .expect(201)
            .body;
        assert_has(&created, &app_extra);
        let path = "developers/a%40example.com/apps/web";
        let key = created["credentials"][0]["consumerKey"]
            .as_str()
            .unwrap()
            .to_string();
        // Partial operations leave them alone: status, key status, key generation, attributes.
        s.action(&format!("{path}?action=revoke")).await.expect(204);
        s.action(&format!("{path}/keys/{key}?action=revoke"))
            .await
            .expect(204);
        s.post(path, json!({"apiProducts": ["p"]}))
            .await
            .expect(200);
        s.post(
            &format!("{path}/attributes"),
            json!({"attribute": [{"name": "DisplayName", "value": "Web"}]}),
        )
        .await
        .expect(200);
        let got = s.get(path).await.expect(200).body;
        assert_has(&got, &app_extra);
        assert_eq!(got["credentials"].as_array().unwrap().len(), 2);
        let listed = s
            .get("developers/a%40example.com/apps?expand=true")
            .await
            .body;
        assert_has(&listed["app"][0], &app_extra);
        let org = s
            .get("apps?expand=true&status=revoked")
            .await
            .expect(200)
            .body;
        assert_has(&org["app"][0], &app_extra);
        // The whole GET body PUT back keeps them (and mints no key: no apiProducts there).
        let mut back = got.clone();
        back.as_object_mut().unwrap().remove("apiProducts");
        let put = s.put(path, back).await.expect(200).body;
        assert_has(&put, &app_extra);
        assert_eq!(put["credentials"].as_array().unwrap().len(), 2);
        let put = s.put(path, json!({"name": "web"})).await.expect(200).body;
        assert_lacks(&put, &app_extra);

        // A key imported with a member the registry does not model shows it in credentials.
        let import = if flavor == "x" {
            format!("{path}/keys")
        } else {
            format!("{path}/keys/create")
        };
        s.post(
            &import,
            json!({"consumerKey": "imported-1", "consumerSecret": "s3cret", "origin": "vault"}),
        )
        .await
        .expect(201);
        let got = s
            .get(&format!("{path}/keys/imported-1"))
            .await
            .expect(200)
            .body;
        assert_eq!(got["origin"], "vault", "{flavor}");
    }
}
