import { errorOf } from '../../testing/errorOf.js';
import {
  DEFAULT_MASTER_PORT,
  detectDistEnv,
  expandSlurmNodeList,
  firstSlurmHost,
  parseSlurmEnv,
  parseSlurmTasksPerNode,
  parseTorchrunEnv,
} from '../distEnv.js';

const torchrun = {
  RANK: '3',
  WORLD_SIZE: '8',
  LOCAL_RANK: '1',
  LOCAL_WORLD_SIZE: '2',
  MASTER_ADDR: 'node17',
  MASTER_PORT: '29400',
};

// What srun sets for task 5 of 8 tasks, 2 per node, on 4 nodes.
const slurm = {
  SLURM_JOB_ID: '123456',
  SLURM_PROCID: '5',
  SLURM_NTASKS: '8',
  SLURM_LOCALID: '1',
  SLURM_NODEID: '2',
  SLURM_TASKS_PER_NODE: '2(x4)',
  SLURM_JOB_NODELIST: 'gpu[01-04]',
};

describe('torchrun-style environment', () => {
  test('reads every variable', () => {
    expect(parseTorchrunEnv(torchrun)).toEqual({
      rank: 3,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'node17',
      masterPort: 29400,
      source: 'torchrun',
    });
  });

  test('a world of one needs no master address', () => {
    const single = parseTorchrunEnv({ RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1' });
    expect(single).toMatchObject({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: DEFAULT_MASTER_PORT });
  });

  test('inconsistent or partial environments name the variable', () => {
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, RANK: '8' }))).toMatchObject({
      code: 'ITL_USAGE',
      message: 'RANK=8 is outside a world of 8 processes (WORLD_SIZE=8)',
    });
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, LOCAL_RANK: '2' })).message).toBe(
      'LOCAL_RANK=2 is outside the 2 processes of this node (LOCAL_WORLD_SIZE)',
    );
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, LOCAL_WORLD_SIZE: '9' })).message).toBe(
      'LOCAL_WORLD_SIZE=9 must be between 1 and WORLD_SIZE=8',
    );
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, WORLD_SIZE: '0', RANK: '0' })).message).toBe(
      'WORLD_SIZE must be at least 1 but is 0',
    );
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, RANK: '-1' })).message).toBe(
      "expected a non-negative integer for RANK but received '-1'",
    );
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, WORLD_SIZE: '2.5' })).message).toBe(
      "expected a non-negative integer for WORLD_SIZE but received '2.5'",
    );
    expect(errorOf(() => parseTorchrunEnv({ ...torchrun, MASTER_PORT: '70000' })).message).toBe(
      'expected a port between 1 and 65535 for MASTER_PORT but received 70000',
    );
    const { LOCAL_RANK: _unused, LOCAL_WORLD_SIZE: _alsoUnused, ...partial } = torchrun;
    expect(errorOf(() => parseTorchrunEnv(partial)).message).toBe(
      'a torchrun-style environment needs RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE; missing LOCAL_RANK, LOCAL_WORLD_SIZE',
    );
    const { MASTER_ADDR: _addr, ...noMaster } = torchrun;
    expect(errorOf(() => parseTorchrunEnv(noMaster)).message).toBe('WORLD_SIZE=8 needs MASTER_ADDR (the address of rank 0)');
  });
});

describe('SLURM node lists', () => {
  test.each([
    ['gpu[01-04,07]', ['gpu01', 'gpu02', 'gpu03', 'gpu04', 'gpu07']],
    ['a[1-2],b3', ['a1', 'a2', 'b3']],
    ['node7', ['node7']],
    ['n[8-10]', ['n8', 'n9', 'n10']],
    ['n[08-10]', ['n08', 'n09', 'n10']],
    ['gpu[1],cpu[003-004],login', ['gpu1', 'cpu003', 'cpu004', 'login']],
    ['r[1-2]n[1-2]', ['r1n1', 'r1n2', 'r2n1', 'r2n2']],
    ['rack1-node[3-4].cluster', ['rack1-node3.cluster', 'rack1-node4.cluster']],
  ])('%s expands in order', (list, hosts) => {
    expect(expandSlurmNodeList(list)).toEqual(hosts);
    expect(firstSlurmHost(list)).toBe(hosts[0]);
  });

  test.each([
    ['gpu[01-04', "unbalanced '[' in the SLURM node list 'gpu[01-04'"],
    ['gpu01-04]', "unbalanced ']' in the SLURM node list 'gpu01-04]'"],
    ['gpu[04-01]', "the range '04-01' in the SLURM node list 'gpu[04-01]' runs backwards"],
    ['gpu[a-b]', "cannot read the range 'a-b' in the SLURM node list 'gpu[a-b]'"],
    ['gpu[]', "cannot read the range '' in the SLURM node list 'gpu[]'"],
    ['a,,b', "an empty host name in the SLURM node list 'a,,b'"],
    ['a,', "an empty host name in the SLURM node list 'a,'"],
    ['', 'the SLURM node list is empty'],
  ])('%s is rejected', (list, message) => {
    expect(errorOf(() => expandSlurmNodeList(list))).toMatchObject({ code: 'ITL_USAGE', message });
  });

  test('tasks per node', () => {
    expect(parseSlurmTasksPerNode('2(x3),1')).toEqual([2, 2, 2, 1]);
    expect(parseSlurmTasksPerNode('4')).toEqual([4]);
    expect(errorOf(() => parseSlurmTasksPerNode('2(x0)')).message).toBe(
      "cannot read '2(x0)' in the SLURM tasks-per-node list '2(x0)' (expected N or N(xM), comma-separated)",
    );
    expect(errorOf(() => parseSlurmTasksPerNode('two')).code).toBe('ITL_USAGE');
  });
});

