/**
 * Test support for backend authors: `cryptoassets/testing`. Requires vitest in the caller's
 * project (the suite declares vitest tests).
 */
export { defineBackendConformanceSuite, type ConformanceHarness, type ConformanceOptions } from './backend-conformance.js';
