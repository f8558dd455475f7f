// A sample integration: the README's first check, sent with openapi-fetch and typed by the
// types openapi-typescript generates from the served OpenAPI document (generated/api.d.ts).
// tsc type-checks it (tests/test_generated_clients.py); nothing here runs in the test.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type CheckRequest = components["schemas"]["CheckRequest"];
type Verdict = components["schemas"]["CheckResult"]["verdict"];

const request: CheckRequest = {
  as_of: "2026-02-10",
  employee: {
    id: "E1001",
    gender: "female",
    hire_date: "2021-03-01",
    region: "CN-BJ",
    pregnancy: { status: "pregnant" },
    contract: { type: "fixed_term", end_date: "2027-12-31" },
  },
  employer: { union_exists: true },
  action: {
    type: "terminate_with_notice",
    ground: "art40_2",
    union_notified: true,
    notice_served_on: "2026-01-05",
    actor: { id: "HR7", role: "hr" },
  },
};

export async function mayProceed(baseUrl: string, apiKey: string): Promise<boolean> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  const { data, error } = await api.POST("/v1/checks", { body: request });
  if (error !== undefined) {
    // Every error answer has one shape (components.schemas.Error).
    throw new Error(`${error.status} ${error.code}: ${error.message}`);
  }
  const verdict: Verdict = data.verdict; // "deny" | "warn" | "allow", always present
  for (const finding of data.findings) {
    const refs: string[] = finding.citations.map((citation) => citation.ref);
    console.log(finding.rule_id, finding.verdict, finding.outcome, refs.join(", "));
  }
  switch (verdict) {
    case "deny":
      return false;
    case "warn":
    case "allow":
      return true;
  }
}

// The generated types are strict enough to catch these mistakes.
// @ts-expect-error "approve" is not a verdict
export const notAVerdict: Verdict = "approve";
// @ts-expect-error a check needs an action
export const noAction: CheckRequest = { employee: request.employee };
// @ts-expect-error no such path
export const notAPath: keyof paths = "/v1/check";
