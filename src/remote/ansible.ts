/**
 * Ansible's own inventories (INI, YAML, scripts, directories), read with
 * Ansible's own `ansible-inventory --list`, so one inventory serves both tools.
 * Debian 12's ansible-inventory (2.14) has no --limit: the selection of groups
 * and hosts is done here, on its JSON.
 */
import { InputError } from "../errors.js";
import { capture } from "../exec.js";

export interface AnsibleHost {
  name: string;
  host: string;
  port?: number;
  user?: string;
  identity?: string;
}

type Group = { hosts?: string[]; children?: string[] };
export type AnsibleList = Record<string, unknown> & { _meta?: { hostvars?: Record<string, Record<string, unknown>> } };

const group = (list: AnsibleList, name: string): Group | undefined => {
  const g = list[name];
  return name !== "_meta" && g && typeof g === "object" ? (g as Group) : undefined;
};

/** Hosts of a group and of its children, in inventory order, each once. */
function hostsOf(list: AnsibleList, name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const g = group(list, name);
  if (!g) return [];
  return [...(g.hosts ?? []), ...(g.children ?? []).flatMap((c) => hostsOf(list, c, seen))];
}

/**
 * The hosts `limit` selects (group or host names, comma or colon separated;
 * default: all), with what kiln needs of their variables.
 */
export function ansibleHosts(list: AnsibleList, limit?: string): AnsibleHost[] {
  const all = [...new Set(hostsOf(list, "all"))];
  let names = all;
  if (limit !== undefined) {
    const wanted = limit.split(/[,:]/).map((p) => p.trim()).filter(Boolean);
    const picked: string[] = [];
    for (const w of wanted) {
      const found = group(list, w) ? hostsOf(list, w) : all.includes(w) ? [w] : undefined;
      if (!found) {
        const groups = Object.keys(list).filter((k) => k !== "_meta");
        throw new InputError(`--limit ${limit}: "${w}" is neither a group nor a host of the inventory`, `groups: ${groups.join(", ")}; Ansible's other patterns (wildcards, !, &) are not supported`);
      }
      picked.push(...found);
    }
    names = [...new Set(picked)];
  }
  const vars = list._meta?.hostvars ?? {};
  return names.map((name) => {
    const v = vars[name] ?? {};
    const str = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
    const port = typeof v.ansible_port === "number" ? v.ansible_port : str("ansible_port") !== undefined ? Number(str("ansible_port")) : undefined;
    return {
      name,
      host: str("ansible_host") ?? name,
      ...(port !== undefined ? { port } : {}),
      ...(str("ansible_user") ? { user: str("ansible_user") } : {}),
      ...(str("ansible_ssh_private_key_file") ? { identity: str("ansible_ssh_private_key_file") } : {}),
    };
  });
}

export async function readAnsibleInventory(file: string): Promise<AnsibleList> {
  // Ansible refuses to run without a UTF-8 locale (kiln runs tools under C).
  const r = await capture("ansible-inventory", ["-i", file, "--list"], { env: { ANSIBLE_NOCOLOR: "1", LC_ALL: "C.UTF-8", LANG: "C.UTF-8" } });
  if (r.missing) throw new InputError(`${file} is not a kiln inventory (a YAML list of hosts), so it is read as Ansible's, but ansible-inventory is not installed`, "install it with: apt-get install ansible-core");
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    parsed = undefined;
  }
  if (r.exitCode !== 0 || !parsed || typeof parsed !== "object") {
    throw new InputError(`ansible-inventory could not read ${file}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`, "check the file with: ansible-inventory -i FILE --list");
  }
  // ansible-inventory warns and lists nothing for a file it cannot parse: an inventory without hosts is an error here.
  if (hostsOf(parsed as AnsibleList, "all").length === 0) {
    throw new InputError(`${file}: ansible-inventory found no hosts in it${r.stderr.trim() ? ` (${r.stderr.trim().split("\n")[0]})` : ""}`, "a kiln inventory is a YAML list of hosts; an Ansible one is INI or YAML with groups");
  }
  return parsed as AnsibleList;
}
