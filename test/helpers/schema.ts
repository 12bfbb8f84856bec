/**
 * Checks a command's `--json` output against its published JSON Schema (schemas/<command>.json, which
 * shares schemas/error.json for failures). Every command's success and failure output is checked this way.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import { ROOT } from './cli.js';

const dir = path.join(ROOT, 'schemas');
const ajv = new Ajv2020({ allErrors: true, strict: true });
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  ajv.addSchema(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as object);
}

/** The schema's `$id` for a command: `auth:sign` → `auth-sign.json`. */
export const schemaId = (command: string): string => `https://unpkg.com/pusher-broadcast/schemas/${command.replace(':', '-')}.json`;

/** Asserts that `value` (one JSON document, or one NDJSON record of a stream) matches `command`'s schema. */
export function expectSchema(command: string, value: unknown): void {
  const validate = ajv.getSchema(schemaId(command));
  if (!validate) throw new Error(`no schema for ${command} in schemas/`);
  const valid = validate(value);
  expect(valid ? [] : validate.errors, `${command} --json output: ${JSON.stringify(value)}`).toEqual([]);
}

/** Parses stdout as one JSON document and checks it against `command`'s schema. */
export function jsonOf(command: string, stdout: string): any {
  const value = JSON.parse(stdout);
  expectSchema(command, value);
  return value;
}
