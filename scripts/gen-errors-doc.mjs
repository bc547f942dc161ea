#!/usr/bin/env node
// Writes docs/errors.md from the error catalogue and the HTTP status table (run after `npm run build`).
// test/unit/errors-doc.test.ts fails when the committed page is out of date.
import { writeFileSync } from 'node:fs';
import { renderErrorsDoc } from '../dist/src/services/http/errors-doc.js';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
