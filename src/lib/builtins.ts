// SPDX-License-Identifier: MIT
//
// Node's built-in modules that only some paths of the library use, loaded at
// their first use instead of when the library is imported: node:net (the
// control socket: the client transport, the daemon's servers), node:readline
// and node:stream/promises (feeds read as streams, standard input spooled).
// Imported at the top, they took 14.6M of the 87.3M instructions that
// importing the library's first bundle cost (callgrind on the host, fixed
// seeds), and an application on the direct transport that loads feeds with
// blockFeed() uses none of them.  The types are imported the ordinary way
// (`import type`), which loads nothing.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

let net: typeof import('node:net') | undefined;
let readline: typeof import('node:readline') | undefined;
let streamPromises: typeof import('node:stream/promises') | undefined;

/** node:net. */
export function nodeNet(): typeof import('node:net') {
  return (net ??= load('node:net') as typeof import('node:net'));
}

/** node:readline. */
export function nodeReadline(): typeof import('node:readline') {
  return (readline ??= load('node:readline') as typeof import('node:readline'));
}

/** node:stream/promises. */
export function nodeStreamPromises(): typeof import('node:stream/promises') {
  return (streamPromises ??= load('node:stream/promises') as typeof import('node:stream/promises'));
}
