/**
 * Splits a byte stream into newline-terminated lines with a bound on line length, so a writer
 * that never sends a newline cannot make us buffer without limit.
 */

const NEWLINE = 0x0a;

/** Feeds complete lines to `onLine`; an overlong line is reported once to `onOverlong` and skipped. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** True while skipping the rest of an overlong line, up to its newline. */
  private discarding = false;

  constructor(
    private readonly lineBytesMax: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: (start: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let index = chunk.indexOf(NEWLINE); index !== -1; index = chunk.indexOf(NEWLINE, start)) {
      this.take(chunk.subarray(start, index), true);
      start = index + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start), false);
  }

  private take(piece: Buffer, complete: boolean): void {
    if (this.discarding) {
      if (complete) this.discarding = false;
      return;
    }
    this.pending.push(piece);
    this.pendingBytes += piece.length;
    if (this.pendingBytes > this.lineBytesMax) {
      const start = Buffer.concat(this.pending).subarray(0, 80).toString('utf8');
      this.reset();
      this.discarding = !complete;
      this.onOverlong(start);
      return;
    }
    if (!complete) return;
    const line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    this.reset();
    this.onLine(line);
  }

  private reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}
