/**
 * The deployment files under deploy/: the Kubernetes manifests parse, carry the fields each
 * kind needs, and agree with each other and with swiftlet (args are deploy's flags, probes hit
 * /health, the grace period covers the drain, GPUs match -dp x -tp, the pool selects the pods, the
 * LeaderWorkerSet's leader and worker form one tensor-parallel group);
 * the Dockerfiles copy what exists and ship the libraries the CUDA addon dlopens. When kubectl
 * is installed, `kubectl apply --dry-run=client --validate=false` reads them too (against a
 * stand-in API server that only answers discovery: no cluster is needed or reached).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { parseFlags } from '../src/cli/args.js';
import { FLAGS as DEPLOY_FLAGS } from '../src/cli/commands/deploy.js';
import { groupOptionsFrom } from '../src/cli/group-flags.js';
import { modelOptionsFrom } from '../src/cli/model-flags.js';
import { packageRoot } from '../src/package-root.js';

const root = packageRoot();
const k8sDir = join(root, 'deploy', 'k8s');
const dockerDir = join(root, 'deploy', 'docker');

type Manifest = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') ? [path] : [];
  });
}

const manifests: Manifest[] = yamlFiles(k8sDir).flatMap((path) =>
  parseAllDocuments(readFileSync(path, 'utf8')).map((document) => {
    assert.deepEqual(document.errors, [], path);
    return document.toJS() as Manifest;
  }),
);

function only(kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest['kind'] === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Manifest;
}

/** The fields every object of a kind must have (what the API server would refuse without). */
const REQUIRED: Record<string, string[]> = {
  Deployment: ['spec.selector.matchLabels', 'spec.template.metadata.labels', 'spec.template.spec.containers'],
  Service: ['spec.selector', 'spec.ports'],
  PersistentVolumeClaim: ['spec.accessModes', 'spec.resources.requests.storage'],
  InferencePool: ['spec.selector.matchLabels', 'spec.targetPorts', 'spec.endpointPickerRef.name'],
  HTTPRoute: ['spec.parentRefs', 'spec.rules'],
  LeaderWorkerSet: ['spec.leaderWorkerTemplate.size', 'spec.leaderWorkerTemplate.leaderTemplate.spec.containers', 'spec.leaderWorkerTemplate.workerTemplate.spec.containers'],
};

function at(object: Manifest, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Manifest | undefined)?.[key], object);
}

const deployment = only('Deployment');
const pod = deployment['spec']['template'];
const container = pod['spec']['containers'][0];
const podLabels = pod['metadata']['labels'] as Record<string, string>;

function selects(selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => podLabels[key] === value);
}

function containerPort(name: string | number): number {
  const port = (container['ports'] as { name?: string; containerPort: number }[]).find((entry) => entry.name === name || entry.containerPort === name);
  assert.ok(port, `container port ${name}`);
  return port.containerPort;
}

test('every manifest has apiVersion, kind, a name and the fields its kind requires', () => {
  assert.ok(manifests.length >= 5);
  for (const manifest of manifests) {
    assert.match(String(manifest['apiVersion']), /^([a-z0-9.-]+\/)?v\d/, JSON.stringify(manifest['metadata']));
    assert.match(String(manifest['metadata']?.['name']), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    const required = REQUIRED[manifest['kind']];
    assert.ok(required, `a kind this test knows: ${manifest['kind']}`);
    for (const path of required) assert.notEqual(at(manifest, path), undefined, `${manifest['kind']}: ${path}`);
  }
});

test('the container args are swiftlet deploy flags, and the GPUs asked for are -dp x -tp', () => {
  const { flags, positionals } = parseFlags(container['args'] as string[], DEPLOY_FLAGS);
  assert.deepEqual(positionals, []);
  const options = modelOptionsFrom(flags);
  const gpus = (options.dataParallelSize ?? 1) * options.tensorParallelSize;
  assert.equal(container['resources']['requests']['nvidia.com/gpu'], gpus);
  assert.equal(container['resources']['limits']['nvidia.com/gpu'], gpus);
});

test('probes hit /health; the grace period covers preStop plus the SIGTERM drain', () => {
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    assert.equal(container[probe]['httpGet']['path'], '/health', probe);
    containerPort(container[probe]['httpGet']['port']);
  }
  const { flags } = parseFlags(container['args'] as string[], DEPLOY_FLAGS);
  const preStop = container['lifecycle']['preStop']['exec']['command'] as string[];
  assert.equal(preStop[0], 'sleep');
  const needed = Number(preStop[1]) + (flags['shutdown-timeout'] as number);
  assert.ok(pod['spec']['terminationGracePeriodSeconds'] > needed, `grace ${pod['spec']['terminationGracePeriodSeconds']} s > ${needed} s`);
});

