// SPDX-License-Identifier: MIT
//
// Writing a benchmark's results: one JSON document per benchmark under
// bench/results/, with the kernel, the machine and the date, so that every
// figure can be traced to where and when it was measured.
import { cpus, release, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  /** 'qemu tcg' for guest benchmarks, 'host' for the host's own kernel. */
  emulation: string;
  hostKernel: string;
}

export function machineInfo(emulation: string): Machine {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), emulation, hostKernel: release() };
}

export interface ResultDoc {
  bench: string;
  /** The kernel the figures were measured under. */
  kernel: string;
  machine: Machine;
  date: string;
  [key: string]: unknown;
}

/** Writes bench/results/<bench>.json under `resultsDir`; returns its path. */
export function writeResults(resultsDir: string, doc: ResultDoc): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${doc.bench}.json`);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
