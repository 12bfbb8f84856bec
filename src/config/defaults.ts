/**
 * Defaults that the code, `--help` and the docs all read from here, so they cannot disagree. Tiny and
 * dependency-free: the CLI's start-up imports it to write its help.
 */
export const DEFAULTS = {
  /** Time limit for one call to the HTTP API, retries included (ms). */
  timeoutMs: 10_000,
  /** Retries after the first attempt, for requests that surely did not arrive and for 429/503 answers. */
  retries: 4,
  /** `doctor`'s per-request time limit: short, so a dead server is reported quickly (ms). */
  doctorTimeoutMs: 5_000,
  /** `doctor`'s retries: none, so each check reports what the server did the first time. */
  doctorRetries: 0,
  /** `emit --file`: requests in flight. */
  concurrency: 32,
  /** Largest event data, in KB (Pusher Channels' limit). */
  maxPayloadKb: 10,
  /** `listen`: give up connecting or subscribing after this long (ms). */
  connectTimeoutMs: 10_000,
  /** Longest time loading the config may take (a top-level await that never settles); BROADCAST_CONFIG_TIMEOUT raises it. */
  configTimeoutMs: 10_000,
  /** `bench`: events published, and their size in bytes. */
  benchCount: 1_000,
  benchSize: 100,
} as const;

/** The channel follower's defaults (`listen --all`, `console`): poll every 2 s, follow at most 100 channels at once. */
export const FOLLOW_DEFAULTS = {
  intervalMs: 2_000,
  /** Shortest interval accepted: each poll is one or two signed API requests. */
  minIntervalMs: 250,
  maxChannels: 100,
} as const;
