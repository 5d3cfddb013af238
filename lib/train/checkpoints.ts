/**
 * Checkpoint folders of a run, as the trainer writes them: `checkpoint-<step>/`, complete once it
 * carries that name (the trainer writes into a hidden `.checkpoint-<step>.tmp-<pid>/` and renames it
 * at the end, writing trainer_state.json last).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface CheckpointFolder {
  step: number;
  path: string;
}

const CHECKPOINT = /^checkpoint-(0|[1-9][0-9]*)$/;

/** Complete checkpoints of `runDir`, by step. */
export function listCheckpoints(runDir: string): CheckpointFolder[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && CHECKPOINT.test(entry.name))
    .map((entry) => ({ step: Number(CHECKPOINT.exec(entry.name)![1]), path: path.join(runDir, entry.name) }))
    .filter((checkpoint) => existsSync(path.join(checkpoint.path, 'trainer_state.json')))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(runDir: string): CheckpointFolder | undefined {
  return listCheckpoints(runDir).at(-1);
}

/** Folders a killed write left behind (never complete, safe to delete). */
export function staleCheckpointFolders(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir)
    .filter((name) => /^\.checkpoint-\d+\.(tmp|old)-\d+$/.test(name))
    .map((name) => path.join(runDir, name));
}
