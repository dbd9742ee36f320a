//! `registrar serve` under a concurrent flood of writes racing deletes of their parents:
//! creates, updates, key imports and grants against deletes of the developer, the app and the
//! product they hang off. Every answer must be a success, 404 or 409; a 5xx (such as
//! `FOREIGN KEY constraint failed` answered as "internal error in the registry store") fails
//! the test. Bounded: a fixed number of rounds, stopped early after a few seconds.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Reply, Server, enc};
use serde_json::json;

/// Rounds per lane, lanes run concurrently.
const ROUNDS: usize = 150;
const LANES: usize = 4;
/// Wall-clock bound of the whole flood.
const BUDGET: Duration = Duration::from_secs(4);

/// Statuses seen, by operation.
#[derive(Default)]
struct Tally {
    by_op: BTreeMap<(&'static str, u16), usize>,
    unexpected: Vec<String>,
}

impl Tally {
    fn note(&mut self, op: &'static str, r: &Reply) {
        let code = r.status.as_u16();
        *self.by_op.entry((op, code)).or_default() += 1;
        if !matches!(code, 200 | 201 | 204 | 404 | 409) {
            self.unexpected.push(format!("{op} → {code}: {}", r.text));
        }
    }

    fn total(&self) -> usize {
        self.by_op.values().sum()
    }

    fn count_5xx(&self) -> usize {
        self.by_op
            .iter()
            .filter(|((_, c), _)| *c >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

/// One round: a developer with an app and a keyed product, then every racer at once.
async fn round(s: &Server, lane: usize, i: usize, t: &mut Tally) {
    let email = format!("d{lane}x{i}@example.com");
    let product = format!("p{lane}x{i}");
    let dev = format!("developers/{}", enc(&email));
    let app = format!("{dev}/apps/a");
    t.note(
        "setup",
        &s.post(
            "developers",
            json!({"email": email, "firstName": "A", "lastName": "B", "userName": "ab"}),
        )
        .await,
    );
    t.note(
        "setup",
        &s.post(
            "apiproducts",
            json!({"name": product, "displayName": product, "approvalType": "auto",
                   "scopes": ["read"]}),
        )
        .await,
    );
    let created = s
        .post(
            &format!("{dev}/apps"),
            json!({"name": "a", "apiProducts": [product]}),
        )
        .await;
    t.note("setup", &created);
    let ck = created.body["credentials"][0]["consumerKey"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let key = format!("{app}/keys/{ck}");
    let imported = format!("k{lane}x{i}");
    let product_path = format!("apiproducts/{product}");
    let apps = format!("{dev}/apps");
    let import_path = format!("{app}/keys/create");
    let attrs_path = format!("{app}/attributes");
    let revoke_path = format!("{app}?action=revoke");
    let (del_dev, del_prod, del_app, create_app, put_app, import, grant, scopes, attrs, status) = tokio::join!(
        s.delete(&dev),
        s.delete(&product_path),
        s.delete(&app),
        s.post(&apps, json!({"name": "b", "apiProducts": [product]})),
        s.put(
            &app,
            json!({"name": "a", "apiProducts": [product], "callbackUrl": "https://x.example"})
        ),
        s.post(
            &import_path,
            json!({"consumerKey": imported, "consumerSecret": "s3cret"})
        ),
        s.post(&key, json!({"apiProducts": [product]})),
        s.put(&key, json!({"apiProducts": [product], "scopes": []})),
        s.post(
            &attrs_path,
            json!({"attribute": [{"name": "x", "value": "1"}]})
        ),
        s.action(&revoke_path),
    );
    t.note("delete developer", &del_dev);
    t.note("delete product", &del_prod);
    t.note("delete app", &del_app);
    t.note("create app", &create_app);
    t.note("put app", &put_app);
    t.note("import key", &import);
    t.note("add key product", &grant);
    t.note("put key", &scopes);
    t.note("set app attributes", &attrs);
    t.note("revoke app", &status);
    // Whatever won, the developer is gone or goes now; the product likewise.
    let r = s.delete(&dev).await;
    assert!(matches!(r.status.as_u16(), 200 | 404), "{}", r.text);
    let r = s.delete(&product_path).await;
    assert!(matches!(r.status.as_u16(), 200 | 404), "{}", r.text);
}

async fn lane(s: &Server, lane: usize, deadline: Instant) -> (Tally, usize) {
    let mut t = Tally::default();
    let mut rounds = 0;
    while rounds < ROUNDS && Instant::now() < deadline {
        round(s, lane, rounds, &mut t).await;
        rounds += 1;
    }
    (t, rounds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_deletes_never_answer_5xx() {
    let s = Server::start("x", &[]);
    let deadline = Instant::now() + BUDGET;
    let (a, b, c, d) = tokio::join!(
        lane(&s, 0, deadline),
        lane(&s, 1, deadline),
        lane(&s, 2, deadline),
        lane(&s, 3, deadline),
    );
    let mut all = Tally::default();
    let mut rounds = 0;
    for (t, n) in [a, b, c, d] {
        rounds += n;
        for (k, v) in t.by_op {
            *all.by_op.entry(k).or_default() += v;
        }
        all.unexpected.extend(t.unexpected);
    }
    eprintln!(
        "{rounds} rounds, {} requests, {} answered 5xx",
        all.total(),
        all.count_5xx()
    );
    for ((op, code), n) in &all.by_op {
        eprintln!("  {op:<20} {code} × {n}");
    }
    assert!(rounds >= LANES, "the flood ran at least one round per lane");
    assert!(
        all.unexpected.is_empty(),
        "{} of {} requests answered unexpectedly (5xx: {}):\n{}\nserver log:\n{}",
        all.unexpected.len(),
        all.total(),
        all.count_5xx(),
        all.unexpected[..all.unexpected.len().min(10)].join("\n"),
        s.stderr()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
