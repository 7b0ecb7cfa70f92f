/**
 * A rootfs profile (rootfs/profiles/<name>.yaml): the Debian packages and
 * trimming of a root filesystem, validated here. Loaded only when a profile is
 * read for the first time (see data-file.ts): a no-op build reuses the result.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { formatIssues } from "../data-file.js";
import { InputError } from "../errors.js";

const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "not a Debian package name");

export const ProfileSchema = z
  .object({
    description: z.string(),
    release: z.string().regex(/^[a-z]+$/).default("bookworm").describe("Debian release (codename)"),
    variant: z.enum(["essential", "apt", "required", "minbase", "buildd", "important", "standard"]).default("minbase"),
    components: z.array(z.string()).min(1).default(["main"]),
    packages: z.array(packageName).min(1).describe("packages installed on top of the variant"),
    strip: z
      .object({
        docs: z.boolean().default(false).describe("drop /usr/share/doc except the copyright files (the SBOM reads them)"),
        man: z.boolean().default(false),
        locales: z.boolean().default(false),
        info: z.boolean().default(false),
        aptLists: z.boolean().default(true).describe("drop /var/lib/apt/lists (the root is rebuilt, not upgraded)"),
      })
      .strict()
      .default({ docs: false, man: false, locales: false, info: false, aptLists: true }),
    forbid: z.array(packageName).default([]).describe("packages that must not end up installed (e.g. perl): the build fails, naming who pulled them"),
    modules: z.enum(["board", "all"]).default("board").describe("kernel modules: the board's list (rootfs.modules) and their dependencies, or all"),
  })
  .strict();

export type Profile = z.infer<typeof ProfileSchema> & { name: string; file: string };

export function parseProfile(text: string, file: string): Profile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${file}: invalid rootfs profile:\n${formatIssues(parsed.error)}`, "see rootfs/profiles/default.yaml");
  const clash = parsed.data.packages.filter((p) => parsed.data.forbid.includes(p));
  if (clash.length > 0) throw new InputError(`${file}: ${clash.join(", ")} both in packages and in forbid`);
  const name = file.replace(/^.*\//, "").replace(/\.yaml$/, "");
  return { ...parsed.data, name, file };
}
