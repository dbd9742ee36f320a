"""Conformance scenario for `registrar serve --flavor x`, driven by Google's published
Python client (google-api-python-client) with the apigee v1 discovery document it bundles.

Environment: REGISTRAR_URL (http://127.0.0.1:PORT), REGISTRAR_TOKEN (bearer token),
REGISTRAR_ORG, CONFORMANCE_IMPORT_KEY / CONFORMANCE_IMPORT_SECRET (a key pair to import),
CONFORMANCE_SECRETS_OUT (a file to write generated keys to, for the caller's canary).
Prints step names only, never a key or secret. Exits non-zero on the first failed check.
"""

import json
import os
import sys

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

URL = os.environ["REGISTRAR_URL"]
ORG = os.environ.get("REGISTRAR_ORG", "local")
PARENT = f"organizations/{ORG}"
IMPORT_KEY = os.environ["CONFORMANCE_IMPORT_KEY"]
IMPORT_SECRET = os.environ["CONFORMANCE_IMPORT_SECRET"]
minted = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def step(name):
    print(f"step: {name}", flush=True)


def status_of(err):
    return int(err.resp.status)


# The bundled discovery document (static_discovery=True), pointed at serve; a dummy token.
creds = Credentials(token=os.environ["REGISTRAR_TOKEN"])
api = build(
    "apigee",
    "v1",
    credentials=creds,
    static_discovery=True,
    client_options={"api_endpoint": URL},
    cache_discovery=False,
)
orgs = api.organizations()
devs = orgs.developers()
apps = devs.apps()
keys = apps.keys()
products = orgs.apiproducts()

step("organization")
org = orgs.get(name=PARENT).execute()
check(org["name"] == ORG, "organizations.get names the org")

step("developers")
for i in range(3):
    d = devs.create(
        parent=PARENT,
        body={"email": f"dev{i}@example.com", "firstName": "Dev", "lastName": str(i),
              "userName": f"dev{i}", "attributes": [{"name": "team", "value": "t"}]},
    ).execute()
    check(d["status"] == "active", "a new developer is active")
    check(isinstance(d["createdAt"], str), "int64 as a string")
try:
    devs.create(parent=PARENT, body={"email": "dev0@example.com", "firstName": "D",
                                     "lastName": "L", "userName": "u"}).execute()
    check(False, "a duplicate developer is refused")
except HttpError as e:
    check(status_of(e) == 409, "duplicate developer: 409")
try:
    devs.create(parent=PARENT, body={"email": "Upper@Example.com", "firstName": "D",
                                     "lastName": "L", "userName": "u"}).execute()
    check(False, "an uppercase email is refused")
except HttpError as e:
    check(status_of(e) == 400, "uppercase email: 400")
got = devs.get(name=f"{PARENT}/developers/dev1@example.com").execute()
check(got["attributes"] == [{"name": "team", "value": "t"}], "developers.get")
stubs = devs.list(parent=PARENT).execute()
check([d["email"] for d in stubs["developer"]] == [f"dev{i}@example.com" for i in range(3)],
      "developers.list without expand: email stubs")
page = devs.list(parent=PARENT, expand=True, count="2", startKey="dev1@example.com").execute()
check([d["email"] for d in page["developer"]] == ["dev1@example.com", "dev2@example.com"],
      "developers.list expand + count + startKey pages (inclusive startKey)")
got["lastName"] = "Changed"
put = devs.update(name=f"{PARENT}/developers/dev1@example.com", body=got).execute()
check(put["lastName"] == "Changed", "developers.update")

step("products")
og = {"operationConfigs": [{"apiSource": "orders", "operations": [
    {"resource": "/orders", "methods": ["GET"]}]}]}
p = products.create(parent=PARENT, body={
    "name": "orders", "displayName": "Orders", "approvalType": "auto",
    "scopes": ["read", "write"], "operationGroup": og}).execute()
check(p["operationGroup"] == og, "apiproducts.create keeps operationGroup")
products.create(parent=PARENT, body={"name": "manual", "displayName": "Manual",
                                     "approvalType": "manual"}).execute()
listed = products.list(parent=PARENT, expand=True).execute()
check([x["name"] for x in listed["apiProduct"]] == ["manual", "orders"], "apiproducts.list expand")
check(listed["apiProduct"][1]["operationGroup"] == og, "expanded list returns operationGroup")
p["description"] = "updated"
p = products.update(name=f"{PARENT}/apiproducts/orders", body=p).execute()
check(p["description"] == "updated" and p["operationGroup"] == og, "apiproducts.update")

