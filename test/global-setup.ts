/** Starts one soketi for the whole run; tests read its address with inject('soketi'). */
import type { TestProject } from 'vitest/node';
import { startSoketi, type SoketiServer } from './helpers/soketi.js';

let server: SoketiServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startSoketi();
  const { stop: _stop, ...info } = server;
  project.provide('soketi', info);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    soketi: Omit<SoketiServer, 'stop'>;
  }
}
