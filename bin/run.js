#!/usr/bin/env node
// SPDX-License-Identifier: MIT
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
