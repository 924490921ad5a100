/**
 * Where each data-parallel replica runs: on the CPU its share of the thread budget, on CUDA
 * its own group of tensor-parallel GPUs, given to the child as CUDA_VISIBLE_DEVICES so that
 * inside it the group is devices 0..tp-1, as a single-replica run sees them.
 */

export interface ReplicaPlacement {
  /** CPU threads for this replica's native model (undefined on CUDA: the GPU does the work). */
  numThreads: number | undefined;
  /** CUDA_VISIBLE_DEVICES for the child; undefined on the CPU. */
  cudaVisibleDevices: string | undefined;
}

export class PlacementError extends Error {
  override name = 'PlacementError';
}

/**
 * CPU: the budget (--num-threads, else every core) split evenly, at least one thread each, so
 * replicas do not oversubscribe the cores. NOTE: a remainder stays unused rather than making
 * one replica faster than the others (the balancer assumes equal replicas).
 */
export function cpuPlacements(numReplicas: number, threadBudget: number): ReplicaPlacement[] {
  const perReplica = Math.max(1, Math.floor(threadBudget / numReplicas));
  return Array.from({ length: numReplicas }, () => ({ numThreads: perReplica, cudaVisibleDevices: undefined }));
}

/**
 * CUDA: replica i takes GPUs [i*tp, (i+1)*tp) of what this process sees (its own
 * CUDA_VISIBLE_DEVICES, else devices 0..N*tp-1). A GPU listed twice is shared by two
 * replicas, on purpose only: each then needs its own --kv-cache-memory (a utilisation
 * fraction counts the other replica's memory too).
 */
export function cudaPlacements(numReplicas: number, tensorParallelSize: number, visibleDevices: string | undefined): ReplicaPlacement[] {
  const needed = numReplicas * tensorParallelSize;
  const devices = visibleDevices === undefined || visibleDevices.trim() === ''
    ? Array.from({ length: needed }, (_, index) => String(index))
    : visibleDevices.split(',').map((device) => device.trim());
  if (devices.length < needed) {
    throw new PlacementError(
      `--data-parallel-size ${numReplicas} x --tensor-parallel-size ${tensorParallelSize} needs ${needed} GPUs; CUDA_VISIBLE_DEVICES lists ${devices.length} (${visibleDevices})`,
    );
  }
  return Array.from({ length: numReplicas }, (_, replica) => ({
    numThreads: undefined,
    cudaVisibleDevices: devices.slice(replica * tensorParallelSize, (replica + 1) * tensorParallelSize).join(','),
  }));
}
