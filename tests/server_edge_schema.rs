//! `registrar serve --flavor edge`: every field of every response kind is one Apigee Edge
//! documents, with the right JSON type (int64 as a number, lists of names as arrays of
//! strings). Edge has no discovery document; the names and types are taken from the spec's
//! Edge schemas (spec/apigee-api.md §4.2) into tests/fixtures/apigee_edge_fields.json.

mod common;

use common::{Server, enc};
use serde_json::{Value, json};

const ALICE: &str = "alice@example.com";

/// Checks `value` against the fixture type `ty`: `string`, `int64` (a JSON integer),
/// `array<T>`, or a schema name whose every field must be declared, with the right type.
fn conforms(fields: &Value, ty: &str, value: &Value, at: &str) {
    match ty {
        "string" => assert!(value.is_string(), "{at}: want string, got {value}"),
        "int64" => assert!(value.is_i64(), "{at}: want int64 as a number, got {value}"),
        t if t.starts_with("array<") => {
            let item = &t["array<".len()..t.len() - 1];
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: want array, got {value}"));
            for (i, it) in items.iter().enumerate() {
                conforms(fields, item, it, &format!("{at}[{i}]"));
            }
        }
        schema => {
            let decl = &fields["schemas"][schema];
            if let Some(alias) = decl.as_str() {
                return conforms(fields, alias, value, at);
            }
            assert!(decl.is_object(), "no schema {schema}");
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: want a {schema} object, got {value}"));
            for (k, v) in object {
                let ty = decl[k]
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: `{k}` is not a field of {schema}"));
                conforms(fields, ty, v, &format!("{at}.{k}"));
            }
        }
    }
}

#[tokio::test]
async fn responses_conform_to_the_edge_schemas() {
    let fields: Value =
        serde_json::from_str(include_str!("fixtures/apigee_edge_fields.json")).unwrap();
    let s = Server::start("edge", &[]);
    let mut seen: Vec<(&str, String, Value)> = Vec::new();
    let dev = format!("developers/{}", enc(ALICE));
    let apps = format!("{dev}/apps");

    let body = s
        .post(
            "developers",
            json!({"email": ALICE, "firstName": "A", "lastName": "B", "userName": "a",
                   "attributes": [{"name": "team", "value": "t"}]}),
        )
        .await
        .expect(201)
        .body;
    seen.push(("Developer", "create developer".into(), body));
    let body = s
        .post(
            "apiproducts",
            json!({"name": "p", "displayName": "P", "description": "d",
                   "approvalType": "auto", "environments": ["prod"], "proxies": ["x"],
                   "apiResources": ["/"], "scopes": ["read"], "quota": 10,
                   "quotaInterval": "1", "quotaTimeUnit": "minute",
                   "attributes": [{"name": "access", "value": "public"}]}),
        )
        .await
        .expect(201)
        .body;
    seen.push(("APIProduct", "create product".into(), body));
    let app = s
        .post(
            &apps,
            json!({"name": "web", "apiProducts": ["p"], "scopes": ["read"], "keyExpiresIn": 5000,
                   "callbackUrl": "https://cb",
                   "attributes": [{"name": "DisplayName", "value": "W"}]}),
        )
        .await
        .expect(201)
        .body;
    let app_id = app["appId"].as_str().unwrap().to_string();
    seen.push(("DeveloperApp", "create app".into(), app));
    let body = s
        .post(
            &format!("{apps}/web/keys/create"),
            json!({"consumerKey": "k1", "consumerSecret": "s1"}),
        )
        .await
        .expect(201)
        .body;
    seen.push(("Credential", "import key".into(), body));
    let body = s
        .post(
            &format!("{apps}/web/keys/k1"),
            json!({"apiProducts": ["p"], "attributes": [{"name": "a", "value": "b"}]}),
        )
        .await
        .expect(200)
        .body;
    seen.push(("Credential", "add products".into(), body));
    let body = s
        .post(
            &format!("{apps}/web"),
            json!({"apiProducts": ["p"], "callbackUrl": "https://cb",
                   "attributes": [{"name": "DisplayName", "value": "W"}]}),
        )
        .await
        .expect(200)
        .body;
    seen.push(("DeveloperApp", "generate key".into(), body));

    for (path, schema) in [
        (dev.clone(), "Developer"),
        (format!("{apps}/web"), "DeveloperApp"),
        (format!("{apps}/web/keys/k1"), "Credential"),
        ("apiproducts/p".into(), "APIProduct"),
        (format!("apps/{app_id}"), "App"),
        ("developers".into(), "Names"),
        ("developers?expand=true".into(), "DeveloperList"),
        ("apiproducts".into(), "Names"),
        ("apiproducts?expand=true".into(), "APIProductList"),
        (apps.clone(), "Names"),
        (format!("{apps}?expand=true"), "DeveloperAppList"),
        (format!("{apps}?shallowExpand=true"), "DeveloperAppList"),
        ("apps".into(), "Names"),
        ("apps?expand=true".into(), "AppList"),
        ("apps?expand=true&includeCred=false".into(), "AppList"),
        (format!("{dev}/attributes"), "Attributes"),
        (format!("{dev}/attributes/team"), "Attribute"),
        (format!("{apps}/web/attributes"), "Attributes"),
        ("apiproducts/p/attributes".into(), "Attributes"),
    ] {
        let body = s.get(&path).await.expect(200).body;
        seen.push((schema, format!("GET {path}"), body));
    }
    let body = s.delete(&format!("{apps}/web")).await.expect(200).body;
    seen.push(("DeveloperApp", "delete app".into(), body));
    let body = s.delete(&dev).await.expect(200).body;
    seen.push(("Developer", "delete developer".into(), body));

    for (schema, at, body) in &seen {
        conforms(&fields, schema, body, at);
    }
    // What Edge always emits is there (numbers, `[]` for empty lists, audit fields).
    let (_, _, created) = &seen[0];
    for k in [
        "apps",
        "companies",
        "createdAt",
        "createdBy",
        "lastModifiedBy",
    ] {
        assert!(
            created.get(k).is_some(),
            "create developer: no `{k}`: {created}"
        );
    }

    // The fixture itself must be strict enough to fail.
    let probes = [
        ("Developer", json!({"accessType": "x"}), "an X-only field"),
        ("Developer", json!({"createdAt": "1"}), "int64 as a string"),
        (
            "Developer",
            json!({"apps": [{"appId": "x"}]}),
            "X's list stubs",
        ),
        ("Credential", json!({"apiProducts": ["p"]}), "product names"),
        ("Names", json!({"developer": []}), "a wrapper for names"),
    ];
    for (schema, probe, what) in probes {
        let caught = std::panic::catch_unwind(|| conforms(&fields, schema, &probe, "probe"));
        assert!(caught.is_err(), "{what} must be refused");
    }
}