step("apps")
app_name = f"{PARENT}/developers/dev0@example.com/apps/web"
a = apps.create(parent=f"{PARENT}/developers/dev0@example.com", body={
    "name": "web", "apiProducts": ["orders"], "callbackUrl": "https://web/cb",
    "attributes": [{"name": "DisplayName", "value": "Web"}]}).execute()
check(len(a["credentials"]) == 1, "apps.create mints one key")
cred = a["credentials"][0]
minted.append([cred["consumerKey"], cred["consumerSecret"]])
check(cred["apiProducts"] == [{"apiproduct": "orders", "status": "approved"}],
      "the first key holds the product, approved (approvalType auto)")
apps.create(parent=f"{PARENT}/developers/dev0@example.com", body={"name": "cli"}).execute()
listed = apps.list(parent=f"{PARENT}/developers/dev0@example.com", expand=True).execute()
check(sorted(x["name"] for x in listed["app"]) == ["cli", "web"], "developers.apps.list expand")
shallow = apps.list(parent=f"{PARENT}/developers/dev0@example.com", shallowExpand=True).execute()
check(all("credentials" not in x for x in shallow["app"]), "shallowExpand has no credentials")
a = apps.generateKeyPairOrUpdateDeveloperAppStatus(name=app_name, body={
    "apiProducts": ["manual"], "callbackUrl": "https://web/cb",
    "attributes": [{"name": "DisplayName", "value": "Web"}]}).execute()
check(len(a["credentials"]) == 2, "a body without action generates a key")
new = [c for c in a["credentials"] if c["consumerKey"] != cred["consumerKey"]][0]
minted.append([new["consumerKey"], new["consumerSecret"]])
check(new["apiProducts"] == [{"apiproduct": "manual", "status": "pending"}],
      "approvalType manual: pending")

step("keys")
# In this client the nested resource `keys.create` (POST …/keys/create) hides the method
# `keys.create` (POST …/keys) of the same name, so imports go through the legacy path.
k = keys.create().create(parent=app_name, body={"consumerKey": IMPORT_KEY,
                                                "consumerSecret": IMPORT_SECRET}).execute()
check(k["status"] == "approved" and not k.get("apiProducts"), "keys.create imports bare")
k = keys.updateDeveloperAppKey(name=f"{app_name}/keys/{IMPORT_KEY}",
                               body={"apiProducts": ["orders"]}).execute()
check(k["apiProducts"] == [{"apiproduct": "orders", "status": "approved"}], "products added")
keys.apiproducts().updateDeveloperAppKeyApiProduct(
    name=f"{app_name}/keys/{IMPORT_KEY}/apiproducts/orders", action="revoke").execute()
k = keys.get(name=f"{app_name}/keys/{IMPORT_KEY}").execute()
check(k["apiProducts"][0]["status"] == "revoked", "key product revoked")
keys.updateDeveloperAppKey(name=f"{app_name}/keys/{IMPORT_KEY}", action="revoke").execute()
check(keys.get(name=f"{app_name}/keys/{IMPORT_KEY}").execute()["status"] == "revoked",
      "key revoked")
try:
    keys.create().create(parent=app_name, body={"consumerKey": IMPORT_KEY,
                                                "consumerSecret": IMPORT_SECRET}).execute()
    check(False, "a duplicate key is refused")
except HttpError as e:
    check(status_of(e) == 409, "duplicate consumer key: 409")

step("status changes and the org-wide list")
apps.generateKeyPairOrUpdateDeveloperAppStatus(
    name=f"{PARENT}/developers/dev0@example.com/apps/cli", action="revoke").execute()
devs.setDeveloperStatus(name=f"{PARENT}/developers/dev2@example.com", action="inactive").execute()
check(devs.get(name=f"{PARENT}/developers/dev2@example.com").execute()["status"] == "inactive",
      "developer inactive")
org_apps = orgs.apps()
approved = org_apps.list(parent=PARENT, expand=True).execute()
check([x["name"] for x in approved["app"]] == ["web"], "apps.list: status defaults to approved")
web = approved["app"][0]
check(all(c["status"] == "approved" for c in web["credentials"]),
      "apps.list: keyStatus defaults to approved")
