// Bundles each browser page (src/browser/*-page.ts and app.ts) with its imports into one ES
// module under dist/bundle/; loadWebBundle() serves these under a content-hashed path.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const browser = join(root, "src/browser");
const entryPoints = readdirSync(browser)
  .filter((f) => f.endsWith("-page.ts") || f === "app.ts")
  .map((f) => join(browser, f));

await build({
  entryPoints,
  outdir: join(root, "dist/bundle"),
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  // pusher-js comes from its own script tag (a global); only its types are imported.
  external: ["pusher-js"],
});
