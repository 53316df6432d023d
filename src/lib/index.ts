// SPDX-License-Identifier: MIT
//
// ffwall's embeddable library: the public API.
//
// Embedders need openFfwall() and the types; the Kernel interface and its
// implementations are exported for the daemon, the CLI and tests.
export { AddressError, IpPrefix, packedPrefixAt, packPrefixInto, parseAddress, parsePrefix, parseV4PrefixInto, toAddress, toPrefix, tryParsePrefix } from './addr.js';
export type {
  AllowEntryInfo,
  BanRecordInfo,
  ConfigInfo,
  ConfigPatch,
  DeviceEntry,
  FlushRequest,
  FlushResult,
  FlushTable,
  HistoryEntry,
  HitsResult,
  ListRequest,
  ShowResult,
  DatabaseCounts,
  StatsResult,
  UnblockSourceResult,
  AllowResult,
  BanInfo,
  BanSource,
  BatchProgress,
  BatchSummary,
  BlockOptions,
  BlockRequest,
  BlockResult,
  CheckResult,
  ChunkOptions,
  FfwallEvent,
  StatusResult,
  Transport,
  UnblockResult,
} from './api.js';
export { ClientTransport, CONTROL_PROTOCOL, ControlServer, DEFAULT_SOCKET_PATH, type ControlServerOptions } from './control.js';
export { AbiMismatchError, DEFAULT_DEVICE_PATH, Device, libraryAbiVersion } from './device.js';
export { DurationError, formatDuration, parseDuration } from './duration.js';
export { FfwallError } from './errors.js';
export { DEFAULT_TTL, Ffwall, openFfwall, type BlockItem, type FfwallEventMap, type ManyOptions, type OpenOptions } from './ffwall.js';
export * from './kernel.js';
// The in-memory Kernel with the module's semantics, for applications' own
// tests of their integration: openFfwall({ kernel: new FakeKernel(), database: false }).
export { FakeKernel, type FakeKernelOptions, type FakePacket } from './kernel-fake.js';
export { checkPacked, MissingFeatureError, NativeKernel, type NativeKernelOptions, type PackedAdd, type PackedPrefixes, type SharedRule } from './kernel-native.js';
export { DirectTransport } from './transport-direct.js';
export {
  DEFAULT_OFFENCE_PORTS,
  DEFAULT_OFFENCE_WINDOW,
  DEFAULT_THRESHOLDS,
  defaultOffenceConfig,
  OFFENCE_KINDS,
  OffenceTracker,
  sourceOfOrigin,
  type Offence,
  type OffenceConfig,
  type OffenceKind,
  type OffenceRule,
  type OffenceSource,
  type ReportRequest,
  type ReportResult,
} from './offences.js';
export {
  allowlistCheck,
  countLines,
  EXPORT_FORMATS,
  FeedError,
  IMPORT_FORMATS,
  firstAllowlistOverlap,
  inKeyOrder,
  isPackedFeed,
  packPlainFeed,
  packPlainFile,
  parseFeedLine,
  readFeed,
  spool,
  validateFeed,
  writeExport,
  type ExportFormat,
  type ExportOptions,
  type FeedEntry,
  type ImportFormat,
  type PackedFeed,
  type ValidateResult,
} from './feeds.js';
