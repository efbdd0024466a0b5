import type Docker from "dockerode";
import { AgentError, ErrorCodes } from "../../errors.js";

/** One `DROVER_IMAGE_ALIASES` rule: images matching `pattern` (`*` = anything) run as `target`. */
export interface ImageAlias {
  pattern: string;
  target: string;
  regex: RegExp;
}

/** Parses `cimg/base:*=drover/ci-base,cimg/node:*=drover/ci-base:latest`. */
export function parseImageAliases(spec: string): ImageAlias[] {
  const rules: ImageAlias[] = [];
  for (const raw of spec.split(/[,\n]/)) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf("=");
    const pattern = part.slice(0, eq).trim();
    const target = part.slice(eq + 1).trim();
    if (eq <= 0 || !pattern || !target) {
      throw new AgentError(
        ErrorCodes.imageAlias,
        `DROVER_IMAGE_ALIASES: '${part}' is not 'pattern=image' (e.g. 'cimg/base:*=drover/ci-base')`,
      );
    }
    const regex = new RegExp(
      `^${pattern
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
    rules.push({ pattern, target, regex });
  }
  return rules;
}

/** Adds `:latest` to a reference without a tag or digest. */
export function normalizeImage(ref: string): string {
  if (ref.includes("@")) return ref;
  const slash = ref.lastIndexOf("/");
  return ref.slice(slash + 1).includes(":") ? ref : `${ref}:latest`;
}

/** The image to run for `requested`: the first matching alias, else the image itself. */
export function resolveImage(
  requested: string,
  aliases: readonly ImageAlias[],
): { image: string; alias?: ImageAlias } {
  const full = normalizeImage(requested);
  for (const a of aliases) {
    if (a.regex.test(requested) || a.regex.test(full))
      return { image: normalizeImage(a.target), alias: a };
  }
  return { image: full };
}

/**
 * Makes sure `requested` (after aliasing) is present on the engine. Pulls only when `pull` is
 * `missing`; otherwise a missing image is an infrastructure failure naming the alias setting.
 */
export async function ensureImage(
  docker: Docker,
  requested: string,
  aliases: readonly ImageAlias[],
  pull: "never" | "missing",
  auth?: { username: string; password: string },
): Promise<string> {
  const { image, alias } = resolveImage(requested, aliases);
  try {
    await docker.getImage(image).inspect();
    return image;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  if (pull === "missing") {
    try {
      const stream = await docker.pull(image, auth ? { authconfig: auth } : {});
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())),
      );
      return image;
    } catch (err) {
      throw new AgentError(
        ErrorCodes.imageMissing,
        `could not pull image ${image}: ${String(err)}`,
        { cause: err },
      );
    }
  }
  const via = alias
    ? ` (aliased from ${requested} by DROVER_IMAGE_ALIASES rule '${alias.pattern}=${alias.target}')`
    : "";
  const hint = alias
    ? "build it (npm run images) or change the DROVER_IMAGE_ALIASES rule"
    : `set DROVER_IMAGE_ALIASES (e.g. '${requested.split(":")[0]}:*=drover/ci-base') to run it on a local image, or DROVER_IMAGE_PULL=missing to pull it`;
  throw new AgentError(
    ErrorCodes.imageMissing,
    `image ${image}${via} is not present on the Docker engine and pulling is off: ${hint}`,
  );
}
