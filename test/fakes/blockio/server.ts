/** The fake block.io lives in src/devtools (the demo runs on it); tests import it from here. */
export * from '../../../src/devtools/blockio-fake/server.js';
export * from '../../../src/devtools/blockio-fake/fake-chain.js';
