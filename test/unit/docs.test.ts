/** The generated docs (docs/cli.md, the error-code table) match the code: `npm run docs` regenerates them. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { ROOT } from '../helpers/cli.js';

describe('generated docs', () => {
  it('docs/cli.md and the error-code table are up to date', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/docs.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every error code is in the error schema, and the schema names no other', () => {
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas/error.json'), 'utf8'));
    expect([...schema.$defs.error.properties.code.enum].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });
});
