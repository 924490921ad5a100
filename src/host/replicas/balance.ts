/**
 * Which replica takes a new request. The front process knows each replica's requests in
 * flight exactly (it counts them) and its KV use as of its last outputs; a replica whose KV
 * cache is nearly full is about to preempt, so its queue counts up to twice. A request for an
 * adapter goes preferably to a replica already running that adapter (its prompts' KV blocks
 * may be cached there, and a batch with fewer distinct adapters is cheaper on the GPU), but
 * never when that replica is more than one request busier than the least loaded.
 */

export interface ReplicaLoad {
  isHealthy: boolean;
  numInFlight: number;
  /** KV blocks used / total, 0..1, from the replica's last report. */
  kvUsage: number;
  /** The replica has a request in flight for the adapter this request names. */
  isRunningAdapter: boolean;
}

/** Worth one and a half requests: with equal KV use, affinity wins while at most one request busier. */
const ADAPTER_AFFINITY_BONUS = 1.5;

function score(load: ReplicaLoad): number {
  return load.numInFlight * (1 + load.kvUsage) - (load.isRunningAdapter ? ADAPTER_AFFINITY_BONUS : 0);
}

/** The replica to use (lowest score; ties: fewer in flight, then lower index), or -1 when none is healthy. */
export function pickReplica(loads: readonly ReplicaLoad[]): number {
  let best = -1;
  loads.forEach((load, index) => {
    if (!load.isHealthy) return;
    const current = loads[best];
    if (current === undefined) {
      best = index;
      return;
    }
    const delta = score(load) - score(current);
    if (delta < 0 || (delta === 0 && load.numInFlight < current.numInFlight)) best = index;
  });
  return best;
}
