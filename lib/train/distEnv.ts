/**
 * Where this process sits in a data-parallel job, read from the environment its launcher made:
 * torchrun's contract (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, also
 * what `itl launch` sets) or SLURM's (`srun`: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the tasks per
 * node, the node list). Neither present: a single process. Pure functions of the environment, so
 * every rank of a job derives the same master address and port. An environment that contradicts
 * itself is an error naming the variable, never a guess: a wrong rank would hang the job.
 */
import { ItlError } from '../errors.js';

export type DistSource = 'torchrun' | 'slurm' | 'single';

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** Which contract the values came from. */
  source: DistSource;
}

/** torchrun's default port. */
export const DEFAULT_MASTER_PORT = 29500;
const DEFAULT_MASTER_ADDR = '127.0.0.1';

type Env = Record<string, string | undefined>;

function usage(message: string): ItlError {
  return new ItlError('ITL_USAGE', message);
}

function present(env: Env, name: string): boolean {
  return env[name] !== undefined && env[name] !== '';
}

/** A non-negative decimal integer (no sign, no exponent, no spaces). */
function integerVar(env: Env, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') throw usage(`${name} is not set`);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw usage(`expected a non-negative integer for ${name} but received '${raw}'`);
  }
  return Number(raw);
}

function portVar(env: Env, name: string): number {
  const port = integerVar(env, name);
  if (port < 1 || port > 65535) throw usage(`expected a port between 1 and 65535 for ${name} but received ${port}`);
  return port;
}

/** The checks every source shares; `names` says which variables carried each value. */
function checked(dist: DistEnv, names: { rank: string; worldSize: string; localRank: string; localWorldSize: string }): DistEnv {
  if (dist.worldSize < 1) throw usage(`${names.worldSize} must be at least 1 but is ${dist.worldSize}`);
  if (dist.rank >= dist.worldSize) {
    throw usage(`${names.rank}=${dist.rank} is outside a world of ${dist.worldSize} processes (${names.worldSize}=${dist.worldSize})`);
  }
  if (dist.localWorldSize < 1 || dist.localWorldSize > dist.worldSize) {
    throw usage(`${names.localWorldSize}=${dist.localWorldSize} must be between 1 and ${names.worldSize}=${dist.worldSize}`);
  }
  if (dist.localRank >= dist.localWorldSize) {
    throw usage(
      `${names.localRank}=${dist.localRank} is outside the ${dist.localWorldSize} processes of this node (${names.localWorldSize})`,
    );
  }
  if (dist.masterAddr === '') throw usage('the master address is empty');
  return dist;
}

const TORCHRUN_VARS = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'] as const;

/** torchrun's (and `itl launch`'s) environment. MASTER_ADDR/MASTER_PORT may be absent for a world of 1. */
export function parseTorchrunEnv(env: Env): DistEnv {
  const missing = TORCHRUN_VARS.filter((name) => !present(env, name));
  if (missing.length > 0) {
    throw usage(`a torchrun-style environment needs ${TORCHRUN_VARS.join(', ')}; missing ${missing.join(', ')}`);
  }
  const worldSize = integerVar(env, 'WORLD_SIZE');
  if (worldSize > 1) {
    const absent = ['MASTER_ADDR', 'MASTER_PORT'].filter((name) => !present(env, name));
    if (absent.length > 0) throw usage(`WORLD_SIZE=${worldSize} needs ${absent.join(' and ')} (the address of rank 0)`);
  }
  return checked(
    {
      rank: integerVar(env, 'RANK'),
      worldSize,
      localRank: integerVar(env, 'LOCAL_RANK'),
      localWorldSize: integerVar(env, 'LOCAL_WORLD_SIZE'),
      masterAddr: env.MASTER_ADDR || DEFAULT_MASTER_ADDR,
      masterPort: present(env, 'MASTER_PORT') ? portVar(env, 'MASTER_PORT') : DEFAULT_MASTER_PORT,
      source: 'torchrun',
    },
    { rank: 'RANK', worldSize: 'WORLD_SIZE', localRank: 'LOCAL_RANK', localWorldSize: 'LOCAL_WORLD_SIZE' },
  );
}

