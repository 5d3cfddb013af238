import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ItlError } from '../../errors.js';
import { DEFAULT_MASTER_PORT } from '../../train/distEnv.js';
import { launch } from '../../train/launcher.js';
import { defineCommand } from '../command.js';

// bin/itl.js, from dist/cli/commands/ (compiled) or lib/cli/commands/ (tests): three levels up.
const ITL_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'itl.js');

export const launchCommand = defineCommand({
  command: 'launch',
  describe:
    "run an itl command as K data-parallel worker processes on this node, with torchrun's environment " +
    '(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): itl launch --nproc-per-node K -- train …',
  builder: (y) =>
    y
      .usage('$0 launch --nproc-per-node K [--nnodes M --node-rank R --master-addr A --master-port P] -- <itl command…>')
      .parserConfiguration({ 'populate--': true })
      .option('nproc-per-node', {
        type: 'number',
        demandOption: true,
        describe: 'worker processes on this node (one per GPU, or per core on CPU)',
      })
      .option('nnodes', { type: 'number', default: 1, describe: 'nodes in the job, each running its own itl launch' })
      .option('node-rank', { type: 'number', default: 0, describe: "this node's index, 0 … nnodes − 1 (node 0 hosts rank 0)" })
      .option('master-addr', { type: 'string', describe: 'address of node 0, reachable from every node (default 127.0.0.1 on one node)' })
      .option('master-port', { type: 'number', default: DEFAULT_MASTER_PORT, describe: 'free TCP port on node 0 for the rendezvous' })
      .option('kill-grace', { type: 'number', default: 15, describe: 'seconds a worker has to exit after SIGTERM before SIGKILL' }),
  async run(args, context) {
    const nprocPerNode = args['nproc-per-node'];
    const nodeRank = args['node-rank'];
    const masterAddr = args['master-addr'];
    const masterPort = args['master-port'];
    const killGrace = args['kill-grace'];
    const command = ((args as Record<string, unknown>)['--'] as (string | number)[] | undefined)?.map(String) ?? [];
    if (command.length === 0) {
      throw new ItlError('ITL_USAGE', 'name the itl command to run after --, e.g. itl launch --nproc-per-node 2 -- train …');
    }
    if (command[0] === 'launch') throw new ItlError('ITL_USAGE', 'itl launch cannot launch itself');
    if (args.nnodes > 1 && masterAddr === undefined) {
      throw new ItlError('ITL_USAGE', `--nnodes ${args.nnodes} needs --master-addr: the address of node 0, reachable from every node`);
    }
    if (!(killGrace >= 0)) throw new ItlError('ITL_USAGE', `expected a non-negative number for --kill-grace but received ${killGrace}`);
    return launch({
      nprocPerNode,
      nnodes: args.nnodes,
      nodeRank,
      masterAddr: masterAddr ?? '127.0.0.1',
      masterPort,
      entry: ITL_ENTRY,
      args: command,
      env: context.env,
      io: context.io,
      killGraceMs: killGrace * 1000,
      forwardSignals: true,
    });
  },
});
