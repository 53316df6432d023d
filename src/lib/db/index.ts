// SPDX-License-Identifier: MIT
//
// The ban database (issue 7): the store and its types.  Not re-exported from
// src/lib/index.ts; the integrator wires it into the public API.
export { AllowlistedError, BanStore, DEFAULT_AGGREGATION, DEFAULT_ESCALATION, DEFAULT_RETENTION } from './store.js';
export { SCHEMA_VERSION, SchemaError } from './schema.js';
export * from './types.js';
