import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

// Side effects stay behind one module each: external commands in src/exec.ts,
// SSH in src/remote/ssh.ts (src/remote/files.ts may name ssh2's SFTP types).
const sideEffects = {
  paths: [
    { name: "execa", message: "run external commands through src/exec.ts" },
    { name: "child_process", message: "run external commands through src/exec.ts" },
    { name: "node:child_process", message: "run external commands through src/exec.ts" },
    { name: "ssh2", message: "reach boards through src/remote/ssh.ts", allowTypeImports: true },
  ],
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bin/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/exec.ts", "src/remote/ssh.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": ["error", sideEffects] },
  },
  {
    files: ["src/exec.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": ["error", { paths: sideEffects.paths.filter((p) => p.name === "ssh2") }] },
  },
  {
    files: ["src/remote/ssh.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": ["error", { paths: sideEffects.paths.filter((p) => p.name !== "ssh2") }] },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver()],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/extensions": [".ts", ".js"],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
);
