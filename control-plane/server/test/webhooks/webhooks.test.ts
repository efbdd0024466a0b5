import { createHmac, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  parseGithubPush,
  parseGitlabPush,
  verifyGithubSignature,
  verifyGitlabToken,
  type ControlPlane,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { DroverClient } from "@drover/cli";
import { testDatabases } from "../helpers/databases.js";
import { CONFIG, commitFiles, http, makeRepo, startTestServer } from "../helpers/server.js";

const sign = (body: string, secret: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("webhook signatures", () => {
  it("accepts only the HMAC-SHA256 of the exact body with the project's secret", () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    expect(verifyGithubSignature(body, "s3cret", sign(body.toString(), "s3cret"))).toBe(true);
    expect(verifyGithubSignature(body, "s3cret", sign(body.toString(), "other"))).toBe(false);
    expect(
      verifyGithubSignature(
        Buffer.from(`${body.toString()} `),
        "s3cret",
        sign(body.toString(), "s3cret"),
      ),
    ).toBe(false);
    expect(verifyGithubSignature(body, "s3cret", undefined)).toBe(false);
    expect(verifyGithubSignature(body, "s3cret", "sha1=abc")).toBe(false);
    expect(verifyGitlabToken("tok", "tok")).toBe(true);
    expect(verifyGitlabToken("tok", "tok2")).toBe(false);
    expect(verifyGitlabToken("tok", undefined)).toBe(false);
  });

  it("reads branch and tag pushes", () => {
    const sha = "a".repeat(40);
    expect(
      parseGithubPush({ ref: "refs/heads/feat/x", after: sha, repository: { full_name: "o/r" } }),
    ).toEqual({
      fullName: "o/r",
      branch: "feat/x",
      revision: sha,
      deleted: false,
    });
    expect(
      parseGithubPush({
        ref: "refs/tags/v1",
        after: "0".repeat(40),
        repository: { full_name: "o/r" },
      }),
    ).toMatchObject({
      tag: "v1",
      deleted: true,
    });
    expect(
      parseGithubPush({ ref: "refs/pull/1/head", after: sha, repository: { full_name: "o/r" } }),
    ).toBeNull();
    expect(
      parseGitlabPush({
        ref: "refs/heads/main",
        checkout_sha: sha,
        project: { path_with_namespace: "g/s/r" },
      }),
    ).toMatchObject({ fullName: "g/s/r", branch: "main", revision: sha });
  });
});

const dbs = await testDatabases();

describe.each(dbs)("webhook endpoints ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  const repo = makeRepo({ ".circleci/config.yml": CONFIG });
  const name = `repo-${randomUUID().slice(0, 8)}`;
  let ghSecret = "";
  let glSecret = "";
  beforeAll(async () => {
    db = await open();
    ({ cp, admin } = await startTestServer(db, new InstantScheduler()));
    ghSecret = (await admin.addProject({ slug: `gh/acme/${name}`, repository_url: repo.url }))
      .webhook_secret;
    glSecret = (await admin.addProject({ slug: `gl/group/${name}`, repository_url: repo.url }))
      .webhook_secret;
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("triggers a GitHub push with a valid signature and refuses a forged one", async () => {
    const head = commitFiles(repo.dir, { "x.txt": randomUUID() }, "pushed");
    const body = JSON.stringify({
      ref: "refs/heads/main",
      after: head,
      repository: { full_name: `acme/${name}` },
    });
    const headers = { "x-github-event": "push", "x-hub-signature-256": sign(body, ghSecret) };
    const ok = await http(cp.url, "POST", "/hooks/github", { raw: body, headers });
    expect(ok.status).toBe(201);
    const p = await admin.pipeline(ok.body.id);
    expect(p).toMatchObject({
      state: "created",
      trigger: { type: "webhook" },
      vcs: { branch: "main", revision: head },
    });
    const forged = await http(cp.url, "POST", "/hooks/github", {
      raw: body,
      headers: { ...headers, "x-hub-signature-256": sign(body, "guess") },
    });
    expect(forged.status).toBe(401);
    const unsigned = await http(cp.url, "POST", "/hooks/github", {
      raw: body,
      headers: { "x-github-event": "push" },
    });
    expect(unsigned.status).toBe(401);
    const tampered = body.replace("main", "evil");
    expect((await http(cp.url, "POST", "/hooks/github", { raw: tampered, headers })).status).toBe(
      401,
    );
    const ping = JSON.stringify({ zen: "hi", repository: { full_name: `acme/${name}` } });
    const pong = await http(cp.url, "POST", "/hooks/github", {
      raw: ping,
      headers: { "x-github-event": "ping", "x-hub-signature-256": sign(ping, ghSecret) },
    });
    expect(pong.status).toBe(200);
  });

  it("answers an unknown repository exactly as a wrong signature, for either forge", async () => {
    const head = commitFiles(repo.dir, { "probe.txt": randomUUID() }, "probe");
    const gh = (fullName: string) =>
      JSON.stringify({ ref: "refs/heads/main", after: head, repository: { full_name: fullName } });
    const github = async (body: string, secret: string) =>
      http(cp.url, "POST", "/hooks/github", {
        raw: body,
        headers: { "x-github-event": "push", "x-hub-signature-256": sign(body, secret) },
      });
    const unknown = await github(gh("nobody/none"), "guess");
    const forged = await github(gh(`acme/${name}`), "guess");
    expect(unknown.status).toBe(401);
    expect({ status: unknown.status, body: unknown.body }).toEqual({
      status: forged.status,
      body: forged.body,
    });
    const gl = (path: string) =>
      JSON.stringify({
        ref: "refs/heads/main",
        checkout_sha: head,
        project: { path_with_namespace: path },
      });
    const gitlab = async (body: string) =>
      http(cp.url, "POST", "/hooks/gitlab", {
        raw: body,
        headers: { "x-gitlab-event": "Push Hook", "x-gitlab-token": "guess" },
      });
    // A repository path PostgreSQL cannot hold is a 400 on the field, before any lookup.
    const nul = await github(gh("nobody/no\u0000ne"), "guess");
    expect(nul.status).toBe(400);
    expect(nul.body.errors).toEqual([
      { field: "repository.full_name", message: "must not contain NUL (\\u0000) characters" },
    ]);
    const glUnknown = await gitlab(gl("nobody/none"));
    const glForged = await gitlab(gl(`group/${name}`));
    expect(glUnknown.status).toBe(401);
    expect(glUnknown.body).toEqual(glForged.body);
  });

  it("takes GitHub's form-encoded deliveries, signed over the form body", async () => {
    const head = commitFiles(repo.dir, { "form.txt": randomUUID() }, "pushed as a form");
    const payload = JSON.stringify({
      ref: "refs/heads/main",
      after: head,
      repository: { full_name: `acme/${name}` },
    });
    const form = new URLSearchParams({ payload }).toString();
    const headers = {
      "content-type": "application/x-www-form-urlencoded",
      "x-github-event": "push",
      "x-hub-signature-256": sign(form, ghSecret),
    };
    const ok = await http(cp.url, "POST", "/hooks/github", { raw: form, headers });
    expect(ok.status).toBe(201);
    expect(await admin.pipeline(ok.body.id)).toMatchObject({ vcs: { revision: head } });
    // Signed over the JSON instead of the form: refused.
    const wrongBytes = await http(cp.url, "POST", "/hooks/github", {
      raw: form,
      headers: { ...headers, "x-hub-signature-256": sign(payload, ghSecret) },
    });
    expect(wrongBytes.status).toBe(401);
    const noPayload = await http(cp.url, "POST", "/hooks/github", {
      raw: "other=1",
      headers: { ...headers, "x-hub-signature-256": sign("other=1", ghSecret) },
    });
    expect(noPayload.status).toBe(400);
    expect(noPayload.body.message).toMatch(/no payload field/);
  });

  it("triggers a GitLab tag push with the right token only", async () => {
    const head = commitFiles(repo.dir, { "y.txt": randomUUID() }, "tagged");
    const { execFileSync } = await import("node:child_process");
    execFileSync("git", ["tag", "v1.0.0"], { cwd: repo.dir });
    const body = JSON.stringify({
      ref: "refs/tags/v1.0.0",
      checkout_sha: head,
      project: { path_with_namespace: `group/${name}` },
    });
    const ok = await http(cp.url, "POST", "/hooks/gitlab", {
      raw: body,
      headers: { "x-gitlab-event": "Tag Push Hook", "x-gitlab-token": glSecret },
    });
    expect(ok.status).toBe(201);
    expect((await admin.pipeline(ok.body.id)).vcs).toMatchObject({ tag: "v1.0.0", revision: head });
    const bad = await http(cp.url, "POST", "/hooks/gitlab", {
      raw: body,
      headers: { "x-gitlab-event": "Tag Push Hook", "x-gitlab-token": "nope" },
    });
    expect(bad.status).toBe(401);
  });

  it("takes a secret an admin sets, refuses a weak one, and never reads one back", async () => {
    const slug = `gl/group/set-${name}`;
    const drawn = (await admin.addProject({ slug, repository_url: repo.url })).webhook_secret;
    const token = cp.bootstrapToken ?? "";
    const patch = (body: unknown) =>
      http(cp.url, "PATCH", `/api/v2/project/${slug}/settings`, { token, body });
    const chosen = `chosen-${randomUUID()}`;
    expect((await patch({ webhook_secret: chosen })).status).toBe(200);
    expect((await patch({ webhook_secret: "short" })).status).toBe(400);
    expect((await patch({ webhook_secret: "has spaces in it, long enough" })).status).toBe(400);
    expect((await patch({ webhook_secret: chosen, rotate_webhook_secret: true })).status).toBe(400);
    const read = await http(cp.url, "GET", `/api/v2/project/${slug}`, { token });
    expect(read.body.webhook_secret_set).toBe(true);
    expect(read.body).not.toHaveProperty("webhook_secret");
    const ping = (secret: string) =>
      http(cp.url, "POST", "/hooks/gitlab", {
        raw: JSON.stringify({ project: { path_with_namespace: `group/set-${name}` } }),
        headers: { "x-gitlab-event": "System Hook", "x-gitlab-token": secret },
      });
    expect((await ping(chosen)).status).toBe(202);
    expect((await ping(drawn)).status).toBe(401);
  });
});
