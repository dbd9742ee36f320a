// Conformance scenario for `registrar serve --flavor edge`, driven by the published Node
// client apigee-edge-js (pinned in package.json / package-lock.json).
//
// Environment: REGISTRAR_URL (http://127.0.0.1:PORT), REGISTRAR_TOKEN (the basic-auth
// password), REGISTRAR_ORG, CONFORMANCE_IMPORT_KEY / CONFORMANCE_IMPORT_SECRET (a pair to
// import), CONFORMANCE_SECRETS_OUT (a file to write generated keys to, for the caller's
// canary). Prints step names only, never a key or secret; exits non-zero on a failed check.
"use strict";

const fs = require("fs");
const { apigee } = require("apigee-edge-js");

const URL = process.env.REGISTRAR_URL;
const ORG = process.env.REGISTRAR_ORG || "local";
const IMPORT_KEY = process.env.CONFORMANCE_IMPORT_KEY;
const IMPORT_SECRET = process.env.CONFORMANCE_IMPORT_SECRET;
const minted = [];
let checks = 0;

function check(cond, what) {
  checks += 1;
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

function step(name) {
  console.log(`step: ${name}`);
}

// Errors carry the response body; print the status line only (a body may hold a key).
async function fails(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return String(e.message || e);
  }
}

const sorted = (a) => [...a].sort();

