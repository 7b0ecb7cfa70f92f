/** kiln's version, from package.json alone (the CLI's --version and the SBOM's tool entry). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "./paths.js";

export const KILN_VERSION: string = (JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string }).version;
