/**
 * Webhook defaults that the code, `--help` and the docs read from here. Dependency-free: the CLI's start-up
 * imports it to write its help.
 */
export const WEBHOOK_DEFAULTS = {
  /** How far a webhook's `time_ms` may be from now (ms) before it is refused as stale. */
  maxAgeMs: 5 * 60_000,
  /** `webhook:listen`: where it listens. */
  listenPort: 9292,
  listenHost: '127.0.0.1',
  listenPath: '/webhooks/pusher',
} as const;
