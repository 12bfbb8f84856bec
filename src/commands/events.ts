import type { Context } from '../cli/context.js';
import { UsageError } from '../errors.js';

// Placeholder until this command is implemented.
export default async function notImplemented(_ctx: Context): Promise<number> {
  throw new UsageError('This command is not implemented yet');
}