test('the model cache is a claim that exists, mounted where the image keeps its cache', () => {
  const mount = (container['volumeMounts'] as { name: string; mountPath: string }[]).find((entry) => entry.mountPath === '/models');
  assert.ok(mount);
  const volume = (pod['spec']['volumes'] as Manifest[]).find((entry) => entry['name'] === mount.name);
  assert.equal(volume?.['persistentVolumeClaim']?.['claimName'], only('PersistentVolumeClaim')['metadata']['name']);
  for (const dockerfile of ['Dockerfile.cpu', 'Dockerfile.cuda']) {
    assert.match(readFileSync(join(dockerDir, dockerfile), 'utf8'), /SWIFTLET_CACHE=\/models\b/, dockerfile);
  }
});

test('the Service, the InferencePool and the route all reach the Deployment\'s pods', () => {
  assert.ok(selects(deployment['spec']['selector']['matchLabels']));
  const service = manifests.find((manifest) => manifest['kind'] === 'Service' && selects(manifest['spec']['selector'])) as Manifest;
  assert.ok(selects(service['spec']['selector']));
  containerPort(service['spec']['ports'][0]['targetPort']);
  const pool = only('InferencePool');
  assert.match(pool['apiVersion'], /^inference\.networking\.k8s\.io\//);
  assert.ok(selects(pool['spec']['selector']['matchLabels']));
  assert.equal(pool['spec']['targetPorts'][0]['number'], containerPort('http'));
  const backends = (only('HTTPRoute')['spec']['rules'] as Manifest[]).flatMap((rule) => rule['backendRefs'] as Manifest[]);
  assert.ok(backends.some((ref) => ref['kind'] === 'InferencePool' && ref['name'] === pool['metadata']['name'] && ref['group'] === 'inference.networking.k8s.io'));
});

/** Dockerfile instructions, continuation lines joined and comments dropped. */
function instructions(path: string): { keyword: string; rest: string }[] {
  return readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.trim().split(/\s+/);
      return { keyword: (keyword as string).toUpperCase(), rest: rest.join(' ') };
    });
}

/** The library names native/cuda/src/cuda_api.cc dlopens (the driver's libcuda comes from the node). */
function dlopenedLibraries(): string[] {
  const source = readFileSync(join(root, 'native', 'cuda', 'src', 'cuda_api.cc'), 'utf8');
  return [...new Set([...source.matchAll(/"(lib[\w]+\.so\.\d+)"/g)].map((match) => match[1] as string))];
}

test('Dockerfiles: sources that exist, a numeric non-root user, the deploy entrypoint on the exposed port', () => {
  for (const name of ['Dockerfile.cpu', 'Dockerfile.cuda']) {
    const lines = instructions(join(dockerDir, name));
    assert.equal(lines[0]?.keyword, 'ARG', `${name}: base images are build arguments`);
    for (const { keyword, rest } of lines) {
      if (keyword !== 'COPY' || rest.startsWith('--from')) continue;
      for (const source of rest.split(/\s+/).slice(0, -1)) assert.ok(existsSync(join(root, source)), `${name}: COPY ${source}`);
    }
    const user = lines.filter((line) => line.keyword === 'USER').at(-1)?.rest;
    assert.match(user ?? '', /^[1-9]\d*$/, `${name}: USER`);
    const entrypoint = JSON.parse(lines.find((line) => line.keyword === 'ENTRYPOINT')?.rest ?? 'null') as string[];
    assert.deepEqual(entrypoint.slice(0, 3), ['node', '/app/dist/src/cli/main.js', 'deploy']);
    assert.ok(existsSync(join(root, 'dist', 'src', 'cli', 'main.js')), 'the entrypoint is what tsc builds');
    const port = entrypoint[entrypoint.indexOf('--port') + 1];
    assert.equal(lines.find((line) => line.keyword === 'EXPOSE')?.rest, port);
    assert.equal(Number(port), containerPort('http'));
    assert.equal(lines.find((line) => line.keyword === 'STOPSIGNAL')?.rest, 'SIGTERM');
  }
});

test('the CUDA image checks for the libraries the addon dlopens; the CPU image has no CUDA', () => {
  const cuda = readFileSync(join(dockerDir, 'Dockerfile.cuda'), 'utf8');
  const libraries = dlopenedLibraries().filter((library) => library !== 'libcuda.so.1');
  assert.ok(libraries.includes('libnccl.so.2'));
  assert.ok(libraries.some((library) => library.startsWith('libcublasLt.so.')));
  const newest = libraries.filter((library) => library.startsWith('libcublasLt.so.')).sort().at(-1) as string;
  for (const library of [newest, 'libnccl.so.2']) assert.ok(cuda.includes(`ldconfig -p | grep -q '${library} '`), `Dockerfile.cuda checks ${library}`);
  assert.match(cuda, /make -C native\/cuda/);
  const cpu = readFileSync(join(dockerDir, 'Dockerfile.cpu'), 'utf8');
  assert.doesNotMatch(cpu, /nvidia\/cuda|libcublas|libnccl/);
});

