/**
 * The tests' real soketi: bench/soketi.js (one launcher for the tests and the benchmark) with the tests'
 * credentials and client events enabled. It starts on a free port and stops by its own process group.
 */
import { freePort, startSoketi as launch, stopProcessGroup } from '../../bench/soketi.js';

export { freePort, stopProcessGroup };

export interface SoketiServer {
  host: string;
  port: number;
  appId: string;
  key: string;
  secret: string;
  pid: number;
  /** PUSHER_* variables that point the CLI at this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function startSoketi(options: { env?: Record<string, string>; port?: number } = {}): Promise<SoketiServer> {
  return launch({
    port: options.port,
    credentials: { appId: 'app-id', key: 'app-key', secret: 'app-secret-for-tests' },
    env: { SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: 'true', ...options.env },
  });
}
