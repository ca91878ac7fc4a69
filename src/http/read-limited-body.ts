/**
 * Reading a request body with a size limit. The limit is checked while reading, so an oversized
 * body is refused after `limit` bytes instead of being buffered whole.
 */
import type { IncomingMessage } from 'node:http';

/** The body, or `null` as soon as it exceeds `limit` bytes (reading stops there). */
export function readLimitedBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    // After 'end' this is a no-op; before it, the client went away mid-body.
    req.once('close', () => reject(new Error('the request was closed before its body was complete')));
  });
}
