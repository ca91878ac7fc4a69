'use strict';
// cryptoassets is an ES module package. package.json "exports" sends require('cryptoassets') here,
// so the error says what to do instead of "No exports main defined" (ERR_PACKAGE_PATH_NOT_EXPORTED).
const error = new Error("cryptoassets is ESM-only: use import (from CommonJS: const { openFromConfig } = await import('cryptoassets'))");
error.code = 'ERR_REQUIRE_ESM';
throw error;