/**
 * SLURM's tasks-per-node syntax, `2(x3),1` → [2, 2, 2, 1]: a count per node, `(xN)` repeating it.
 */
export function parseSlurmTasksPerNode(value: string): number[] {
  const counts: number[] = [];
  for (const part of value.split(',')) {
    const match = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!match || Number(match[1]) < 1 || (match[2] !== undefined && Number(match[2]) < 1)) {
      throw usage(`cannot read '${part}' in the SLURM tasks-per-node list '${value}' (expected N or N(xM), comma-separated)`);
    }
    for (let i = 0; i < Number(match[2] ?? 1); ++i) counts.push(Number(match[1]));
  }
  return counts;
}

/** The values of one bracket group, `01-04,07` → ['01','02','03','04','07'], keeping zero padding. */
function expandRanges(ranges: string, list: string): string[] {
  const values: string[] = [];
  for (const range of ranges.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!match) throw usage(`cannot read the range '${range}' in the SLURM node list '${list}'`);
    const [low, high] = [Number(match[1]), Number(match[2] ?? match[1])];
    if (high < low) throw usage(`the range '${range}' in the SLURM node list '${list}' runs backwards`);
    if (high - low > 100000) throw usage(`the range '${range}' in the SLURM node list '${list}' is implausibly long`);
    // SLURM pads to the width of the lower bound as written: gpu[08-10] → gpu08, gpu09, gpu10.
    const width = match[1].length;
    for (let n = low; n <= high; ++n) values.push(String(n).padStart(width, '0'));
  }
  return values;
}

/**
 * SLURM's compressed host list, expanded in order: `gpu[01-04,07]` → gpu01 … gpu04, gpu07;
 * `a[1-2],b3` → a1, a2, b3; several bracket groups in one name give their product
 * (`r[1-2]n[1-2]` → r1n1, r1n2, r2n1, r2n2), as scontrol show hostnames does.
 */
export function expandSlurmNodeList(list: string): string[] {
  const hosts: string[] = [];
  let i = 0;
  const text = list.trim();
  if (text === '') throw usage('the SLURM node list is empty');
  while (i < text.length) {
    // One host expression: up to the next comma outside brackets.
    let names = [''];
    while (i < text.length && text[i] !== ',') {
      if (text[i] === '[') {
        const close = text.indexOf(']', i);
        if (close < 0) throw usage(`unbalanced '[' in the SLURM node list '${list}'`);
        const values = expandRanges(text.slice(i + 1, close), list);
        names = names.flatMap((name) => values.map((value) => name + value));
        i = close + 1;
      } else if (text[i] === ']') {
        throw usage(`unbalanced ']' in the SLURM node list '${list}'`);
      } else {
        const literalEnd = text.slice(i).search(/[,[\]]/);
        const end = literalEnd < 0 ? text.length : i + literalEnd;
        const literal = text.slice(i, end);
        names = names.map((name) => name + literal);
        i = end;
      }
    }
    if (names.some((name) => name === '')) throw usage(`an empty host name in the SLURM node list '${list}'`);
    hosts.push(...names);
    i += 1; // the comma
    if (i === text.length && text.endsWith(',')) throw usage(`an empty host name in the SLURM node list '${list}'`);
  }
  return hosts;
}

/** The first host of a compressed list: where rank 0 of a SLURM step runs. */
export function firstSlurmHost(list: string): string {
  return expandSlurmNodeList(list)[0]!;
}

/**
 * A port every task of a SLURM job derives alike, different between jobs sharing a node:
 * MASTER_PORT when set, else 20000 + the job id's last four digits (as PyTorch Lightning does with
 * 15000), else torchrun's default.
 */
