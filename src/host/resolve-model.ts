/**
 * `--model` to a local checkpoint directory. It may name:
 *   - nothing: the bundled demo model (models/demo);
 *   - a local directory;
 *   - a model type (`swiftlet models`), e.g. `qwen2_5-0_5b-instruct`: its hub id, as below
 *     (its ModelScope id when `USE_HF` is set false);
 *   - a hub id `org/name` (optionally `org/name@revision`): downloaded into the cache.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelLoadError } from '../model/errors.js';
import { downloadModel, hubFromEnv, isHubId, type HubOptions } from '../model/hub/download.js';
import { demoModelDir, DEMO_MODEL_TYPE, findModelType, modelTypeOfHubId, type ModelType } from '../model/registry.js';

export interface ResolvedModel {
  dir: string;
  /** The registry's entry for it, when it is one of the named types. */
  modelType: ModelType | undefined;
  source: 'demo' | 'local' | 'hub';
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function splitRevision(id: string): { hubId: string; revision: string | undefined } {
  const at = id.indexOf('@');
  return at === -1 ? { hubId: id, revision: undefined } : { hubId: id.slice(0, at), revision: id.slice(at + 1) };
}

export async function resolveModel(model: string | undefined, hub: Partial<HubOptions> = {}): Promise<ResolvedModel> {
  if (model === undefined || model === '' || model === DEMO_MODEL_TYPE) {
    const dir = demoModelDir();
    if (!isDirectory(dir)) throw new ModelLoadError(`the bundled demo model is missing (${dir}); give --model`);
    return { dir, modelType: findModelType(DEMO_MODEL_TYPE), source: 'demo' };
  }
  if (isDirectory(model)) return { dir: resolve(model), modelType: undefined, source: 'local' };
  const named = findModelType(model);
  if (named?.unsupportedWeights !== undefined) {
    throw new ModelLoadError(`${named.name}: ${named.notes ?? `${named.unsupportedWeights} weights are not supported`}`);
  }
  // NOTE: a model type names a repository on each hub; ModelScope is used when USE_HF says so.
  const namedId = (hub.hub ?? hubFromEnv()) === 'modelscope' ? (named?.modelScopeId ?? named?.hubId) : named?.hubId;
  const { hubId, revision } = namedId ? { hubId: namedId, revision: undefined } : splitRevision(model);
  if (!isHubId(hubId)) {
    throw new ModelLoadError(
      `model not found: "${model}" is not a directory, a model type (see \`swiftlet models\`) or a hub id (org/name)`,
    );
  }
  const dir = await downloadModel(hubId, revision !== undefined ? { ...hub, revision } : hub);
  return { dir, modelType: named ?? modelTypeOfHubId(hubId), source: 'hub' };
}

export async function resolveModelDir(model: string | undefined, hub: Partial<HubOptions> = {}): Promise<string> {
  return (await resolveModel(model, hub)).dir;
}
