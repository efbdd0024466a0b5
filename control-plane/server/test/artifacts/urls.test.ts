import { describe, expect, it } from "vitest";
import {
  artifactOrigin,
  checkArtifactSignature,
  projectLabel,
  signedArtifactPath,
} from "@drover/control-plane";

const key = Buffer.from("k".repeat(43));

describe("signed artifact URLs", () => {
  it("gives each project its own DNS label", () => {
    const a = projectLabel("gh/Acme/Web_App");
    expect(a).toMatch(/^gh-acme-web-app-[0-9a-f]{8}$/);
    expect(projectLabel("gh/acme/web-app")).not.toBe(a);
    const long = projectLabel(`gh/${"x".repeat(200)}/y`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    expect(artifactOrigin("https://{project}.artifacts.example.com", "gh/acme/api")).toBe(
      `https://${projectLabel("gh/acme/api")}.artifacts.example.com`,
    );
  });

  it("refuses an altered, foreign or expired URL", () => {
    const ref = {
      label: projectLabel("gh/acme/api"),
      jobId: "00000000-0000-4000-8000-000000000001",
      node: 0,
      path: "reports/index.html",
      expires: 2_000_000_000,
    };
    const signed = signedArtifactPath(key, ref);
    expect(signed).toMatch(
      /^\/artifacts\/00000000-0000-4000-8000-000000000001\/0\/reports\/index\.html\?expires=2000000000&sig=[\w-]{43}$/,
    );
    const sig = new URL(signed, "http://x").searchParams.get("sig")!;
    expect(checkArtifactSignature(key, ref, sig, 1_999_999_999)).toBeNull();
    for (const altered of [
      { ...ref, path: "reports/other.html" },
      { ...ref, node: 1 },
      { ...ref, label: projectLabel("gh/acme/other") },
      { ...ref, expires: ref.expires + 1 },
    ]) {
      expect(checkArtifactSignature(key, altered, sig, 0)).toBe(
        "the signature does not match this URL",
      );
    }
    expect(checkArtifactSignature(Buffer.from("o".repeat(43)), ref, sig, 0)).toMatch(/not match/);
    expect(checkArtifactSignature(key, ref, "garbage", 0)).toMatch(/not match/);
    expect(checkArtifactSignature(key, ref, sig, 2_000_000_001)).toBe("the URL has expired");
  });
});
