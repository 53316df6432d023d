// SPDX-License-Identifier: MIT
//
// The CommonJS entry of ffwall, for CommonJS hosts such as Haraka.  The
// library is ESM; Node 20 cannot require() ESM, so this entry loads it with
// import() and offers the asynchronous entry points:
//
//   const { openFfwall } = require('ffwall');
//   const fw = await openFfwall({ transport: 'client' });
//
// Everything else (parsePrefix, the types, ...) is on the module that
// `await require('ffwall').load()` returns.
'use strict';

let loading;

/** The ESM library itself: resolves to the module namespace. */
function load() {
  if (loading === undefined) loading = import('../dist/lib/index.js');
  return loading;
}

async function openFfwall(options) {
  return (await load()).openFfwall(options);
}

module.exports = { load, openFfwall };
