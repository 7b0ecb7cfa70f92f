/**
 * The stage contract. A stage is data plus two functions: what it reads
 * (`inputs`), what it makes (`outputs`), and how (`run`). Stages never import
 * each other or the pipeline: what an earlier stage made reaches a later one as
 * a typed argument (`up`). The runner (runner.ts) does everything that is the
 * same for every stage: the stamp, --force, the log, the cache, the display.
 */
import type { FlashPlan } from "../board/flash-layout.js";
import type { Board } from "../board/schema.js";
import type { Inputs } from "../cache.js";
import type { StageLog } from "../exec.js";

export const STAGES = ["config", "kernel", "rootfs", "image"] as const;
export type StageName = (typeof STAGES)[number];

/** Options of the rootfs stage (profile, network, keys, mirrors). */
export interface RootfsOptions {
  /** a name from rootfs/profiles/ or a path to a profile .yaml (default: "default") */
  profile?: string;
  /** --mirror: "URI" or "URI suite...", instead of the host's apt sources */
  mirrors?: string[];
  /** fail instead of dropping an update suite that cannot be downloaded */
  strictSuites?: boolean;
  net?: "veth" | "macvlan";
  /** static address of br0 (or the NIC with macvlan), CIDR; DHCP when absent */
  address?: string;
  gateway?: string;
  dns?: string[];
  /** public key files for /root/.ssh/authorized_keys */
  authorizedKeys?: string[];
  /** set root's password (hashed; never logged, never in a stamp in clear) */
  rootPassword?: string;
  /** let dropbear take that password over SSH (refused by default: keys only) */
  sshPasswordLogin?: boolean;
  /** start from this ramdisk (cpio, gzip/xz/lzma cpio, or ext2 image) */
  baseRamdisk?: string;
  /** where /etc/apt lives (tests) */
  aptDir?: string;
}

/** Everything a build reads that is not a file: validated, with absolute paths only. */
export interface BuildContext {
  board: Board;
  outDir: string;
  kernelSrc?: string;
  extraFragments: string[];
  allowMissing: boolean;
  force: readonly StageName[];
  /** --json: no progress display */
  quiet: boolean;
  /** --ramdisk: pack this instead of the rootfs stage's */
  ramdisk?: string;
  signal?: AbortSignal;
  rootfs?: RootfsOptions;
  /** The flash layout the image is for (--flash-layout, --unit); default: the board data's. */
  flash?: FlashPlan;
  /** Take stage results from ~/.cache/kiln/stages (default true). */
  useCache?: boolean;
}

/** What a stage's run may do besides writing its outputs. */
export interface StageIO {
  log: StageLog;
  /** A short line for the progress display: what runs now, how far it is. */
  status(text: string): void;
  signal?: AbortSignal;
}

export interface Stage<Up, R> {
  name: StageName;
  /** The log file under out/<board>/logs/. */
  logName: string;
  /** One line for the progress display. */
  title(ctx: BuildContext): string;
  /** Checked for every stage that will run, before the first one starts. */
  preflight(ctx: BuildContext): Promise<void>;
  /** Everything the outputs depend on, as name -> fingerprint. Never an output directory's path. */
  inputs(ctx: BuildContext, up: Up): Promise<Inputs>;
  /** Files and directories under ctx.outDir the stage makes; hashed into the stamp and cached. */
  outputs(ctx: BuildContext): string[];
  /** Whether the outputs go into the content-addressed cache (not worth it for cheap stages). */
  cacheable: boolean;
  /**
   * The most the stage writes while it runs, in MiB, on the output directory's
   * file system (outputs, temporary trees, their copy in the stage cache): checked
   * in the pre-flight, so a full disk stops the build before the first stage.
   */
  diskMiB: number;
  run(ctx: BuildContext, up: Up, io: StageIO): Promise<void>;
  /** The stage's result read from its outputs: the same after a run, a skip or a cache hit. */
  result(ctx: BuildContext, up: Up): Promise<R>;
}

export type How = "built" | "up to date" | "cache";

export interface StageOutcome {
  stage: StageName;
  ran: boolean;
  /** built here, skipped (stamp matches), or taken from the content-addressed cache */
  how: How;
  why: string[];
  seconds: number;
}
