/** Data-parallel units without processes: which replica takes a request, and where each replica runs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickReplica, type ReplicaLoad } from '../src/host/replicas/balance.js';
import { cpuPlacements, cudaPlacements, PlacementError } from '../src/host/replicas/placement.js';

const idle: ReplicaLoad = { isHealthy: true, numInFlight: 0, kvUsage: 0, isRunningAdapter: false };

test('requests go to the replica with the fewest in flight; equal loads alternate from the lowest index', () => {
  const loads = [{ ...idle }, { ...idle }, { ...idle }];
  const picked: number[] = [];
  for (let i = 0; i < 6; i++) {
    const index = pickReplica(loads);
    picked.push(index);
    (loads[index] as ReplicaLoad).numInFlight++;
  }
  assert.deepEqual(picked, [0, 1, 2, 0, 1, 2]);
  assert.equal(pickReplica([{ ...idle, numInFlight: 3 }, { ...idle, numInFlight: 1 }]), 1);
});

test('a replica whose KV cache is nearly full counts its queue heavier', () => {
  assert.equal(pickReplica([{ ...idle, numInFlight: 4, kvUsage: 0.9 }, { ...idle, numInFlight: 5, kvUsage: 0.1 }]), 1);
  assert.equal(pickReplica([{ ...idle, numInFlight: 4, kvUsage: 0.1 }, { ...idle, numInFlight: 5, kvUsage: 0.1 }]), 0);
});

test('adapter affinity: the replica running the adapter wins while at most one request busier', () => {
  const running = { ...idle, isRunningAdapter: true };
  assert.equal(pickReplica([{ ...idle, numInFlight: 2 }, { ...running, numInFlight: 3 }]), 1);
  assert.equal(pickReplica([{ ...idle, numInFlight: 2 }, { ...running, numInFlight: 4 }]), 0);
});

test('unhealthy replicas are never picked; none healthy gives -1', () => {
  assert.equal(pickReplica([{ ...idle, isHealthy: false }, { ...idle, numInFlight: 9 }]), 1);
  assert.equal(pickReplica([{ ...idle, isHealthy: false }, { ...idle, isHealthy: false }]), -1);
  assert.equal(pickReplica([]), -1);
});

test('CPU: the thread budget split evenly, at least one thread each', () => {
  assert.deepEqual(cpuPlacements(2, 16).map((placement) => placement.numThreads), [8, 8]);
  assert.deepEqual(cpuPlacements(3, 8).map((placement) => placement.numThreads), [2, 2, 2]);
  assert.deepEqual(cpuPlacements(4, 2).map((placement) => placement.numThreads), [1, 1, 1, 1]);
  assert.ok(cpuPlacements(2, 8).every((placement) => placement.cudaVisibleDevices === undefined));
});

test('CUDA: each replica its own group of -tp GPUs, from what this process may see', () => {
  assert.deepEqual(cudaPlacements(2, 1, undefined).map((placement) => placement.cudaVisibleDevices), ['0', '1']);
  assert.deepEqual(cudaPlacements(2, 2, undefined).map((placement) => placement.cudaVisibleDevices), ['0,1', '2,3']);
  assert.deepEqual(cudaPlacements(2, 2, '4,5,6,7').map((placement) => placement.cudaVisibleDevices), ['4,5', '6,7']);
  assert.deepEqual(cudaPlacements(2, 1, 'GPU-a, GPU-b').map((placement) => placement.cudaVisibleDevices), ['GPU-a', 'GPU-b']);
  assert.deepEqual(cudaPlacements(2, 1, '0,0').map((placement) => placement.cudaVisibleDevices), ['0', '0'], 'a GPU listed twice is shared');
  assert.throws(() => cudaPlacements(2, 2, '0,1,2'), PlacementError);
});
