//! `registrar serve --flavor x`: every field of every response kind is declared, with the
//! right JSON type (int64 as a string), by the discovery document's schemas. The names and
//! types are extracted into tests/fixtures/apigee_x_fields.json (no descriptions).

mod common;

use common::{Server, enc};
use serde_json::{Value, json};

const ALICE: &str = "alice@example.com";

/// Checks every field of `value` against `schema` in the fixture: declared, right JSON type.
fn conforms(fields: &Value, schema: &str, value: &Value, at: &str) {
    let decl = &fields["schemas"][schema];
    assert!(decl.is_object(), "no schema {schema}");
    for (k, v) in value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {value}"))
    {
        let ty = decl[k]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: `{k}` is not a field of {schema}"));
        let here = format!("{at}.{k}");
        match ty {
            "string" => assert!(v.is_string(), "{here}: want string, got {v}"),
            "int64" => assert!(
                v.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                "{here}: want int64 as string, got {v}"
            ),
            "integer" => assert!(v.is_i64(), "{here}: want integer, got {v}"),
            "boolean" => assert!(v.is_boolean(), "{here}"),
            t if t.starts_with("array<") => {
                let item = &t["array<".len()..t.len() - 1];
                let items = v
                    .as_array()
                    .unwrap_or_else(|| panic!("{here}: want array, got {v}"));
                for (i, it) in items.iter().enumerate() {
                    let at = format!("{here}[{i}]");
                    match item {
                        "string" => assert!(it.is_string(), "{at}: want string"),
                        "any" => conforms(fields, "ApiProductRef", it, &at),
                        other => conforms(fields, other, it, &at),
                    }
                }
            }
            other => conforms(fields, other, v, &here),
        }
    }
}

#[tokio::test]
async fn responses_conform_to_the_discovery_schemas() {
    let fields: Value =
        serde_json::from_str(include_str!("fixtures/apigee_x_fields.json")).unwrap();
    let s = Server::start("x", &[]);
    let dev = s
        .post(
            "developers",
            json!({"email": ALICE, "firstName": "A", "lastName": "B", "userName": "a",
        "attributes": [{"name": "team", "value": "t"}]}),
        )
        .await
        .expect(201)
        .body;
    let product = s
        .post(
            "apiproducts",
            json!({"name": "p", "displayName": "P", "description": "d",
        "approvalType": "auto", "environments": ["prod"], "proxies": ["x"], "apiResources": ["/"],
        "scopes": ["read"], "quota": "10", "quotaInterval": "1", "quotaTimeUnit": "minute",
        "attributes": [{"name": "access", "value": "public"}]}),
        )
        .await
        .expect(201)
        .body;
    let apps = format!("developers/{}/apps", enc(ALICE));
    let app = s
        .post(
            &apps,
            json!({"name": "web", "apiProducts": ["p"], "scopes": ["read"], "keyExpiresIn": 5000,
        "callbackUrl": "https://cb", "attributes": [{"name": "DisplayName", "value": "W"}]}),
        )
        .await
        .expect(201)
        .body;
    let key = s
        .post(
            &format!("{apps}/web/keys"),
            json!({"consumerKey": "k1", "consumerSecret": "s1",
        "scopes": ["read"], "attributes": [{"name": "a", "value": "b"}]}),
        )
        .await
        .expect(201)
        .body;
    let key2 = s
        .post(
            &format!("{apps}/web/keys/k1"),
            json!({"apiProducts": ["p"]}),
        )
        .await
        .expect(200)
        .body;
    let dev_again = s.get(&format!("developers/{}", enc(ALICE))).await.body;
    let app_id = app["appId"].as_str().unwrap();

    conforms(&fields, "Developer", &dev, "create developer");
    conforms(&fields, "Developer", &dev_again, "get developer");
    conforms(&fields, "ApiProduct", &product, "create product");
    conforms(&fields, "DeveloperApp", &app, "create app");
    conforms(&fields, "DeveloperAppKey", &key, "import key");
    conforms(&fields, "DeveloperAppKey", &key2, "add products");
    conforms(
        &fields,
        "App",
        &s.get(&format!("apps/{app_id}")).await.body,
        "get org app",
    );
    for (path, schema) in [
        ("developers", "ListOfDevelopersResponse"),
        ("developers?expand=true", "ListOfDevelopersResponse"),
        ("apiproducts", "ListApiProductsResponse"),
        ("apiproducts?expand=true", "ListApiProductsResponse"),
        (
            &format!("{apps}?expand=true") as &str,
            "ListDeveloperAppsResponse",
        ),
        (
            &format!("{apps}?shallowExpand=true"),
            "ListDeveloperAppsResponse",
        ),
        (&apps, "ListDeveloperAppsResponse"),
        ("apps", "ListAppsResponse"),
        ("apps?expand=true", "ListAppsResponse"),
    ] {
        let body = s.get(path).await.expect(200).body;
        conforms(&fields, schema, &body, path);
    }
    // The fixture itself must be strict enough to fail: an unknown field is refused.
    let caught = std::panic::catch_unwind(|| {
        conforms(&fields, "Developer", &json!({"createdBy": "x"}), "probe")
    });
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| {
        conforms(&fields, "Developer", &json!({"createdAt": 1}), "probe")
    });
    assert!(caught.is_err(), "int64 as a number must be refused");
}
