/**
 * The values of kiln's options, declared once: what each accepts, checked when
 * the command line is read, so a command never sees a port that is not a port
 * or a memory size that would reach a shell on the board unquoted.
 */
import { isIP } from "node:net";
import { InvalidArgumentError, Option } from "commander";

type Check = (value: string) => string;

function check(test: (v: string) => boolean, what: string): Check {
  return (v) => {
    if (!test(v)) throw new InvalidArgumentError(what);
    return v;
  };
}

const wholeIn = (lo: number, hi: number) => (v: string) => /^\d+$/.test(v) && Number(v) >= lo && Number(v) <= hi;

export const VALUES = {
  port: check(wholeIn(1, 65535), "a TCP port is a whole number from 1 to 65535"),
  count: check(wholeIn(1, 1000), "a whole number from 1 to 1000"),
  seconds: check(wholeIn(1, 86_400), "a whole number of seconds, 1 to 86400"),
  /** lxc.cgroup2.memory.max: digits with an optional K, M or G */
  memory: check((v) => /^\d+[KMG]?$/.test(v) && Number.parseInt(v, 10) > 0, "a size such as 512M, 1G or 262144K"),
  /** cgroup v1 cpu.shares, as Docker's --cpu-shares takes them */
  shares: check(wholeIn(2, 262_144), "a whole number from 2 to 262144, as docker run --cpu-shares takes"),
  /** pids.max of the proof container: its init, getty and lxc-attach need some of them */
  pids: check(wholeIn(16, 4096), "a whole number from 16 to 4096 (the busybox container's own processes need about ten)"),
  /** cpuset.cpus: CPU numbers and ranges */
  cpus: check((v) => /^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v), "a cpuset such as 0, 0-1 or 0,2"),
  ip: check((v) => isIP(v) !== 0, "an IPv4 or IPv6 address"),
  cidr: check((v) => {
    const [ip, len, ...rest] = v.split("/");
    const family = isIP(ip ?? "");
    return rest.length === 0 && family !== 0 && len !== undefined && wholeIn(0, family === 4 ? 32 : 128)(len);
  }, "an address with its prefix length, such as 192.0.2.10/24"),
} satisfies Record<string, Check>;

/** An option whose value is checked by `VALUES[kind]`; repeatable (variadic) values are checked one by one. */
export function checkedOption(flags: string, description: string, kind: keyof typeof VALUES, defaultValue?: string): Option {
  const o = new Option(flags, description);
  const test = VALUES[kind];
  o.argParser((value: string, previous: unknown) => {
    const checked = test(value);
    if (!o.variadic) return checked;
    return Array.isArray(previous) && previous !== o.defaultValue ? [...(previous as string[]), checked] : [checked];
  });
  if (defaultValue !== undefined) o.default(defaultValue);
  return o;
}
