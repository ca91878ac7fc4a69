/** Waiting for something a service does in the background, and finding a port to give it. */
import { createServer } from 'node:net';

/**
 * Poll `probe` until it yields a value (not undefined or false). The limit only keeps a broken
 * test from hanging: it is generous, and tests count rounds and events instead of timing them.
 */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A port nobody listens on right now (bound and released), for a listener whose URL must be known before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