async function main() {
  step("connect (basic auth; the client reads the org first)");
  const org = await apigee.connect({
    mgmtServer: URL,
    org: ORG,
    user: "admin@example.com",
    password: process.env.REGISTRAR_TOKEN,
    no_token: true,
  });
  const props = await org.getProperties();
  check(props["features.isCpsEnabled"] === "true", "org properties are read");

  step("developers");
  for (const i of [0, 1, 2]) {
    const d = await org.developers.create({
      developerEmail: `dev${i}@example.com`,
      firstName: "Dev",
      lastName: String(i),
      userName: `dev${i}`,
      attributes: { team: "t" },
    });
    check(d.status === "active" && typeof d.createdAt === "number", "developer created");
  }
  const dup = await fails(
    org.developers.create({
      developerEmail: "dev0@example.com", firstName: "D", lastName: "L", userName: "u",
    }),
  );
  check(dup === "bad status: 409", `a duplicate developer is refused (${dup})`);
  const list = await org.developers.get({});
  check(
    JSON.stringify(list) === JSON.stringify(["dev0@example.com", "dev1@example.com", "dev2@example.com"]),
    "developers list: a bare array of emails",
  );
  const one = await org.developers.get({ developerEmail: "dev1@example.com" });
  check(one.attributes.some((a) => a.name === "team" && a.value === "t"), "developer get");
  await org.developers.revoke({ developerEmail: "dev2@example.com" });
  const dev2 = await org.developers.get({ developerEmail: "dev2@example.com" });
  check(dev2.status === "inactive", "developer revoke → inactive");
  await org.developers.approve({ developerEmail: "dev2@example.com" });

  step("products");
  const p = await org.products.create({
    productName: "orders",
    approvalType: "auto",
    environments: ["test"],
    proxies: ["orders-proxy"],
    scopes: ["read", "write"],
    attributes: { access: "public" },
  });
  check(p.name === "orders" && p.approvalType === "auto", "product created");
  await org.products.create({ productName: "manual", proxy: "p", approvalType: "manual" });
  const names = await org.products.get({});
  check(JSON.stringify(names) === JSON.stringify(["manual", "orders"]), "products list: names");
  const expanded = await org.products.get({ expand: true });
  check(expanded.apiProduct.length === 2, "products list expand: objects");
  const got = await org.products.get({ name: "orders" });
  got.description = "updated by POST";
  const updated = await org.products.update(got);
  check(updated.description === "updated by POST", "product update (POST /apiproducts/{name})");

  step("apps");
  const app = await org.developerapps.create({
    developerEmail: "dev0@example.com",
    appName: "web",
    apiProduct: "orders",
    callbackUrl: "https://web/cb",
    attributes: { DisplayName: "Web" },
  });
  check(app.credentials.length === 1, "app created with one key");
  const cred = app.credentials[0];
  minted.push([cred.consumerKey, cred.consumerSecret]);
  check(cred.apiProducts[0].apiproduct === "orders" && cred.apiProducts[0].status === "approved",
    "the key holds the product");
  await org.developerapps.create({ developerEmail: "dev0@example.com", appName: "cli", apiProduct: "manual" })
    .then((a) => minted.push([a.credentials[0].consumerKey, a.credentials[0].consumerSecret]));
  const appNames = await org.developerapps.get({ developerEmail: "dev0@example.com" });
  check(JSON.stringify(sorted(appNames)) === JSON.stringify(["cli", "web"]), "developer apps: names");
  const upd = await org.developerapps.update({
    developerEmail: "dev0@example.com", appName: "web", attributes: { Notes: "n" },
  });
  check(upd.credentials.length === 1, "app PUT of the GET body mints no key");
  check(upd.attributes.some((a) => a.name === "Notes") && upd.attributes.some((a) => a.name === "DisplayName"),
    "app attributes merged");

  step("keys");
  const k = await org.appcredentials.add({
    developerEmail: "dev0@example.com",
    appName: "web",
    consumerKey: IMPORT_KEY,
    consumerSecret: IMPORT_SECRET,
    apiProducts: ["orders"],
  });
  check(k.apiProducts.length === 1 && k.apiProducts[0].apiproduct === "orders", "key imported, product added");
  const kg = await org.appcredentials.get({ developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY });
  check(kg.status === "approved", "key get");
  await org.appcredentials.revoke({ developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY });
  const kr = await org.appcredentials.get({ developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY });
  check(kr.status === "revoked", "key revoke");
  const added = await org.appcredentials.addProduct({
    developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY, product: "manual",
  });
  check(added.apiProducts.some((g) => g.apiproduct === "manual"), "key PUT with apiProducts adds one");

  step("status changes and the org-wide list");
  await org.developerapps.revoke({ developerEmail: "dev0@example.com", appName: "cli" });
  const cli = await org.developerapps.get({ developerEmail: "dev0@example.com", appName: "cli" });
  check(cli.status === "revoked", "app revoke");
  const ids = await org.apps.get({});
  check(Array.isArray(ids) && ids.length === 2, "org apps: appIds, revoked included (Edge has no default)");
  const full = await org.apps.get({ expand: true });
  check(sorted(full.app.map((a) => a.name)).join() === "cli,web", "org apps expand");
  const byId = await org.apps.get({ id: app.appId });
  check(byId.name === "web", "org app by id");
  await org.developerapps.approve({ developerEmail: "dev0@example.com", appName: "cli" });

  step("deletes");
  await org.appcredentials.del({ developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY });
  const gone = await fails(org.appcredentials.get({ developerEmail: "dev0@example.com", appName: "web", key: IMPORT_KEY }));
  check(gone === "bad status: 404", "deleted key: 404");
  const del = await org.developerapps.del({ developerEmail: "dev0@example.com", appName: "web" });
  check(del.name === "web", "app delete answers the app");
  for (const i of [0, 1, 2]) {
    await org.developers.del({ developerEmail: `dev${i}@example.com` });
  }
  await org.products.del({ productName: "orders" });
  await org.products.del({ productName: "manual" });
  check(JSON.stringify(await org.developers.get({})) === "[]", "no developer left");
  check(JSON.stringify(await org.apps.get({})) === "[]", "no app left");

  fs.writeFileSync(process.env.CONFORMANCE_SECRETS_OUT, JSON.stringify(minted));
  console.log(`ok: ${checks} checks`);
}

main().catch((e) => {
  console.error(`FAILED: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
