/**
 * Where the processes of one tensor-parallel model find each other, as torchrun and vLLM spell
 * it: `--nnodes` processes (one rank each), this one's `--node-rank`, and rank 0's address.
 */
export interface GroupOptions {
  /** Processes in the group (= the tensor-parallel size: one rank per process). */
  size: number;
  /** This process's rank: 0 leads (engine, scheduler, HTTP, sampling), the others follow its steps. */
  rank: number;
  /** The leader's host name or address, as the other ranks reach it. */
  masterAddr: string;
  /** The leader's control port; the collective's own port is chosen by the leader and sent with the plan. */
  masterPort: number;
  /** How long ranks wait for each other at start-up (connecting, loading) before giving up. */
  timeoutMs: number;
}

/** `swiftlet deploy`'s defaults (torchrun's port). */
export const DEFAULT_MASTER_PORT = 29500;
export const DEFAULT_RENDEZVOUS_TIMEOUT_S = 600;

export class GroupOptionsError extends Error {
  override name = 'GroupOptionsError';
}

/** Throws a one-line GroupOptionsError for a group that cannot be formed as asked. */
export function checkGroupOptions(group: GroupOptions, tensorParallelSize: number): void {
  if (!Number.isInteger(group.size) || group.size < 1) throw new GroupOptionsError(`--nnodes must be a positive integer (got ${group.size})`);
  if (!Number.isInteger(group.rank) || group.rank < 0 || group.rank >= group.size) {
    throw new GroupOptionsError(`--node-rank ${group.rank} is out of range: --nnodes ${group.size} has ranks 0..${group.size - 1}`);
  }
  if (group.size !== tensorParallelSize) {
    throw new GroupOptionsError(`--nnodes ${group.size} must equal --tensor-parallel-size ${tensorParallelSize}: each process runs one rank`);
  }
  if (!Number.isInteger(group.masterPort) || group.masterPort < 1 || group.masterPort > 65535) {
    throw new GroupOptionsError(`--master-port must be an integer in 1..65535 (got ${group.masterPort})`);
  }
  if (!(group.timeoutMs > 0)) throw new GroupOptionsError('--rendezvous-timeout must be a positive number of seconds');
}
