import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { renderErrorsDoc } from '../../../src/services/http/errors-doc.js';
import { ROOT } from '../../helpers/cli.js';

it('docs/errors.md lists every error code with its HTTP status (node scripts/gen-errors-doc.mjs)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8'), renderErrorsDoc());
});
