/**
 * Handlebars, loaded on first use: a no-op build renders nothing and should not
 * pay for the compiler. It is CommonJS, hence require.
 */
import { createRequire } from "node:module";
import type HandlebarsModule from "handlebars";

export const handlebars = (): typeof HandlebarsModule => createRequire(import.meta.url)("handlebars") as typeof HandlebarsModule;