function slurmMasterPort(env: Env): number {
  if (present(env, 'MASTER_PORT')) return portVar(env, 'MASTER_PORT');
  if (present(env, 'SLURM_JOB_ID')) {
    const id = integerVar(env, 'SLURM_JOB_ID');
    return 20000 + (id % 10000);
  }
  return DEFAULT_MASTER_PORT;
}

/** `srun`'s environment: one task per process. */
export function parseSlurmEnv(env: Env): DistEnv {
  const missing = ['SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'].filter((name) => !present(env, name));
  if (missing.length > 0)
    throw usage(`a SLURM environment needs SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID; missing ${missing.join(', ')}`);
  // Tasks on this node: SLURM_NTASKS_PER_NODE (set by --ntasks-per-node) or SLURM_TASKS_PER_NODE
  // (always set, per node: `2(x3),1`) indexed by this node's SLURM_NODEID.
  let localWorldSize: number;
  let localWorldName: string;
  if (present(env, 'SLURM_NTASKS_PER_NODE')) {
    localWorldSize = integerVar(env, 'SLURM_NTASKS_PER_NODE');
    localWorldName = 'SLURM_NTASKS_PER_NODE';
  } else if (present(env, 'SLURM_TASKS_PER_NODE')) {
    const perNode = parseSlurmTasksPerNode(env.SLURM_TASKS_PER_NODE!);
    const distinct = new Set(perNode);
    if (distinct.size === 1) {
      localWorldSize = perNode[0]!;
    } else {
      const node = integerVar(env, 'SLURM_NODEID');
      if (node >= perNode.length) {
        throw usage(`SLURM_NODEID=${node} is outside the ${perNode.length} nodes of SLURM_TASKS_PER_NODE='${env.SLURM_TASKS_PER_NODE}'`);
      }
      localWorldSize = perNode[node]!;
    }
    localWorldName = 'SLURM_TASKS_PER_NODE';
  } else {
    throw usage('a SLURM environment needs SLURM_NTASKS_PER_NODE or SLURM_TASKS_PER_NODE (the tasks on this node)');
  }
  // Rank 0 runs on the first node of the step; a step may use fewer nodes than the job, so the
  // step's list comes first. MASTER_ADDR, when the job script sets it, wins.
  const listName = ['SLURM_STEP_NODELIST', 'SLURM_JOB_NODELIST', 'SLURM_NODELIST'].find((name) => present(env, name));
  let masterAddr: string;
  if (present(env, 'MASTER_ADDR')) {
    masterAddr = env.MASTER_ADDR!;
  } else if (listName) {
    masterAddr = firstSlurmHost(env[listName]!);
  } else {
    throw usage('a SLURM environment needs SLURM_JOB_NODELIST (or MASTER_ADDR) to find rank 0');
  }
  return checked(
    {
      rank: integerVar(env, 'SLURM_PROCID'),
      worldSize: integerVar(env, 'SLURM_NTASKS'),
      localRank: integerVar(env, 'SLURM_LOCALID'),
      localWorldSize,
      masterAddr,
      masterPort: slurmMasterPort(env),
      source: 'slurm',
    },
    { rank: 'SLURM_PROCID', worldSize: 'SLURM_NTASKS', localRank: 'SLURM_LOCALID', localWorldSize: localWorldName },
  );
}

/**
 * This process's place: torchrun's variables when any is set (they are explicit, and `itl launch`
 * inside a SLURM job sets them over SLURM's), else SLURM's when srun started us, else one process.
 */
export function detectDistEnv(env: Env): DistEnv {
  if (TORCHRUN_VARS.some((name) => present(env, name))) return parseTorchrunEnv(env);
  if (present(env, 'SLURM_PROCID') && present(env, 'SLURM_NTASKS')) return parseSlurmEnv(env);
  return {
    rank: 0,
    worldSize: 1,
    localRank: 0,
    localWorldSize: 1,
    masterAddr: env.MASTER_ADDR || DEFAULT_MASTER_ADDR,
    masterPort: present(env, 'MASTER_PORT') ? portVar(env, 'MASTER_PORT') : DEFAULT_MASTER_PORT,
    source: 'single',
  };
}
