// SPDX-License-Identifier: MIT
//
// Helpers of the database tests: a fresh temp directory per store, a
// settable clock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BanStore, type StoreOptions } from '../../src/lib/db/index.js';

export const HOUR = 3600;
export const DAY = 86400;

export interface Clock {
  t: number;
  now: () => number;
  advance(seconds: number): void;
}

export function clock(start = Date.UTC(2025, 0, 1)): Clock {
  const c: Clock = {
    t: start,
    now: () => c.t,
    advance(seconds: number) {
      c.t += seconds * 1000;
    },
  };
  return c;
}

export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'ffwall-db-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A store in a fresh temp directory; close() also removes the directory. */
export function freshStore(options: Omit<StoreOptions, 'path'> = {}): { store: BanStore; path: string; close: () => Promise<void> } {
  const dir = tempDir();
  const store = BanStore.open({ noSync: true, ...options, path: dir.path });
  return {
    store,
    path: dir.path,
    close: async () => {
      await store.close();
      dir.remove();
    },
  };
}
