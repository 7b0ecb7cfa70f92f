/**
 * Files on a board over one SFTP session, as promises. Paths are the board's
 * own; no shell is involved, so a path is never quoted or expanded.
 */
import type { SFTPWrapper, Stats } from "ssh2";
import type { Remote } from "./ssh.js";

export interface BoardStat {
  kind: "file" | "symlink" | "dir" | "other";
  /** Permission bits only (0o7777). */
  mode: number;
  size: number;
}

/** SSH_FX_NO_SUCH_FILE: the one error that means "absent", not "broken". */
const NO_SUCH_FILE = 2;

export class BoardFiles {
  private constructor(private readonly sftp: SFTPWrapper) {}

  static async open(remote: Remote): Promise<BoardFiles> {
    return new BoardFiles(await remote.sftp());
  }

  private call<T>(what: string, path: string, fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) =>
      fn((err, value) => (err ? reject(Object.assign(new Error(`${what} ${path} on the board: ${err.message}`), { code: (err as { code?: unknown }).code })) : resolve(value as T))),
    );
  }

  /** undefined when nothing is there; a symlink is reported as itself, not followed. */
  async lstat(path: string): Promise<BoardStat | undefined> {
    try {
      const s = await this.call<Stats>("lstat", path, (cb) => this.sftp.lstat(path, cb));
      const kind = s.isSymbolicLink() ? "symlink" : s.isFile() ? "file" : s.isDirectory() ? "dir" : "other";
      return { kind, mode: s.mode & 0o7777, size: s.size };
    } catch (err) {
      if ((err as { code?: unknown }).code === NO_SUCH_FILE) return undefined;
      throw err;
    }
  }

  read(path: string): Promise<Buffer> {
    return this.call<Buffer>("read", path, (cb) => this.sftp.readFile(path, cb));
  }

  /** Written with its mode, then chmod'ed: the server's umask may have narrowed it. */
  async write(path: string, data: string, mode: number): Promise<void> {
    await this.call<void>("write", path, (cb) => this.sftp.writeFile(path, data, { mode }, cb));
    await this.chmod(path, mode);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.call<void>("chmod", path, (cb) => this.sftp.chmod(path, mode, cb));
  }

  close(): void {
    this.sftp.end();
  }
}
