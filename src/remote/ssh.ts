/**
 * The one SSH module: every remote command goes through `Remote.exec` with an
 * argument vector that is quoted here, never a string built by callers.
 */
import { createHash, getCiphers } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import ssh2, { type AnyAuthMethod, type CipherAlgorithm, Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm, type SFTPWrapper } from "ssh2";
import { InputError, KilnError } from "../errors.js";
import { shellQuote, type StageLog } from "../exec.js";
import { defaultUserKnownHosts, fingerprint, hostId, hostKeyAlgorithms, judgeHostKey, type HostKeyVerdict, loadPins, publicKeyLine, saveKnownHost } from "./known-hosts.js";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** the key the user named (--identity, an inventory): used, or an error says why not */
  identity?: string;
  /** the keys ssh would offer (ssh -G's IdentityFile), tried in order when no identity is named */
  identityFiles?: readonly string[];
  password?: string;
  acceptNewHostKey: boolean;
  /** the fingerprint the board will show after booting a freshly flashed kiln image */
  announcedHostKey?: string;
  /** kiln's own pins (default: known_hosts in its state directory) */
  knownHostsFile?: string;
  /** the user's known_hosts files, trusted read-only (ssh -G's UserKnownHostsFile and GlobalKnownHostsFile) */
  userKnownHostsFiles?: readonly string[];
  /** judge the host key, but learn nothing (the systems of a kexec trial come and go) */
  knownHostsReadOnly?: boolean;
  readyTimeoutMs?: number;
  /** reach this board through that one (ProxyJump): a TCP channel forwarded by it */
  via?: SshTarget;
  /** the name the user gave (an ssh alias), for messages; host is what is connected to */
  label?: string;
}

/** ssh2's words for a TCP connection closed before the server's identification line. */
const SSH2_EARLY_CLOSE = "Connection lost before handshake";

/** The server accepted TCP and closed it before its banner: refused for now, not for good. */
export class EarlyCloseError extends KilnError {
  constructor(message: string, opts: { hint: string }) {
    super(message, opts);
    this.name = "EarlyCloseError";
  }
}

export interface ExecOptions {
  input?: string;
  /** default COMMAND_LIMIT_MS: no command of kiln's runs unbounded on a board */
  timeoutMs?: number;
  pty?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every remote command has a limit, so a board that hangs (its link still up, so
 * keepalives are answered) fails that board instead of holding a fleet run.
 * Longer work passes its own (apt, reading a partition); flashcfg runs detached
 * and is polled, never waited on through one command.
 */
export const COMMAND_LIMIT_MS = 300_000;

/** An upload that moves no byte for this long has stalled. */
const UPLOAD_STALL_MS = 60_000;
/** The slowest link an upload is waited for, after a fixed allowance: a 47 MB image gets about 13 minutes. */
const UPLOAD_MIN_BYTES_PER_S = 64 * 1024;
/** One SFTP write request: the most OpenSSH's sftp-server takes in one (its limits@openssh.com answer); ssh2 splits a larger one. */
const UPLOAD_CHUNK = 255 * 1024;
/** Write requests sent before the first is acknowledged. */
const UPLOAD_IN_FLIGHT = 8;
/** Whether this Node's OpenSSL has chacha20 (a FIPS build has not): ssh2 refuses a cipher list naming what it cannot use. */
const CHACHA20 = getCiphers().includes("chacha20");
const CLOSED_MIDWAY = () => new Error("the connection closed before the transfer finished");

const DEFAULT_IDENTITIES = ["id_ed25519", "id_ecdsa", "id_rsa"].map((n) => join(homedir(), ".ssh", n));

/**
 * The keys kiln offers, as ssh does: the named one, or every key ssh would
 * offer that opens without a passphrase. A key that needs one is left to the
 * agent (kiln never prompts mid-run; ssh-add once is how ssh users do it).
 */
async function loginKeys(target: SshTarget, agent: boolean, log?: StageLog): Promise<Buffer[]> {
  if (target.identity) {
    const key = await readFile(target.identity).catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`--identity ${target.identity}: ${err.code === "ENOENT" ? "no such file" : err.message}`, "give the private key file kiln logs in with (its .pub is what the board authorises)");
    });
    const parsed = ssh2.utils.parseKey(key);
    if (!(parsed instanceof Error)) return [key];
    if (/passphrase/.test(parsed.message) && agent) {
      log?.write(`# ${target.identity} needs a passphrase: the ssh agent's keys are offered instead`);
      return [];
    }
    throw new InputError(`--identity ${target.identity}: ${parsed.message}`, /passphrase/.test(parsed.message)
      ? "kiln asks for no passphrase: load the key into your ssh agent (ssh-add) and run again, or give a key without one"
      : "give an OpenSSH private key file (its .pub is what the board authorises)");
  }
  const keys: Buffer[] = [];
  for (const file of target.identityFiles ?? DEFAULT_IDENTITIES) {
    const key = await readFile(file).catch(() => undefined);
    if (!key) continue;
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) log?.write(`# ${file} not offered: ${parsed.message}${agent ? " (the ssh agent may hold it)" : ""}`);
    else keys.push(key);
  }
  return keys;
}

