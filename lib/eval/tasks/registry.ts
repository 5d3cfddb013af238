/**
 * Every evaluation task, once. `itl eval <task>`, `itl train --eval <task,…>`, `itl grid` and `itl
 * analyze` all read this list: adding a task is one module under lib/eval/tasks/ and one line here
 * (docs/extending.md has the checklist).
 */
import type { Argv, Options } from 'yargs';

import { ItlError } from '../../errors.js';
import { arcEasyTask } from './arcEasy.js';
import type { EvalTask } from './EvalTask.js';
import { generalTask } from './general.js';
import { hellaswagTask } from './hellaswag.js';
import { klTask } from './kl.js';
import { recallTask } from './recall.js';

export const EVAL_TASKS: readonly EvalTask[] = [recallTask, hellaswagTask, klTask, generalTask, arcEasyTask] as EvalTask[];

export const TASK_NAMES: readonly string[] = EVAL_TASKS.map((t) => t.name);

export function findTask(name: string): EvalTask {
  const task = EVAL_TASKS.find((t) => t.name === name);
  if (!task) throw new ItlError('ITL_USAGE', `unknown evaluation task '${name}': expected one of ${TASK_NAMES.join(', ')}`);
  return task;
}

/** "recall,kl" → those tasks, in the order given, each once; ITL_USAGE naming an unknown one. */
export function parseTaskList(text: string, flag: string): EvalTask[] {
  const names = [
    ...new Set(
      text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  if (names.length === 0)
    throw new ItlError('ITL_USAGE', `${flag} names no task: expected a comma-separated list of ${TASK_NAMES.join(', ')}`);
  return names.map((name) => {
    if (!TASK_NAMES.includes(name))
      throw new ItlError(
        'ITL_USAGE',
        `unknown evaluation '${name}' in ${flag}: expected a comma-separated list of ${TASK_NAMES.join(', ')}`,
      );
    return findTask(name);
  });
}

/** Every task's flags in one set (a flag two tasks share is declared identically: checked here, once). */
export function taskFlags(): Record<string, Options> {
  const flags: Record<string, Options> = {};
  for (const task of EVAL_TASKS) {
    for (const [name, option] of Object.entries(task.flags)) {
      if (flags[name] !== undefined && JSON.stringify(flags[name]) !== JSON.stringify(option)) {
        throw new ItlError('ITL_INTERNAL', `evaluation tasks declare --${name} differently (${task.name})`);
      }
      flags[name] = option;
    }
  }
  return flags;
}

/** Declares every task's flags on a command (`itl eval`, `itl train`); their values reach the tasks through `settings`. */
export function withTaskFlags<T>(y: Argv<T>): Argv<T> {
  for (const [name, option] of Object.entries(taskFlags())) y = y.option(name, option) as unknown as Argv<T>;
  return y;
}
