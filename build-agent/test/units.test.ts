import { describe, expect, it } from "vitest";
import {
  AgentError,
  dockerConnection,
  loadAgentConfig,
  parseImageAliases,
  parseJUnit,
  renderKey,
  resolveImage,
  resourcesFor,
} from "@drover/build-agent";

describe("image aliases", () => {
  const rules = parseImageAliases("cimg/base:*=drover/ci-base, cimg/*=drover/ci-base:latest");
  it("maps by glob, first match wins, adds :latest", () => {
    expect(resolveImage("cimg/base:stable", rules)).toMatchObject({
      image: "drover/ci-base:latest",
    });
    expect(resolveImage("cimg/node:20.1", rules).alias?.pattern).toBe("cimg/*");
    expect(resolveImage("postgres:16", rules)).toEqual({ image: "postgres:16" });
    expect(resolveImage("redis", rules)).toEqual({ image: "redis:latest" });
    expect(resolveImage("localhost:5000/x", [])).toEqual({ image: "localhost:5000/x:latest" });
  });
  it("rejects a rule without '='", () => {
    expect(() => parseImageAliases("cimg/base")).toThrow(
      /DROVER_IMAGE_ALIASES: 'cimg\/base' is not 'pattern=image'/,
    );
  });
});

describe("resource classes", () => {
  it("maps CircleCI classes and clamps CPUs to the host", () => {
    expect(resourcesFor("small", 8)).toEqual({ nanoCpus: 1e9, memoryBytes: 2 * 1024 ** 3 });
    expect(resourcesFor("large", 2)).toEqual({ nanoCpus: 2e9, memoryBytes: 8 * 1024 ** 3 });
    expect(resourcesFor("2xlarge", 64)).toEqual({ nanoCpus: 16e9, memoryBytes: 32 * 1024 ** 3 });
    expect(resourcesFor("unknown", 8)).toEqual(resourcesFor("medium", 8));
  });
});

describe("cache key templates", () => {
  const values = {
    branch: "feature/x",
    revision: "abc123",
    buildNum: 9,
    environment: { LANG_VERSION: "3.12" },
    machine: "x86_64",
    now: new Date(1_700_000_000_000),
    checksum: async (p: string) => `sum(${p})`,
  };
  it("renders every documented expression", async () => {
    const key = await renderKey(
      'v1-{{ .Branch }}-{{ .Revision }}-{{ .BuildNum }}-{{ .Environment.LANG_VERSION }}-{{ checksum "a.lock" }}-{{ epoch }}-{{ arch }}',
      values,
    );
    expect(key).toBe("v1-feature/x-abc123-9-3.12-sum_a.lock_-1700000000-arch1-linux-amd64");
  });
  it("names an unknown expression and is the user's failure", async () => {
    const err = await renderKey("v1-{{ .Nope }}", values).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).infrastructure).toBe(false);
    expect((err as Error).message).toContain("'{{ .Nope }}'");
  });
});

describe("JUnit parsing", () => {
  it("reads a lone testsuite, nested suites, errors", () => {
    const xml = `<testsuite name="outer"><testcase name="a" classname="k" time="1.5"/>
      <testsuite name="inner" file="x.js"><testcase name="b" classname="k"><error>stack</error></testcase></testsuite></testsuite>`;
    expect(parseJUnit(xml, "r.xml")).toEqual([
      { classname: "k", name: "a", result: "success", runTimeSeconds: 1.5, source: "r.xml" },
      {
        classname: "k",
        name: "b",
        file: "x.js",
        result: "error",
        message: "stack",
        runTimeSeconds: 0,
        source: "r.xml",
      },
    ]);
  });
  it("throws on malformed XML", () => {
    expect(() => parseJUnit("<testsuite><testcase></testsuite>", "bad.xml")).toThrow();
  });
});

