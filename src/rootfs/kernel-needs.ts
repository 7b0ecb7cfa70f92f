/**
 * What kiln's userland needs from the kernel, beyond the container options the
 * kconfig audit checks: a kernel without these boots, but the appliance does
 * not work, which is much harder to see on a serial console than here.
 */
import { versionAtLeast } from "../versions.js";

export interface KernelNeed {
  option: string;
  why: string;
  /** only from this kernel version on */
  since?: string;
}

export function kernelNeeds(compression: string, bridge: boolean): KernelNeed[] {
  const rd: Record<string, string> = { gzip: "RD_GZIP", lzma: "RD_LZMA", xz: "RD_XZ" };
  return [
    { option: "BLK_DEV_INITRD", why: "the root is an initramfs" },
    ...(rd[compression] ? [{ option: rd[compression] as string, why: `the ramdisk is ${compression}-compressed` }] : []),
    { option: "DEVTMPFS", why: "/init mounts /dev as devtmpfs" },
    { option: "TMPFS", why: "/run and /dev/shm are tmpfs" },
    { option: "BINFMT_SCRIPT", why: "/init is a #! script" },
    { option: "UNIX", why: "dropbear, LXC and udhcpc use Unix sockets" },
    { option: "PACKET", why: "udhcpc (DHCP) needs packet sockets" },
    ...(bridge ? [{ option: "BRIDGE", why: "br0 is a bridge" }] : []),
    {
      option: "COMPAT_32BIT_TIME",
      since: "5.1",
      why: "Debian armhf's glibc still makes 32-bit time syscalls (futex): without them dropbear aborts (\"The futex facility returned an unexpected error code\") and the console shell exits at once",
    },
  ];
}

/** Needs the .config does not meet (=y, or =m for none of these is enough). */
export function unmetNeeds(config: string, kernelVersion: string | undefined, needs: readonly KernelNeed[]): KernelNeed[] {
  const set = new Set(
    config
      .split("\n")
      .map((l) => /^CONFIG_([A-Z0-9_]+)=y$/.exec(l.trim())?.[1])
      .filter((x): x is string => x !== undefined),
  );
  return needs.filter((n) => !set.has(n.option) && (!n.since || !kernelVersion || versionAtLeast(kernelVersion, n.since)));
}
