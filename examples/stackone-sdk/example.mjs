// StackOne's official SDK pointed at assessment-gateway (reference/stackone.md §6).
// Creates a project, an API key and a sandbox account through the admin API, then uses only the
// SDK: lists packages across pages, gets one, orders, updates the result, and checks typed errors.
//
//   GATEWAY_URL (default http://127.0.0.1:8080)  GATEWAY_ADMIN_TOKEN (the gateway's ADMIN_TOKEN)
import assert from "node:assert/strict";
import { StackOne } from "@stackone/stackone-client-ts";
import * as errors from "@stackone/stackone-client-ts/sdk/models/errors/index.js";

const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8080";
const adminToken = process.env.GATEWAY_ADMIN_TOKEN;
assert.ok(adminToken, "set GATEWAY_ADMIN_TOKEN to the gateway's ADMIN_TOKEN");

async function admin(path, body) {
  const res = await fetch(`${gateway}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 201, `${path}: ${await res.clone().text()}`);
  return res.json();
}

const project = await admin("/admin/projects", { name: "SDK example" });
const { key } = await admin(`/admin/projects/${project.id}/api-keys`, { name: "sdk" });
const account = await admin(`/admin/projects/${project.id}/accounts`, {
  provider: "sandbox", name: "Sandbox", credentials: {}, settings: { pass_mark: 70 },
});
const xAccountId = account.id;

const stackOne = new StackOne({
  serverURL: gateway,
  security: { username: key, password: "" },
  retryConfig: { strategy: "none" },
});

// 1. Packages, two per page: the SDK follows `next` until it is null.
const ids = [];
let pages = 0;
for await (const page of await stackOne.ats.listAssessmentsPackages({ xAccountId, pageSize: "2" })) {
  pages += 1;
  for (const pkg of page.assessmentPackagePaginated?.data ?? []) ids.push(pkg.id);
}
assert.equal(pages, 3);
assert.deepEqual(ids.length, 5);
console.log(`listed ${ids.length} packages over ${pages} pages: ${ids.join(", ")}`);

// 2. One package.
const one = await stackOne.ats.getAssessmentsPackage({ xAccountId, id: "sandbox-coding" });
assert.equal(one.assessmentPackageResult?.data?.name, "Coding (sandbox)");
console.log("got package", one.assessmentPackageResult.data.id);

// 3. An order.
const order = await stackOne.ats.orderAssessmentsRequest({
  xAccountId,
  atsCreateCandidatesAssessmentsRequestDto: {
    id: `sdk-order-${Date.now()}`,
    package: { id: "sandbox-coding" },
    candidate: { id: "cand_1", firstName: "Ada", lastName: "Lovelace",
                 emails: [{ type: "personal", value: "ada@example.com" }] },
    application: { id: "app_1" },
    job: { id: "job_1", title: "Backend Engineer" },
    resultsUpdateUrl: "https://ats.example.com/assessment-results",
  },
});
const created = order.createAssessmentOrderResult;
assert.ok(created?.id && created.remoteId && created.testUrl, JSON.stringify(created));
console.log("ordered", created);

// 4. A result update.
const update = await stackOne.ats.updateAssessmentsResult({
  xAccountId,
  id: created.id,
  atsUpdateCandidatesAssessmentsResultsRequestDto: {
    result: { value: "passed", sourceValue: "Passed" },
    score: { label: "Percentage", value: "80", min: "0", max: "100" },
    startDate: new Date("2025-01-01T10:00:00Z"),
    submissionDate: new Date("2025-01-01T10:45:00Z"),
    summary: "Passed with 80%",
    resultUrl: "https://vendor.example.com/report/1",
  },
});
assert.equal(update.updateResult?.statusCode, 200);
assert.ok(update.updateResult.timestamp instanceof Date);
console.log("result updated:", update.updateResult.message);

// 5. Typed errors: a bad key, an unknown package, an unknown order.
const denied = new StackOne({ serverURL: gateway, security: { username: "agw_wrong", password: "" }, retryConfig: { strategy: "none" } });
await assert.rejects(denied.ats.getAssessmentsPackage({ xAccountId, id: "sandbox-coding" }), (e) => {
  assert.ok(e instanceof errors.UnauthorizedResponse, `expected UnauthorizedResponse, got ${e?.constructor?.name}: ${e}`);
  assert.equal(e.statusCode, 401);
  return true;
});
await assert.rejects(stackOne.ats.getAssessmentsPackage({ xAccountId, id: "nope" }), (e) => e instanceof errors.NotFoundResponse);
await assert.rejects(
  stackOne.ats.updateAssessmentsResult({ xAccountId, id: "no-such-order", atsUpdateCandidatesAssessmentsResultsRequestDto: {} }),
  (e) => e instanceof errors.NotFoundResponse,
);
console.log("typed errors: UnauthorizedResponse for a bad key, NotFoundResponse for unknown ids");
console.log("ok: the StackOne SDK works against the gateway");
