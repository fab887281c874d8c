/**
 * How a fleet command tells what it could not read: each warning and each failed context on
 * stderr (named by context when there are several), the same as data for -o json (`errors`,
 * `warnings`), and one error that carries the exit code.
 */
import type { RunContext } from '../cli/context.js';
import { CliError, type ExitCodeValue } from '../errors.js';
import type { ContextError, ContextOutcome } from './read.js';

export interface FleetWarning {
  context: string;
  message: string;
}

export function reportOutcomes(ctx: RunContext, outcomes: ContextOutcome[], several: boolean): { errors: ContextError[]; warnings: FleetWarning[] } {
  const errors: ContextError[] = [];
  const warnings: FleetWarning[] = [];
  for (const x of outcomes) {
    if ('error' in x) {
      errors.push(x.error);
      // One context alone: its error is the command's (below).
      if (several) ctx.log.info(`error: context "${x.error.context}": ${x.error.message}`);
      continue;
    }
    for (const w of x.ok.warnings) {
      warnings.push({ context: x.ok.context, message: w });
      ctx.log.warn(several && !w.includes(`context "${x.ok.context}"`) ? `context "${x.ok.context}": ${w}` : w);
    }
    ctx.log.debug(2, `context "${x.ok.context}": ${x.ok.releases.length} release(s) read with ${x.ok.calls.lists} list calls (${x.ok.calls.requests} requests)`);
  }
  return { errors, warnings };
}

/** The error a fleet command ends with: one context's own error, or which contexts failed. */
export function fleetFailure(outcomes: ContextOutcome[], several: boolean, code: ExitCodeValue): CliError {
  const failed = outcomes.flatMap((x) => ('error' in x ? [x.error] : []));
  if (!several && failed.length === 1) return new CliError(failed[0]!.message, failed[0]!.exitCode);
  if (failed.length) return new CliError(`${failed.length} of ${outcomes.length} context(s) could not be read: ${failed.map((f) => f.context).join(', ')}`, code);
  return new CliError('the list may be incomplete: a source of releases could not be read (see the warnings above)', code);
}