revoked = org_apps.list(parent=PARENT, expand=True, status="revoked").execute()
check([x["name"] for x in revoked["app"]] == ["cli"], "apps.list status=revoked")
revoked_keys = org_apps.list(parent=PARENT, expand=True, keyStatus="revoked").execute()
check([c["consumerKey"] == IMPORT_KEY for c in revoked_keys["app"][0]["credentials"]] == [True],
      "apps.list keyStatus=revoked shows the revoked key")
one = org_apps.get(name=f"{PARENT}/apps/{web['appId']}").execute()
check(one["developerEmail"] == "dev0@example.com", "apps.get")
for i in range(4):
    apps.create(parent=f"{PARENT}/developers/dev1@example.com", body={"name": f"p{i}"}).execute()
seen = []
req = org_apps.list(parent=PARENT, pageSize=2)
pages = 0
while req is not None:
    resp = req.execute()
    pages += 1
    check(resp.get("totalSize") == 5, "totalSize counts every approved app")
    seen += [x["appId"] for x in resp["app"]]
    req = org_apps.list_next(req, resp)
check(pages == 3 and len(set(seen)) == 5 and seen == sorted(seen),
      "pageSize/pageToken via list_next walks every app once, in order")

step("appgroups")
groups = orgs.appgroups()
g = groups.create(parent=PARENT, body={"name": "team-a", "displayName": "Team A",
                                      "attributes": [{"name": "tier", "value": "gold"}]}).execute()
check(g["status"] == "active" and g["name"] == "team-a", "appgroups.create")
listed = groups.list(parent=PARENT).execute()
check([x["name"] for x in listed["appGroups"]] == ["team-a"] and listed["totalSize"] == 1,
      "appgroups.list")
group_apps = groups.apps()
ga = group_apps.create(parent=f"{PARENT}/appgroups/team-a",
                       body={"name": "svc", "apiProducts": ["orders"]}).execute()
check(ga["appGroup"] == "team-a" and len(ga["credentials"]) == 1, "appgroups.apps.create mints a key")
minted.append([ga["credentials"][0]["consumerKey"], ga["credentials"][0]["consumerSecret"]])
gk = group_apps.keys().create(parent=f"{PARENT}/appgroups/team-a/apps/svc", body={
    "consumerKey": IMPORT_KEY + "-g", "consumerSecret": IMPORT_SECRET + "-g"}).execute()
check(gk["status"] == "approved", "appgroups.apps.keys.create")
gk = group_apps.keys().updateAppGroupAppKey(
    name=f"{PARENT}/appgroups/team-a/apps/svc/keys/{IMPORT_KEY}-g",
    body={"apiProducts": ["orders"]}).execute()
check(gk["apiProducts"] == [{"apiproduct": "orders", "status": "approved"}],
      "appgroups.apps.keys.updateAppGroupAppKey adds products")
listed = group_apps.list(parent=f"{PARENT}/appgroups/team-a").execute()
check([x["name"] for x in listed["appGroupApps"]] == ["svc"], "appgroups.apps.list")
only = org_apps.list(parent=PARENT, expand=True, filter="appType=AppGroup").execute()
check([(x["name"], x.get("appGroup"), "developerId" in x) for x in only["app"]]
      == [("svc", "team-a", False)], "apps.list filter=appType=AppGroup: appGroup, no developer")
group_apps.keys().delete(name=f"{PARENT}/appgroups/team-a/apps/svc/keys/{IMPORT_KEY}-g").execute()
group_apps.delete(name=f"{PARENT}/appgroups/team-a/apps/svc").execute()
groups.delete(name=f"{PARENT}/appgroups/team-a").execute()
check(groups.list(parent=PARENT).execute() == {}, "no AppGroup left")

step("deletes")
keys.delete(name=f"{app_name}/keys/{IMPORT_KEY}").execute()
gone = apps.delete(name=app_name).execute()
check(gone["name"] == "web", "apps.delete answers the app")
try:
    apps.get(name=app_name).execute()
    check(False, "a deleted app is gone")
except HttpError as e:
    check(status_of(e) == 404, "deleted app: 404")
for i in range(3):
    devs.delete(name=f"{PARENT}/developers/dev{i}@example.com").execute()
products.delete(name=f"{PARENT}/apiproducts/orders").execute()
products.delete(name=f"{PARENT}/apiproducts/manual").execute()
check(devs.list(parent=PARENT).execute() == {}, "an empty list is {}")
check(org_apps.list(parent=PARENT).execute() == {}, "no app left")

with open(os.environ["CONFORMANCE_SECRETS_OUT"], "w") as f:
    json.dump(minted, f)
print(f"ok: {checks} checks", flush=True)
