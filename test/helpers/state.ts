/**
 * A private state folder for the test file that imports this: `emit --file` keeps its journals under
 * $XDG_STATE_HOME, and the CLI runs of these tests (in process or spawned, both take process.env) put them
 * here instead of in the user's home. Removed when the test process exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const stateHome = mkdtempSync(path.join(tmpdir(), 'broadcast-state-'));
process.env.XDG_STATE_HOME = stateHome;
process.on('exit', () => rmSync(stateHome, { recursive: true, force: true }));

/** Where `emit --file` keeps its journals in these tests. */
export const journalFolder = path.join(stateHome, 'broadcast', 'bulk');
