import js from "@eslint/js";
import tseslint from "typescript-eslint";

const workspaces = [
  "control-plane",
  "nomad-jobs",
  "build-agent",
  "vm-service",
  "output-processor",
  "integration",
];

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
      // Contracts between workspaces are their exported types: never reach into another's src/.
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@drover/*/src", "@drover/*/src/**", "@drover/*/dist/**"],
              message: "Import the package's exports, not its files.",
            },
            ...workspaces.map((ws) => ({
              group: [`**/../${ws}/src/**`, `**/../${ws}/dist/**`],
              message: `Import @drover/${ws} instead of reaching into its files.`,
            })),
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
