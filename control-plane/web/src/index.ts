/**
 * The browser code's Node side: where the built files are and what they are, so the server can
 * serve them. The page modules themselves live in `browser/` and run only in the browser
 * (`ansi.ts` runs in both, and is exported here for tests and server-side rendering).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export { ansiToHtml, createAnsiRenderer, type AnsiRenderer } from "./browser/ansi.js";

/** One static file of the web UI. */
export interface WebAsset {
  /** The name under the asset prefix, e.g. `job-page.js`. */
  name: string;
  /** Absolute path of the built file. */
  file: string;
  contentType: string;
}

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");

const JS = "application/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** Every file the pages load, besides pusher-js (which the server takes from its own package). */
export const WEB_ASSETS: readonly WebAsset[] = [
  // Bundled by esbuild (scripts/bundle.mjs): one module per page, its imports included.
  { name: "job-page.js", file: join(packageDir, "dist/bundle/job-page.js"), contentType: JS },
  { name: "app.js", file: join(packageDir, "dist/bundle/app.js"), contentType: JS },
  { name: "ansi.js", file: join(packageDir, "dist/browser/ansi.js"), contentType: JS },
  { name: "job-page.css", file: join(packageDir, "static/job-page.css"), contentType: CSS },
  { name: "app.css", file: join(packageDir, "static/app.css"), contentType: CSS },
];

/** The assets' contents and one hash over all of them (a cache-busting path segment). */
export interface WebBundle {
  version: string;
  files: Map<string, { body: Buffer; contentType: string }>;
}

/** Reads every asset once; fails naming the file when the package has not been built. */
export async function loadWebBundle(): Promise<WebBundle> {
  const hash = createHash("sha256");
  const files = new Map<string, { body: Buffer; contentType: string }>();
  for (const a of WEB_ASSETS) {
    const body = await readFile(a.file).catch((err: unknown) => {
      throw new Error(`web asset ${a.file} is missing: build with \`npm run build\``, {
        cause: err,
      });
    });
    hash.update(a.name).update(body);
    files.set(a.name, { body, contentType: a.contentType });
  }
  return { version: hash.digest("hex").slice(0, 12), files };
}
