import { XMLParser } from "fast-xml-parser";
import type { TestCase } from "@drover/task-api";

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  textNodeName: "#text",
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
  parseAttributeValue: false,
  trimValues: true,
});

type Node = Record<string, unknown>;

function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") {
    const t = (v as Node)["#text"];
    const m = (v as Node).message;
    return typeof m === "string" && m ? m : t === undefined ? undefined : String(t);
  }
  return String(v);
}

function suites(node: Node): Node[] {
  const out: Node[] = [];
  for (const s of (node.testsuite as Node[] | undefined) ?? []) {
    out.push(s);
    out.push(...suites(s));
  }
  return out;
}

/**
 * Parses a JUnit XML report (`<testsuites>` or a lone `<testsuite>`, nested suites included) into
 * test cases. `source` names the file the cases came from. Throws on malformed XML.
 */
export function parseJUnit(xml: string, source: string): TestCase[] {
  const doc = parser.parse(xml, true) as Node;
  const root = (doc.testsuites as Node | undefined) ?? { testsuite: doc.testsuite };
  const cases: TestCase[] = [];
  for (const suite of suites(root)) {
    for (const tc of (suite.testcase as Node[] | undefined) ?? []) {
      const failure = (tc.failure as unknown[] | undefined)?.[0];
      const error = (tc.error as unknown[] | undefined)?.[0];
      const skipped = (tc.skipped as unknown[] | undefined)?.[0];
      const result =
        failure !== undefined
          ? "failure"
          : error !== undefined
            ? "error"
            : skipped !== undefined
              ? "skipped"
              : "success";
      const message = str(failure ?? error ?? skipped);
      const time = Number(tc.time ?? 0);
      const file = str(tc.file) ?? str(suite.file);
      cases.push({
        classname: str(tc.classname) ?? str(suite.name) ?? "",
        name: str(tc.name) ?? "",
        ...(file ? { file } : {}),
        result,
        ...(message ? { message } : {}),
        runTimeSeconds: Number.isFinite(time) && time >= 0 ? time : 0,
        source,
      });
    }
  }
  return cases;
}
