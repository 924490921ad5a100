/** `deploy`'s flags for tensor parallelism over processes, spelled as torchrun and vLLM spell them. */
import type { FlagSpecs, ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import {
  checkGroupOptions,
  DEFAULT_MASTER_PORT,
  DEFAULT_RENDEZVOUS_TIMEOUT_S,
  GroupOptionsError,
  type GroupOptions,
} from '../runtime/distributed/group-options.js';

export const GROUP_FLAGS: FlagSpecs = {
  nnodes: { kind: 'number', default: 1, help: 'processes (pods) the model is split over, one tensor-parallel rank each; equals --tensor-parallel-size when > 1 (CPU only so far)' },
  'node-rank': { kind: 'number', default: 0, help: "this process's rank: 0 serves the API, the others follow its steps" },
  'master-addr': { kind: 'string', default: '127.0.0.1', help: 'the address the other ranks reach rank 0 at' },
  'master-port': { kind: 'number', default: DEFAULT_MASTER_PORT, help: "rank 0's control port (the collective's port is picked by rank 0 and sent to the others)" },
  'rendezvous-timeout': { kind: 'number', default: DEFAULT_RENDEZVOUS_TIMEOUT_S, help: 'seconds the ranks wait for each other at start-up' },
};

/** The group, or undefined for the usual one process (--nnodes 1 and --node-rank 0). */
export function groupOptionsFrom(flags: ParsedFlags, tensorParallelSize: number): GroupOptions | undefined {
  const group: GroupOptions = {
    size: flags['nnodes'] as number,
    rank: flags['node-rank'] as number,
    masterAddr: flags['master-addr'] as string,
    masterPort: flags['master-port'] as number,
    timeoutMs: (flags['rendezvous-timeout'] as number) * 1000,
  };
  if (group.size === 1 && group.rank === 0) return undefined;
  try {
    checkGroupOptions(group, tensorParallelSize);
  } catch (error) {
    if (error instanceof GroupOptionsError) throw new UsageError(error.message);
    throw error;
  }
  return group;
}