describe('SLURM-style environment', () => {
  test('rank, world, local rank, the first node as master, a port from the job id', () => {
    expect(parseSlurmEnv(slurm)).toEqual({
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'gpu01',
      masterPort: 23456,
      source: 'slurm',
    });
  });

  test('MASTER_ADDR and MASTER_PORT win; the step node list comes before the job one', () => {
    expect(parseSlurmEnv({ ...slurm, MASTER_ADDR: '10.0.0.9', MASTER_PORT: '29501' })).toMatchObject({
      masterAddr: '10.0.0.9',
      masterPort: 29501,
    });
    expect(parseSlurmEnv({ ...slurm, SLURM_STEP_NODELIST: 'gpu[03-04]' }).masterAddr).toBe('gpu03');
    const { SLURM_JOB_ID: _id, ...noJobId } = slurm;
    expect(parseSlurmEnv(noJobId).masterPort).toBe(DEFAULT_MASTER_PORT);
  });

  test('uneven tasks per node are read at this node', () => {
    const uneven = {
      ...slurm,
      SLURM_NTASKS: '7',
      SLURM_TASKS_PER_NODE: '2(x3),1',
      SLURM_NODEID: '3',
      SLURM_PROCID: '6',
      SLURM_LOCALID: '0',
    };
    expect(parseSlurmEnv(uneven)).toMatchObject({ rank: 6, localRank: 0, localWorldSize: 1 });
    expect(parseSlurmEnv({ ...uneven, SLURM_NTASKS_PER_NODE: '2' }).localWorldSize).toBe(2);
    expect(errorOf(() => parseSlurmEnv({ ...uneven, SLURM_NODEID: '4' })).message).toBe(
      "SLURM_NODEID=4 is outside the 4 nodes of SLURM_TASKS_PER_NODE='2(x3),1'",
    );
  });

  test('inconsistent environments name the variable', () => {
    expect(errorOf(() => parseSlurmEnv({ ...slurm, SLURM_PROCID: '8' })).message).toBe(
      'SLURM_PROCID=8 is outside a world of 8 processes (SLURM_NTASKS=8)',
    );
    expect(errorOf(() => parseSlurmEnv({ ...slurm, SLURM_LOCALID: '2' })).message).toBe(
      'SLURM_LOCALID=2 is outside the 2 processes of this node (SLURM_TASKS_PER_NODE)',
    );
    const { SLURM_LOCALID: _local, ...noLocal } = slurm;
    expect(errorOf(() => parseSlurmEnv(noLocal)).message).toBe(
      'a SLURM environment needs SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID; missing SLURM_LOCALID',
    );
    const { SLURM_JOB_NODELIST: _list, ...noList } = slurm;
    expect(errorOf(() => parseSlurmEnv(noList)).message).toBe(
      'a SLURM environment needs SLURM_JOB_NODELIST (or MASTER_ADDR) to find rank 0',
    );
    const { SLURM_TASKS_PER_NODE: _tasks, ...noTasks } = slurm;
    expect(errorOf(() => parseSlurmEnv(noTasks)).message).toBe(
      'a SLURM environment needs SLURM_NTASKS_PER_NODE or SLURM_TASKS_PER_NODE (the tasks on this node)',
    );
    expect(errorOf(() => parseSlurmEnv({ ...slurm, SLURM_JOB_NODELIST: 'gpu[01-' })).code).toBe('ITL_USAGE');
  });
});

describe('detection', () => {
  test('torchrun variables win over SLURM ones (itl launch inside a SLURM job)', () => {
    expect(detectDistEnv({ ...slurm, ...torchrun })).toMatchObject({ source: 'torchrun', rank: 3, worldSize: 8 });
  });

  test('SLURM when srun started the process', () => {
    expect(detectDistEnv(slurm)).toMatchObject({ source: 'slurm', rank: 5 });
  });

  test('a single process otherwise', () => {
    expect(detectDistEnv({ PATH: '/usr/bin' })).toEqual({
      rank: 0,
      worldSize: 1,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: DEFAULT_MASTER_PORT,
      source: 'single',
    });
  });

  test('one torchrun variable alone is an error, not a single process', () => {
    expect(errorOf(() => detectDistEnv({ RANK: '1' })).message).toContain('missing WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE');
  });
});