/** The board refused to start a command: nothing ran. */
class NotStarted extends Error {}

/**
 * The connection went away (a board rebooting or losing power, a link or jump
 * host gone): a command sent may or may not have run on the board. Callers
 * that start something detached and then wait for its effect catch this one.
 */
export class ConnectionLost extends KilnError {
  constructor(message: string) {
    super(message, { hint: "check that the board is up and reachable (its serial console shows why it went away), then run the command again" });
  }
}

export class Remote {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    readonly hostKey: string,
    private readonly log?: StageLog,
    /** the jump host's connection, closed with this one */
    private readonly jump?: Remote,
  ) {
    // Remembered so that a command started on a dead connection fails at once (see execOnce).
    client.on("end", () => {
      this.lost ??= "the connection ended";
      // Through a jump host the socket is a channel that can end without closing: destroying
      // it runs ssh2's close path, which closes every exec and SFTP channel still open.
      client.destroy();
    });
    client.on("close", () => (this.lost ??= "the connection closed"));
    client.on("error", (err: Error) => (this.lost ??= `the connection failed: ${err.message}`));
  }

  private lost: string | undefined;

  /**
   * The host key a board shows, without logging in and without trusting or
   * saving it: the handshake is ended at the key (the same board given twice
   * under two addresses shows one key).
   */
  static async hostKeyOf(target: SshTarget, timeoutMs = 10_000): Promise<string | undefined> {
    const client = new Client();
    let jump: Remote | undefined;
    let sock: ClientChannel | undefined;
    if (target.via) {
      try {
        jump = await Remote.connect({ ...target.via, readyTimeoutMs: timeoutMs });
        sock = await jump.forwardTo(target.host, target.port);
      } catch {
        jump?.close();
        return undefined;
      }
    }
    return new Promise<string | undefined>((resolve) => {
      let seen: string | undefined;
      // A channel through a jump host can end without an error, and ssh2 then stops its timer.
      const guard = setTimeout(() => done(), timeoutMs + 2000);
      const done = () => {
        clearTimeout(guard);
        client.end();
        client.destroy();
        jump?.close();
        resolve(seen);
      };
      client.on("error", done);
      client.on("ready", done);
      client.once("end", done);
      client.once("close", done);
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        readyTimeout: timeoutMs,
        ...(sock ? { sock } : {}),
        hostVerifier: (key: Buffer) => {
          seen = fingerprint(key);
          return false;
        },
      });
    });
  }

  /**
   * A command's first connection to a board. A server that accepts TCP and closes
   * before its banner is turning connections away for now: dropbear drops a sixth
   * unauthenticated connection from one address (every connection through QEMU's
   * port forward comes from one), OpenSSH's MaxStartups drops them at random. Seen
   * once at `make main`'s check, right after the boot wait had the banner. Loops
   * that wait for a board (reboots, trials) call `connect` and retry on their own.
   */
  static async open(target: SshTarget, log?: StageLog, attempts = 3, pauseMs = 1500): Promise<Remote> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Remote.connect(target, log);
      } catch (err) {
        if (attempt >= attempts || !(err instanceof EarlyCloseError)) throw err;
        log?.write(`${err.message}; trying again in ${pauseMs} ms (attempt ${attempt + 1} of ${attempts})\n`);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
  }

  static async connect(target: SshTarget, log?: StageLog): Promise<Remote> {
    const id = hostId(target.host, target.port);
    // A target kiln made itself (a QEMU instance with its own file) trusts only that file.
    const pins = await loadPins(id, target.knownHostsFile, target.userKnownHostsFiles ?? (target.knownHostsFile ? [] : defaultUserKnownHosts()));
    let verdict: HostKeyVerdict | undefined;
    let seen = "";
    let seenKey = "";
    const client = new Client();
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: target.readyTimeoutMs ?? 20_000,
      // A board that loses power mid-command sends no FIN: without keepalives the
      // connection (and a fleet run) would wait for the command's own limit.
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        seen = fingerprint(key);
        seenKey = publicKeyLine(key);
        verdict = judgeHostKey(pins, seen, target.acceptNewHostKey, target.announcedHostKey);
        return verdict.ok;
      },
      algorithms: {
        // OpenSSH's order, chacha20-poly1305 first. ssh2 puts AES first on a host with AES
        // instructions, but a board decrypts in software, where AES-CTR with HMAC-SHA256
        // costs it much more (uploads into the emulated board: 10 MB/s, 16 with this order).
        ...(CHACHA20 ? { cipher: ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"] as CipherAlgorithm[] } : {}),
        // As ssh does: ask for the kind of key that is pinned, so an RSA pin is not met with an ed25519 key.
        ...(pins.types.length > 0 ? { serverHostKey: hostKeyAlgorithms(pins.types) as ServerHostKeyAlgorithm[] } : {}),
      },
    };
    // Tried in this order until one is accepted: the password, each key, then the agent's keys.
    const agent = process.env.SSH_AUTH_SOCK;
    const methods: AnyAuthMethod[] = [];
    if (target.password !== undefined) methods.push({ type: "password", username: target.user, password: target.password });
    for (const key of await loginKeys(target, agent !== undefined, log)) methods.push({ type: "publickey", username: target.user, key });
    if (agent) methods.push({ type: "agent", username: target.user, agent });
    if (methods.length === 0) {
      throw new InputError(`no way to log in to ${id}: no usable private key and no ssh agent`, "give --identity KEY, set IdentityFile in the ssh configuration, or start ssh-agent and ssh-add the key");
    }
    config.authHandler = methods;
    // ProxyJump: the jump host forwards a TCP channel to the board, and the board's SSH runs inside it.
    const jump = target.via ? await Remote.connect(target.via, log) : undefined;
    if (jump) {
      try {
        config.sock = await jump.forwardTo(target.host, target.port);
      } catch (err) {
        jump.close();
        throw new KilnError(`the jump host ${jump.target.label ?? jump.target.host} cannot reach ${target.host}:${target.port}: ${(err as Error).message}`, {
          hint: "check ProxyJump and HostName in the ssh configuration, and that the jump host allows TCP forwarding",
        });
      }
    }
    const readyMs = config.readyTimeout ?? 20_000;
    let guard: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      // `on`, not `once`: ssh2 can emit a second error (a board rebooting drops the
      // socket twice), and an error event without a listener kills the process.
      client.on("error", (err: Error) => reject(err));
      // Through a jump host the socket is a channel: a board going down mid-handshake
      // ends it (EOF) without closing it, ssh2 then stops its ready timer and emits
      // neither error nor close, and the login would wait forever.
      client.once("end", () => reject(new Error("the connection ended during the login")));
      client.once("close", () => reject(new Error("the connection closed during the login")));
      guard = setTimeout(() => reject(new Error(`no login within ${Math.round(readyMs / 1000)} s`)), readyMs + 2000);
      client.connect(config);
    }).catch((err: Error) => {
      clearTimeout(guard);
      client.end();
      client.destroy();
      jump?.close();
      const v = verdict as HostKeyVerdict | undefined;
      if (v && !v.ok && v.reason === "unknown") {
        throw new KilnError(`host key of ${id} is not known: ${seen}`, {
          hint: "check that fingerprint on the board's console, then pass --accept-new-host-key to trust it",
        });
      }
      if (v && !v.ok && v.reason === "changed") {
        throw new KilnError(`host key of ${id} CHANGED: it is now ${seen}, ${pins.from ?? "kiln's known_hosts"} has ${v.expected ?? "?"}`, {
          hint: `this is refused always. If the board was reinstalled, remove its entry: ssh-keygen -R '${id}' -f ${pins.from ?? "FILE"}`,
        });
      }
      if (v && !v.ok && v.reason === "revoked") {
        throw new KilnError(`host key of ${id} is marked @revoked in a known_hosts file: ${seen}`, { hint: "this is refused always" });
      }
      if (err.message === SSH2_EARLY_CLOSE) {
        throw new EarlyCloseError(`cannot connect to ${target.user}@${id}: the server closed the connection before its SSH banner`, {
          hint: "the SSH server is turning connections away (too many unauthenticated ones, or it is starting or stopping): try again; on a board, see its MaxStartups (OpenSSH) or its count of open logins (dropbear)",
        });
      }
      throw new KilnError(`cannot connect to ${target.user}@${id}: ${err.message}`, { hint: "check the host, port, user and key (--identity)" });
    });
    clearTimeout(guard);
    // Made before anything else is awaited: a connection lost from now on is noticed.
    const remote = new Remote(client, target, seen, log, jump);
    const v = verdict as HostKeyVerdict | undefined;
    if (v?.ok && v.learned && !target.knownHostsReadOnly) {
      await saveKnownHost(id, seenKey, target.knownHostsFile).catch((err: unknown) => {
        remote.close();
        throw err;
      });
    }
    return remote;
  }

  /** A TCP channel from this host to host:port (what ssh -J asks of a jump host). */
  forwardTo(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut("127.0.0.1", 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
  }

  /** Run argv on the board; the command line is quoted here. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execScript(argv.map(shellQuote).join(" "), opts);
  }

  /**
   * Start a script of kiln's own that detaches on the board (a reboot, a kexec, flashcfg,
   * a network change) and is judged by its effect: a connection lost as it goes (undefined)
   * means it may have started, and the caller's wait tells.
   */
  async startDetached(script: string): Promise<ExecResult | undefined> {
    return this.execScript(script).catch((err: unknown) => {
      if (err instanceof ConnectionLost) return undefined;
      throw err;
    });
  }

  /** Run a fixed shell script of kiln's own (never with user text spliced in). */
  async execScript(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.log?.write(`ssh ${this.target.host}:${this.target.port} $ ${script.length > 200 ? `${script.slice(0, 200)}...` : script}`);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.execOnce(script, opts);
      } catch (err) {
        // dropbear sometimes refuses a new channel just after a big SFTP transfer
        // ("Unable to exec"). The command is started again: callers keep commands
        // that follow an upload idempotent, as a run once saw the refused command
        // take effect all the same (src/remote/upload.ts).
        if (!(err instanceof NotStarted) || attempt >= 4) throw err instanceof NotStarted ? new KilnError(err.message) : err;
        this.log?.write(`# ${err.message}; starting it again (attempt ${attempt + 1})`);
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  }

  private execOnce(script: string, opts: ExecOptions): Promise<ExecResult> {
    const host = this.target.label ?? this.target.host;
    if (this.lost) return Promise.reject(new ConnectionLost(`${host}: ${this.lost}; not run: ${script.slice(0, 80)}`));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settled = () => {
        clearTimeout(timer);
        this.client.off("end", onLost);
        this.client.off("close", onLost);
      };
      // A connection through a jump host can end without closing its channels, and keepalives
      // stop once it has ended: the command would wait forever for its exit.
      const onLost = () => {
        settled();
        reject(new ConnectionLost(`${host}: ${this.lost ?? "the connection ended"} while it ran: ${script.slice(0, 80)}`));
      };
      this.client.once("end", onLost);
      this.client.once("close", onLost);
      // A pty when asked: lxc-attach prints nothing without a controlling terminal.
      this.client.exec(script, { pty: opts.pty ?? false }, (err, stream) => {
        if (err) {
          settled();
          return reject(new NotStarted(`remote command failed to start: ${err.message}`));
        }
        let stdout = "";
        let stderr = "";
        const limit = opts.timeoutMs ?? COMMAND_LIMIT_MS;
        timer = setTimeout(() => {
          settled();
          stream.close();
          reject(new KilnError(`remote command on ${host} timed out after ${Math.round(limit / 1000)} s: ${script.slice(0, 80)}`));
        }, limit);
        stream.on("data", (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        stream.on("close", (code: number | null) => {
          settled();
          this.log?.write(`${stdout}${stderr}# exit ${code ?? "?"}`);
          resolve({ code: code ?? -1, stdout, stderr });
        });
        if (opts.input !== undefined) stream.end(opts.input);
        else stream.end();
      });
    });
  }

  /**
   * Run a fixed script of kiln's own and stream its stdout, byte for byte, into a
   * local file (a flash partition read with cat): never through a string.
   */
  async execToFile(script: string, file: string, opts: { timeoutMs?: number } = {}): Promise<{ code: number; stderr: string; bytes: number; sha256: string }> {
    this.log?.write(`ssh ${this.target.host}:${this.target.port} $ ${script} > ${file}`);
    const stream = await new Promise<ClientChannel>((resolve, reject) =>
      this.client.exec(script, (err, s) => (err ? reject(new KilnError(`remote command failed to start: ${err.message}`)) : resolve(s))),
    );
    let code = -1;
    let stderr = "";
    let bytes = 0;
    const hash = createHash("sha256");
    const exited = new Promise<void>((resolve) => stream.once("close", () => resolve()));
    stream.once("exit", (c: number | null) => (code = c ?? -1));
    stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    stream.end();
    let timedOut = false;
    const limit = opts.timeoutMs ?? COMMAND_LIMIT_MS;
    const timer = setTimeout(() => {
      timedOut = true;
      stream.close();
    }, limit);
    try {
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(stream, count, createWriteStream(file));
      await exited;
    } finally {
      clearTimeout(timer);
    }
    this.log?.write(`${stderr}# exit ${code}, ${bytes} bytes`);
    if (timedOut) throw new KilnError(`remote command timed out after ${Math.round(limit / 1000)} s: ${script.slice(0, 80)}`);
    return { code, stderr, bytes, sha256: hash.digest("hex") };
  }

  /** One SFTP session; the caller ends it. */
  async sftp(): Promise<SFTPWrapper> {
    return new Promise<SFTPWrapper>((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  }

  /**
   * Write `data` (the very bytes the caller checked) to `remotePath`, created
   * with `mode`; progress as the board acknowledges. A dropped connection rejects.
   */
  async putBuffer(data: Buffer, remotePath: string, mode: number, onProgress?: (sent: number, total: number) => void): Promise<void> {
    const sftp = await this.sftp();
    let watch: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const fail = (err: Error): void => {
          if (failed) return;
          failed = true;
          reject(err);
        };
        // ssh2 never calls back when the connection drops mid-transfer (mscdex/ssh2#1490).
        sftp.once("close", () => fail(CLOSED_MIDWAY()));
        sftp.open(remotePath, "w", { mode }, (err, handle) => {
          if (err) return fail(err);
          let next = 0;
          let acked = 0;
          let inFlight = 0;
          // Bounded twice: a link that stalls (a board gone quiet whose keepalives are still
          // answered by something on the way) and one that only trickles.
          const started = Date.now();
          const limitMs = 120_000 + (data.length / UPLOAD_MIN_BYTES_PER_S) * 1000;
          let lastMove = started;
          let lastAcked = -1;
          watch = setInterval(() => {
            const now = Date.now();
            if (acked !== lastAcked) [lastAcked, lastMove] = [acked, now];
            const why = now - lastMove > UPLOAD_STALL_MS ? `no progress for ${UPLOAD_STALL_MS / 1000} s` : now - started > limitMs ? `not done within ${Math.round(limitMs / 1000)} s` : undefined;
            if (why) fail(new Error(`the upload stalled at ${acked} of ${data.length} bytes: ${why}`));
          }, 1000);
          // One write at a time waits a round trip per chunk; several in flight keep
          // the link busy (as sftp's own -R requests do). Each chunk is written at
          // its offset, so the order they land in does not matter.
          const pump = (): void => {
            while (!failed && inFlight < UPLOAD_IN_FLIGHT && next < data.length) {
              const at = next;
              const len = Math.min(UPLOAD_CHUNK, data.length - at);
              next += len;
              inFlight++;
              sftp.write(handle, data, at, len, at, (werr) => {
                inFlight--;
                // ssh2 answers the writes still in flight with this when the channel ends.
                if (werr) return fail(werr.message === "No response from server" ? CLOSED_MIDWAY() : werr);
                acked += len;
                onProgress?.(acked, data.length);
                if (acked === data.length) sftp.close(handle, (cerr) => (cerr ? fail(cerr) : resolve()));
                else pump();
              });
            }
          };
          if (data.length === 0) sftp.close(handle, (cerr) => (cerr ? fail(cerr) : resolve()));
          else pump();
        });
      });
    } finally {
      clearInterval(watch);
      sftp.end();
    }
  }

  /** Resolves when the connection closes (e.g. the board rebooted). */
  closed(): Promise<void> {
    return new Promise((resolve) => this.client.once("close", () => resolve()));
  }

  close(): void {
    this.client.end();
    this.jump?.close();
  }
}
