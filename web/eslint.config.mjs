import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { FlatCompat } from "@eslint/eslintrc";

const compat = new FlatCompat({ baseDirectory: dirname(fileURLToPath(import.meta.url)) });

const config = [
  { ignores: [".next/**", "out/**", "node_modules/**", "next-env.d.ts", "src/api/schema.d.ts"] },
  ...compat.extends("next/core-web-vitals", "next/typescript"),
];

export default config;
