/** What every scenario gets from the runner. */
import type { NodeFixture } from './node-fixture.js';
import type { Mode } from './types.js';

export interface BenchContext {
  readonly mode: Mode;
  /** A temporary directory for this run, removed at the end. */
  readonly tmpDir: string;
  /** PostgreSQL URL of the benchmark database, or undefined with the reason it is unavailable. */
  readonly postgres: { readonly url: string } | { readonly unavailable: string };
  /** The shared regtest node, started on first use; rejects with the reason when there is none. */
  node(): Promise<NodeFixture>;
}
