/**
 * Keeps only the last bytes written to it. A child process can print without limit; what matters
 * for an error message is how its output ended, so memory stays bounded by `limit`.
 */
export class TailBuffer {
  private tail: Buffer = Buffer.alloc(0);
  /** Every byte written, kept or not. */
  total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (chunk.length >= this.limit) {
      // Copy, so the (possibly large) chunk is not kept alive by a view into it.
      this.tail = Buffer.from(chunk.subarray(chunk.length - this.limit));
      return;
    }
    const joined = Buffer.concat([this.tail, chunk]);
    this.tail = joined.length > this.limit ? Buffer.from(joined.subarray(joined.length - this.limit)) : joined;
  }

  /**
   * The kept bytes as text, trimmed. The cut may fall inside a UTF-8 character; its remains decode
   * to U+FFFD and are dropped.
   */
  text(): string {
    return this.tail
      .toString('utf8')
      .replace(/^\ufffd+/, '')
      .trim();
  }
}
