// SPDX-License-Identifier: MIT
// Typings of the CommonJS entry (cjs/index.cjs).
type Lib = typeof import('../dist/src/lib/index.js');
export declare function load(): Promise<Lib>;
export declare function openFfwall(options?: import('../dist/src/lib/index.js').OpenOptions): Promise<import('../dist/src/lib/index.js').Ffwall>;
