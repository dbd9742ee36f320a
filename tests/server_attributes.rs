//! Attribute sub-resources of developers, apps and products, in both flavours.

mod common;

use common::{Server, assert_edge_error, assert_x_error};
use serde_json::json;

#[tokio::test]
async fn attributes_of_developers_apps_and_products() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &[]);
        s.seed("at@example.com", "prod", "web").await;
        for owner in [
            "developers/at%40example.com",
            "developers/at%40example.com/apps/web",
            "apiproducts/prod",
        ] {
            let list = s.get(&format!("{owner}/attributes")).await.expect(200).body;
            match flavor {
                "x" => assert_eq!(list, json!({})),
                _ => assert_eq!(list, json!({"attribute": []})),
            }
            let all =
                json!({"attribute": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]});
            let replaced = s
                .post(&format!("{owner}/attributes"), all.clone())
                .await
                .expect(200)
                .body;
            assert_eq!(replaced, all);
            let one = s
                .post(&format!("{owner}/attributes/b"), json!({"value": "3"}))
                .await
                .expect(200)
                .body;
            assert_eq!(one, json!({"name": "b", "value": "3"}));
            s.post(
                &format!("{owner}/attributes/c"),
                json!({"name": "c", "value": "4"}),
            )
            .await
            .expect(200);
            assert_eq!(
                s.get(&format!("{owner}/attributes/b"))
                    .await
                    .expect(200)
                    .body["value"],
                "3"
            );
            let gone = s
                .delete(&format!("{owner}/attributes/a"))
                .await
                .expect(200)
                .body;
            assert_eq!(gone, json!({"name": "a", "value": "1"}));
            let entity = s.get(owner).await.expect(200).body;
            assert_eq!(
                entity["attributes"],
                json!([{"name": "b", "value": "3"}, {"name": "c", "value": "4"}])
            );
            let missing = s.get(&format!("{owner}/attributes/a")).await;
            match flavor {
                "x" => assert_x_error(
                    &missing,
                    404,
                    "NOT_FOUND",
                    "registrar.AttributeDoesNotExist",
                ),
                _ => assert_edge_error(&missing, 404, "registrar.AttributeDoesNotExist"),
            }
            let mismatch = s
                .post(
                    &format!("{owner}/attributes/b"),
                    json!({"name": "z", "value": "1"}),
                )
                .await;
            assert_eq!(mismatch.status, 400);
            let dup = s
                .post(&format!("{owner}/attributes"), json!({"attribute": [{"name": "d", "value": "1"}, {"name": "d", "value": "2"}]}))
                .await;
            assert_eq!(dup.status, 400, "{}", dup.text);
        }
    }
}
