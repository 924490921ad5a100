/**
 * One loaded model ready to serve: spec, tokenizer, chat template, runner, engine and its
 * LoRA adapters. Every command that loads a model (run-batch, deploy, infer, app-ui, bench)
 * builds one from the same ModelOptions, so the flags mean the same everywhere.
 */
import { ChatTemplate } from '../chat/template.js';
import { isBuiltinTemplateName, type BuiltinTemplateName } from '../chat/builtin.js';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { IncrementalDetokenizer } from '../engine/detokenizer.js';
import { LLMEngine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/engine-tokenizer.js';
import { loadModelSpec } from '../model/config.js';
import { ModelLoadError } from '../model/errors.js';
import { loadSamplingDefaults, type SamplingDefaults } from '../model/generation-config.js';
import type { ModelSpec } from '../model/spec.js';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.js';
import type { PromptContext } from '../protocol/prepare.js';
import { createRunner } from '../runtime/create-runner.js';
import { KV_BLOCK_SIZE, type ModelRunner } from '../runtime/types.js';
import { engineFor, runnerChoiceOf } from './engine-setup.js';
import { AdapterRegistry, type AdapterEntry } from './adapters.js';
import type { ModelOptions } from './model-options.js';
import { resolveModel } from './resolve-model.js';


export type Logger = (message: string) => void;

function engineTokenizer(tokenizer: Tokenizer): EngineTokenizer {
  return {
    decode: (ids, options) => tokenizer.decode(ids, options),
    createDetokenizer: (promptIds, skipSpecialTokens) => new IncrementalDetokenizer(tokenizer, promptIds, skipSpecialTokens),
  };
}

async function loadChatTemplate(
  dir: string,
  tokenizer: Tokenizer,
  choice: string | undefined,
  fallback: BuiltinTemplateName = 'chatml',
): Promise<ChatTemplate> {
  if (choice !== undefined) {
    if (isBuiltinTemplateName(choice)) return ChatTemplate.builtin(choice, tokenizer);
    return new ChatTemplate(new Map([['default', readFileSync(choice, 'utf8')]]), tokenizer, choice);
  }
  // NOTE: base models often ship no template: the registry's for a named type, else ChatML,
  // which most chat fine-tunes use.
  return (await ChatTemplate.fromDir(dir, tokenizer)) ?? ChatTemplate.builtin(fallback, tokenizer);
}

export class ModelHost {
  private constructor(
    readonly modelDir: string,
    readonly servedModelName: string,
    readonly spec: ModelSpec,
    readonly tokenizer: Tokenizer,
    readonly chatTemplate: ChatTemplate,
    readonly runner: ModelRunner,
    readonly engine: LLMEngine,
    readonly adapters: AdapterRegistry,
    readonly maxModelLen: number,
    readonly samplingDefaults: SamplingDefaults,
  ) {}

  static async load(options: ModelOptions, log: Logger = () => {}): Promise<ModelHost> {
    const { dir: modelDir, modelType, source } = await resolveModel(options.model, options.hub === undefined ? {} : { hub: options.hub });
    const spec = loadModelSpec(modelDir);
    if (options.maxModelLen !== undefined && options.maxModelLen > spec.maxPositionEmbeddings) {
      throw new ModelLoadError(
        `--max-model-len ${options.maxModelLen} exceeds the model's max_position_embeddings (${spec.maxPositionEmbeddings})`,
      );
    }
    const tokenizer = await loadTokenizer(modelDir);
    const chatTemplate = await loadChatTemplate(modelDir, tokenizer, options.chatTemplate, modelType?.template);
    const started = performance.now();
    const runner = await createRunner({ modelDir, ...runnerChoiceOf(options) });
    const kvCapacity = runner.numKvBlocks * KV_BLOCK_SIZE;
    const engine = engineFor(runner, engineTokenizer(tokenizer), options);
    const maxModelLen = engine.config.maxModelLen;
    log(
      `loaded ${spec.hfArchitecture} from ${modelDir} on ${runner.device}${options.tensorParallelSize > 1 ? ` (${options.tensorParallelSize} GPUs)` : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `KV cache: ${runner.numKvBlocks} blocks of ${KV_BLOCK_SIZE} tokens (${kvCapacity} tokens); max context ${maxModelLen}`,
    );
    const adapters = new AdapterRegistry(runner, options.maxLoraRank);
    const host = new ModelHost(
      modelDir,
      options.servedModelName ?? options.model ?? (source === 'demo' && modelType ? modelType.name : basename(modelDir)),
      spec,
      tokenizer,
      chatTemplate,
      runner,
      engine,
      adapters,
      maxModelLen,
      options.useGenerationConfig ? loadSamplingDefaults(modelDir) : {},
    );
    for (const { name, path } of options.loraModules) {
      adapters.load(name, path);
      log(`loaded LoRA adapter '${name}' from ${path}`);
    }
    return host;
  }

  promptContext(): PromptContext {
    return {
      tokenizer: this.tokenizer,
      chatTemplate: this.chatTemplate,
      maxModelLen: this.maxModelLen,
      modelVocabSize: this.spec.vocabSize,
      samplingDefaults: this.samplingDefaults,
    };
  }

  /** The adapter a request's `model` names; null for the base model; undefined when unknown. */
  resolveModel(name: string | null | undefined): AdapterEntry | null | undefined {
    if (name === undefined || name === null || name === '' || name === this.servedModelName) return null;
    return this.adapters.get(name);
  }

  dispose(): void {
    this.runner.dispose();
  }
}
