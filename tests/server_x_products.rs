//! `registrar serve --flavor x`: API products (create, get, list, replace, delete) and their
//! encoding (quota fields as strings, empty fields omitted).

mod common;

use common::{Server, assert_x_error};
use serde_json::json;

#[tokio::test]
async fn products_lifecycle() {
    let s = Server::start("x", &[]);
    let p = s
        .post("apiproducts", json!({"name": "pay read", "displayName": "Pay", "approvalType": "manual",
            "environments": ["prod"], "proxies": ["pay-v1"], "apiResources": ["/pay/**"], "scopes": ["pay.read"],
            "quota": 1000, "quotaInterval": "1", "quotaTimeUnit": "minute",
            "attributes": [{"name": "access", "value": "public"}]}))
        .await
        .expect(201)
        .body;
    assert_eq!(p["quota"], "1000", "quota is a string");
    assert!(p.get("description").is_none());
    let got = s.get("apiproducts/pay%20read").await.expect(200).body;
    assert_eq!(got, p);
    let list = s.get("apiproducts?expand=true").await.body;
    assert_eq!(list["apiProduct"][0]["name"], "pay read");
    let mut put = p.clone();
    put["description"] = json!("Read payments");
    let updated = s.put("apiproducts/pay%20read", put).await.expect(200).body;
    assert_eq!(updated["description"], "Read payments");
    let renamed = s
        .put(
            "apiproducts/pay%20read",
            json!({"name": "other", "displayName": "x"}),
        )
        .await;
    assert_x_error(
        &renamed,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );
    let dup = s
        .post(
            "apiproducts",
            json!({"name": "pay read", "displayName": "x"}),
        )
        .await;
    assert_x_error(
        &dup,
        409,
        "ALREADY_EXISTS",
        "keymanagement.service.apiproduct_already_exists",
    );
    let deleted = s.delete("apiproducts/pay%20read").await.expect(200).body;
    assert_eq!(deleted["name"], "pay read");
    let missing = s.get("apiproducts/pay%20read").await;
    assert_x_error(
        &missing,
        404,
        "NOT_FOUND",
        "keymanagement.service.apiproduct_doesnot_exist",
    );
}