describe("agent config", () => {
  it("names every bad variable", () => {
    expect(() => loadAgentConfig({ DROVER_URL: "not a url", DROVER_IMAGE_PULL: "always" })).toThrow(
      /DROVER_TASK_TOKEN[\s\S]*DROVER_URL[\s\S]*DROVER_IMAGE_PULL/,
    );
  });
  it("refuses a plaintext control plane beyond loopback unless allowed, and reads DROVER_TLS_CA", () => {
    const remote = { DROVER_TASK_TOKEN: "t", DROVER_URL: "http://ci.internal:8080" };
    expect(() => loadAgentConfig(remote)).toThrow(
      /the control plane at http:\/\/ci.internal:8080 \(DROVER_URL\) is plaintext beyond loopback/,
    );
    expect(loadAgentConfig({ ...remote, DROVER_ALLOW_PLAINTEXT: "true" }).url).toBe(
      remote.DROVER_URL,
    );
    expect(() =>
      loadAgentConfig({ ...remote, DROVER_URL: "https://ci.internal", DROVER_TLS_CA: "/nope.pem" }),
    ).toThrow(/DROVER_TLS_CA: cannot read \/nope.pem/);
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    expect(
      loadAgentConfig({ ...remote, DROVER_URL: "https://ci.internal", DROVER_TLS_CA_PEM: pem }).tls,
    ).toEqual({ ca: pem });
  });
  it("defaults to the unix socket and the cimg/base alias", () => {
    const c = loadAgentConfig({ DROVER_TASK_TOKEN: "t", DROVER_URL: "http://127.0.0.1:8080" });
    expect(c.docker).toEqual({ socketPath: "/var/run/docker.sock" });
    expect(c.executor.aliases.map((a) => a.pattern)).toEqual(["cimg/base:*"]);
    expect(
      loadAgentConfig({
        DROVER_TASK_TOKEN: "t",
        DROVER_URL: "http://127.0.0.1:8080",
        DROVER_IMAGE_ALIASES: "",
      }).executor.aliases,
    ).toEqual([]);
  });
  it("puts jobs on networks of their own with firewall rules by default", () => {
    const base = { DROVER_TASK_TOKEN: "t", DROVER_URL: "http://127.0.0.1:8080" };
    expect(loadAgentConfig(base).executor).toMatchObject({ network: "per-job", netRules: "auto" });
    expect(() => loadAgentConfig({ ...base, DROVER_NET_RULES: "always" })).toThrow(
      /DROVER_NET_RULES/,
    );
    expect(() =>
      loadAgentConfig({ ...base, DROVER_NET_RULES: "on", DROVER_DOCKER_NETWORK: "shared" }),
    ).toThrow(/DROVER_NET_RULES: 'on' needs DROVER_DOCKER_NETWORK=per-job/);
    expect(
      loadAgentConfig({ ...base, DROVER_NET_RULES: "off", DROVER_DOCKER_NETWORK: "shared" })
        .executor,
    ).toMatchObject({ network: "shared", netRules: "off" });
  });
  it("reads a tcp DOCKER_HOST with TLS", () => {
    expect(dockerConnection("tcp://10.0.0.5:2376", true, "/certs")).toEqual({
      host: "10.0.0.5",
      port: 2376,
      protocol: "https",
      certPath: "/certs",
    });
    expect(dockerConnection("tcp://127.0.0.1", false)).toEqual({
      host: "127.0.0.1",
      port: 2375,
      protocol: "http",
    });
  });
});

describe("process start times", () => {
  it("tells this process from a reused pid", async () => {
    const { processStart } = await import("../src/executor/docker/process-start.js");
    const self = processStart("self");
    expect(self).toMatch(/^\d+$/);
    expect(processStart(process.pid)).toBe(self);
    expect(processStart(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe("step paths", () => {
  it("resolves '.', empty and inner '..' segments and refuses to climb above the start", async () => {
    const { normalizeRelative, artifactPathProblem } = await import("../src/steps/paths.js");
    expect(normalizeRelative("a/../b/./")).toBe("b");
    expect(normalizeRelative("/reports//x/")).toBe("reports/x");
    expect(normalizeRelative("./")).toBe("");
    expect(normalizeRelative("..foo/x")).toBe("..foo/x");
    expect(normalizeRelative("../x")).toBeUndefined();
    expect(normalizeRelative("a/../../x")).toBeUndefined();
    expect(normalizeRelative("..")).toBeUndefined();
    expect(artifactPathProblem("a/b.txt")).toBeUndefined();
    expect(artifactPathProblem("a\\b")).toMatch(/backslash/);
    expect(artifactPathProblem("x".repeat(1025))).toMatch(/1024/);
  });
});
