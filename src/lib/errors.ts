// SPDX-License-Identifier: MIT
//
// The errors of the public API.  Bad input is a TypeError or RangeError
// (AddressError, DurationError are TypeErrors).  Everything else is an
// FfwallError with a stable `code`:
//   ENOTPRIVILEGED  the direct transport needs CAP_NET_ADMIN (use the socket)
//   ENOMODULE       /dev/ffwall is missing: the module is not loaded
//   ENOKERNEL       a kernel call on an instance opened with the database alone (kernel: false)
//   EALLOWLISTED    the ban lies inside an allowlist entry
//   ENODAEMON       the daemon's control socket does not answer
//   EPROTO          the control socket spoke something this library does not
//   EFFWALLABI      the module and the library speak different ABI versions
// or the errno name of a refused kernel call (ENOSPC, EEXIST, ...), with
// `errno` and `syscall` as Node sets them.

export class FfwallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FfwallError';
  }
}

/** The JSON form of an error, as it crosses the control socket. */
export interface WireError {
  code: string;
  message: string;
  /** 'TypeError' | 'RangeError' | 'FfwallError' */
  kind: string;
  errno?: number;
  syscall?: string;
  applied?: number;
  badIndex?: number;
}

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { code: 'EUNKNOWN', message: String(err), kind: 'FfwallError' };
  const e = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown; applied?: unknown; badIndex?: unknown };
  const out: WireError = {
    code: typeof e.code === 'string' ? e.code : err instanceof TypeError ? 'EINVALIDARG' : 'EUNKNOWN',
    message: err.message,
    kind: err instanceof RangeError ? 'RangeError' : err instanceof TypeError ? 'TypeError' : 'FfwallError',
  };
  if (typeof e.errno === 'number') out.errno = e.errno;
  if (typeof e.syscall === 'string') out.syscall = e.syscall;
  if (typeof e.applied === 'number') out.applied = e.applied;
  if (typeof e.badIndex === 'number') out.badIndex = e.badIndex;
  return out;
}

/** Rebuilds an error received over the control socket, keeping its class and fields. */
export function fromWireError(w: WireError): Error {
  const err: Error =
    w.kind === 'TypeError' ? new TypeError(w.message) : w.kind === 'RangeError' ? new RangeError(w.message) : new FfwallError(w.code, w.message);
  const fields = err as Error & Record<string, unknown>;
  fields.code = w.code;
  if (w.errno !== undefined) fields.errno = w.errno;
  if (w.syscall !== undefined) fields.syscall = w.syscall;
  if (w.applied !== undefined) fields.applied = w.applied;
  if (w.badIndex !== undefined) fields.badIndex = w.badIndex;
  return err;
}
