/**
 * Boards are reached the way `ssh` reaches them: Host aliases, HostName, User,
 * Port, IdentityFile and ProxyJump from the user's ssh configuration. The
 * parser is OpenSSH's own (`ssh -G` prints the configuration it would use
 * for a host, after Include, Match and tokens), so kiln and ssh never disagree.
 *
 * parseSshG and parseJump are pure; resolveSshTarget runs ssh -G.
 */
import { existsSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { InputError } from "../errors.js";
import { capture } from "../exec.js";
import { defaultUserKnownHosts } from "./known-hosts.js";
import type { SshTarget } from "./ssh.js";

export interface SshGConfig {
  hostname: string;
  user: string;
  port: number;
  identityFiles: string[];
  /** ProxyJump hops in order, as written ([user@]host[:port]); empty when none */
  proxyJump: string[];
  /** UserKnownHostsFile then GlobalKnownHostsFile: the keys ssh trusts for this host */
  knownHostsFiles: string[];
}

/** `ssh -G` output: one "key value" per line, keys in lower case; IdentityFile repeats. */
export function parseSshG(text: string, home = homedir()): SshGConfig {
  const one = new Map<string, string>();
  const identityFiles: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, key = "", value = ""] = m;
    if (key === "identityfile") identityFiles.push(value.replace(/^~(?=\/)/, home));
    else if (!one.has(key)) one.set(key, value);
  }
  const jump = one.get("proxyjump");
  const files = (key: string) => (one.get(key) ?? "").split(/\s+/).filter((f) => f !== "" && f !== "none").map((f) => f.replace(/^~(?=\/)/, home));
  return {
    hostname: one.get("hostname") ?? "",
    user: one.get("user") ?? "",
    port: Number(one.get("port") ?? "22"),
    identityFiles,
    proxyJump: jump && jump !== "none" ? jump.split(",").map((s) => s.trim()).filter(Boolean) : [],
    knownHostsFiles: [...files("userknownhostsfile"), ...files("globalknownhostsfile")],
  };
}

/** One ProxyJump hop: [user@]host[:port], or an ssh:// URI. */
export function parseJump(hop: string): { host: string; user?: string; port?: number } {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hop);
  if (!m) throw new InputError(`ProxyJump ${hop}: not [user@]host[:port]`, "fix the ssh configuration");
  const host = (m[2] ?? "").replace(/^\[|\]$/g, "");
  return { host, ...(m[1] ? { user: m[1] } : {}), ...(m[3] ? { port: Number(m[3]) } : {}) };
}

export interface ResolveOptions {
  /** an ssh configuration file instead of ~/.ssh/config (ssh -F) */
  configFile?: string | undefined;
  /** what the command line said, which wins over the configuration */
  user?: string | undefined;
  port?: number | undefined;
  identity?: string | undefined;
}

async function sshG(host: string, configFile: string | undefined): Promise<SshGConfig> {
  const r = await capture("ssh", [...(configFile ? ["-F", configFile] : []), "-G", "--", host], { timeoutMs: 10_000 });
  // No OpenSSH client on this machine: no configuration to honour (unless one was named).
  if (r.missing && !configFile) return { hostname: host, user: "", port: 22, identityFiles: [], proxyJump: [], knownHostsFiles: defaultUserKnownHosts() };
  if (r.exitCode !== 0) {
    throw new InputError(`the ssh configuration for ${host} cannot be read: ${String(r.stderr).trim().split("\n").slice(-2).join(" ")}`, `check ${configFile ?? "~/.ssh/config"} (ssh -G ${host} shows what ssh makes of it)`);
  }
  return parseSshG(String(r.stdout));
}

/**
 * The target as ssh would reach it: the alias's HostName, its User and Port
 * unless the command line gave them, every IdentityFile ssh would offer when
 * no key was named (with the agent besides), and its ProxyJump hops, each resolved the
 * same way. The label (logs, summaries) stays the name the user wrote.
 */
export async function resolveSshTarget(t: SshTarget, o: ResolveOptions, depth = 0): Promise<SshTarget> {
  if (depth > 4) throw new InputError(`ProxyJump of ${t.host} nests more than 4 jump hosts`, "check the ssh configuration for a loop");
  const c = await sshG(t.host, o.configFile);
  const localUser = userInfo().username;
  // ssh -G prints the local user when nothing set one: then kiln's own default (root) stands.
  const user = o.user ?? (c.user && c.user !== localUser ? c.user : t.user);
  const port = o.port ?? c.port;
  const identity = o.identity ?? t.identity;
  const hops = c.proxyJump;
  let via: SshTarget | undefined;
  for (const hop of hops) {
    const j = parseJump(hop);
    const base: SshTarget = { host: j.host, port: j.port ?? 22, user: j.user ?? t.user, acceptNewHostKey: t.acceptNewHostKey, ...(t.knownHostsFile ? { knownHostsFile: t.knownHostsFile } : {}) };
    const resolved = await resolveSshTarget(base, { configFile: o.configFile, user: j.user, port: j.port }, depth + 1);
    via = via ? { ...resolved, via } : resolved;
  }
  return {
    ...t,
    host: c.hostname || t.host,
    port,
    user,
    ...(identity ? { identity } : {}),
    // Empty only without an OpenSSH client: then Remote.connect offers ssh's default names.
    ...(c.identityFiles.length > 0 ? { identityFiles: c.identityFiles.filter((f) => existsSync(f)) } : {}),
    ...(via ? { via } : {}),
    userKnownHostsFiles: c.knownHostsFiles,
    label: t.label ?? t.host,
  };
}

/** The SSH options every command that reaches boards takes (see cli.ts sshFlags). */
export interface SshCliOptions {
  port?: string | undefined;
  user?: string | undefined;
  identity?: string | undefined;
  acceptNewHostKey: boolean;
  sshConfig?: string | undefined;
}

/** One board from --host (host, host:port, [v6]:port, an ssh alias) and the SSH options, as ssh would reach it. */
export async function sshTargetFor(spec: { host: string; port?: number | undefined }, o: SshCliOptions): Promise<SshTarget> {
  const port = spec.port ?? (o.port !== undefined ? Number(o.port) : undefined);
  const t: SshTarget = { host: spec.host, port: port ?? 22, user: o.user ?? "root", acceptNewHostKey: o.acceptNewHostKey, ...(o.identity ? { identity: o.identity } : {}) };
  return resolveSshTarget(t, { configFile: o.sshConfig, user: o.user, port, identity: o.identity });
}
