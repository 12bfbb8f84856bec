/**
 * Shared test fixtures (vitest `test.extend`), instead of helpers copied into each file:
 * - `uid`: a short random id, for channel and event names that no other test uses;
 * - `project`: a throwaway project folder (removed after the test) where `pusher-broadcast` resolves to
 *   this repository.
 */
import { test as base } from 'vitest';
import { tempProject } from './cli.js';

export interface Project {
  dir: string;
}

export const uid = (): string => Math.random().toString(36).slice(2, 10);

export const test = base.extend<{ uid: string; project: Project }>({
  // eslint-disable-next-line no-empty-pattern
  uid: async ({}, use) => {
    await use(uid());
  },
  // eslint-disable-next-line no-empty-pattern
  project: async ({}, use) => {
    const project = await tempProject();
    try {
      await use({ dir: project.dir });
    } finally {
      await project.cleanup();
    }
  },
});

export { describe, expect, beforeAll, afterAll, beforeEach, afterEach, vi, inject } from 'vitest';
