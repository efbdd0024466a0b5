import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Each workspace's folder (relative to the repository root) and its package name. */
const workspaces = {
  "control-plane/compiler": "@drover/config-compiler",
  "control-plane/task-api": "@drover/task-api",
  "control-plane/cli": "@drover/cli",
  "control-plane/server": "@drover/control-plane",
  "control-plane/web": "@drover/web",
  "nomad-jobs": "@drover/nomad-jobs",
  "build-agent": "@drover/build-agent",
  "vm-service": "@drover/vm-service",
  "output-processor": "@drover/output-processor",
  integration: "@drover/integration",
};

// Contracts between workspaces are their exported types: never reach into another's files.
const noDeepImports = [
  {
    group: ["@drover/*/src", "@drover/*/src/**", "@drover/*/dist/**"],
    message: "Import the package's exports, not its files.",
  },
  ...Object.entries(workspaces).map(([dir, pkg]) => {
    const name = dir.split("/").pop();
    return {
      group: [`**/../${name}/src/**`, `**/../${name}/dist/**`],
      message: `Import ${pkg} instead of reaching into its files.`,
    };
  }),
];

/** `no-restricted-imports` with the deep-import rule plus folder rules (flat config replaces, not merges). */
const restrictImports = (...patterns) => ["error", { patterns: [...noDeepImports, ...patterns] }];

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", ".drover/**", "**/fixtures/**", "examples/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-imports": restrictImports(),
    },
  },
  // Folder rules, in the spirit of Woodpecker's depguard: the layers below the API never import it.
  {
    files: ["control-plane/server/src/engine/**", "control-plane/server/src/scheduler/**"],
    rules: {
      "no-restricted-imports": restrictImports({
        group: ["**/api", "**/api/**"],
        message: "The engine and the schedulers never import the API layer (api/).",
      }),
    },
  },
  // The compiler is a leaf: it imports nothing of the project.
  {
    files: ["control-plane/compiler/**"],
    rules: {
      "no-restricted-imports": restrictImports({
        group: ["@drover/*", "**/../../*/**"],
        message: "The config compiler imports nothing of the project (only yaml and Node).",
      }),
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