/** A LeaderWorkerSet pod's args as Kubernetes passes them: $(VAR) replaced by what LWS sets for that pod. */
function lwsArgs(args: string[], env: Record<string, string>): string[] {
  return args.map((arg) => arg.replace(/\$\((\w+)\)/g, (whole, name: string) => env[name] ?? whole));
}

test('the LeaderWorkerSet\'s leader and worker are the ranks of one group, and the leader alone is served', () => {
  const lws = only('LeaderWorkerSet')['spec']['leaderWorkerTemplate'];
  const size = lws['size'] as number;
  const leaderAddress = 'swiftlet-tp-0.swiftlet-tp';
  const groupOf = (template: Manifest, index: number) => {
    const { flags, positionals } = parseFlags(lwsArgs(template['spec']['containers'][0]['args'], { LWS_WORKER_INDEX: String(index), LWS_LEADER_ADDRESS: leaderAddress }), DEPLOY_FLAGS);
    assert.deepEqual(positionals, []);
    return groupOptionsFrom(flags, modelOptionsFrom(flags).tensorParallelSize);
  };
  const leader = groupOf(lws['leaderTemplate'], 0);
  const worker = groupOf(lws['workerTemplate'], 1);
  assert.deepEqual({ ...leader, rank: 1 }, worker);
  assert.deepEqual([leader?.size, leader?.rank, leader?.masterAddr], [size, 0, leaderAddress]);
  const leaderLabels = lws['leaderTemplate']['metadata']['labels'] as Record<string, string>;
  const service = manifests.find((manifest) => manifest['kind'] === 'Service' && manifest['metadata']['name'] === 'swiftlet-tp') as Manifest;
  const selector = service['spec']['selector'] as Record<string, string>;
  assert.ok(Object.entries(selector).every(([key, value]) => leaderLabels[key] === value));
  assert.ok(Object.entries(selector).some(([key, value]) => lws['workerTemplate']['metadata']['labels'][key] !== value), 'the Service leaves the workers out');
});

/** The discovery a real API server gives for the kinds used here, and 404 for every object. */
function discoveryServer(): Server {
  const groups: Record<string, { kind: string; name: string }[]> = {
    v1: [{ kind: 'Service', name: 'services' }, { kind: 'PersistentVolumeClaim', name: 'persistentvolumeclaims' }],
    'apps/v1': [{ kind: 'Deployment', name: 'deployments' }],
    'gateway.networking.k8s.io/v1': [{ kind: 'HTTPRoute', name: 'httproutes' }],
    'inference.networking.k8s.io/v1': [{ kind: 'InferencePool', name: 'inferencepools' }],
    'leaderworkerset.x-k8s.io/v1': [{ kind: 'LeaderWorkerSet', name: 'leaderworkersets' }],
  };
  const resourceList = (groupVersion: string) => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: (groups[groupVersion] ?? []).map(({ kind, name }) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['create', 'get', 'list', 'patch'] })),
  });
  const named = Object.keys(groups).filter((groupVersion) => groupVersion.includes('/'));
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    let body: unknown;
    if (path === '/api') body = { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
    else if (path === '/apis') {
      body = {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: named.map((groupVersion) => {
          const [name, version] = groupVersion.split('/') as [string, string];
          return { name, versions: [{ groupVersion, version }], preferredVersion: { groupVersion, version } };
        }),
      };
    } else if (path === '/api/v1') body = resourceList('v1');
    else if (/^\/apis\/[^/]+\/[^/]+$/.test(path)) body = resourceList(path.slice('/apis/'.length));
    if (body === undefined) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

function hasKubectl(): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'kubectl')));
}

test('kubectl apply --dry-run=client --validate=false reads every manifest', { skip: hasKubectl() ? false : 'kubectl is not installed' }, async () => {
  const server = discoveryServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const { stdout } = await promisify(execFile)('kubectl', [
      `--server=http://127.0.0.1:${port}`, '--kubeconfig=/dev/null', 'apply', '--dry-run=client', '--validate=false', '-R', '-f', k8sDir,
    ]);
    const created = stdout.trim().split('\n');
    assert.equal(created.length, manifests.length, stdout);
    for (const line of created) assert.match(line, /created \(dry run\)$/);
  } finally {
    server.close();
  }
});
