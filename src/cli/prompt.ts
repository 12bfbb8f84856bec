/**
 * Questions in a terminal, with inquirer (loaded only when a question is actually asked). Commands ask only
 * when `canPrompt()` says a person is there to answer; otherwise they use defaults, so scripts never hang.
 * Questions are written to stderr: stdout carries only the result, even while a person answers.
 */
import { StoppedError } from '../core/errors.js';
import type { Context } from './context.js';

export interface Question {
  type: 'input' | 'select';
  name: string;
  message: string;
  /** Every question has one, so Enter accepts it. */
  default: string;
  choices?: { name: string; value: string; short?: string }[];
  /** true, or the message to show. */
  validate?: (value: string, answers: Record<string, string>) => true | string;
}

/** A prompt the user left with Ctrl+C: the command stops as if interrupted (exit 130), having written nothing. */
export class PromptCancelled extends StoppedError {
  constructor() {
    super('SIGINT', 'cancelled; nothing was written');
  }
}

/** True when standard input and standard error (where questions show) are terminals and neither --yes nor --json was given. */
export function canPrompt(ctx: Context, options: { yes?: boolean } = {}): boolean {
  if (options.yes || ctx.io.json) return false;
  return Boolean((ctx.stdin as { isTTY?: boolean }).isTTY && ctx.io.stderr.isTTY);
}

/** Asks the questions in order and returns the answers by name. Throws PromptCancelled on Ctrl+C. */
export async function ask(ctx: Context, questions: Question[]): Promise<Record<string, string>> {
  const { default: inquirer } = await import('inquirer');
  const prompt = inquirer.createPromptModule({ input: ctx.stdin, output: ctx.io.stderr });
  try {
    return (await prompt(questions as never)) as Record<string, string>;
  } catch (error) {
    if ((error as Error)?.name === 'ExitPromptError' || (error as Error)?.name === 'AbortPromptError') {
      throw new PromptCancelled();
    }
    throw error;
  }
}
