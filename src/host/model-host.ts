/**
 * One loaded model ready to serve: spec, tokenizer, chat template and its ServingEngine
 * (runner, engine, LoRA adapters, requests in flight). Every command that loads a model
 * (run-batch, deploy, infer, app-ui, bench) builds one from the same ModelOptions, so the
 * flags mean the same everywhere.
 */
import { ChatTemplate } from '../chat/template.js';
import { isBuiltinTemplateName, type BuiltinTemplateName } from '../chat/builtin.js';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { IncrementalDetokenizer } from '../engine/detokenizer.js';
import type { LLMEngine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/engine-tokenizer.js';
import { loadModelSpec } from '../model/config.js';
import { ModelLoadError } from '../model/errors.js';
import { loadSamplingDefaults, type SamplingDefaults } from '../model/generation-config.js';
import type { ModelSpec } from '../model/spec.js';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.js';
import { OffloadedEncoder } from './offloaded-encoder.js';
import type { PromptContext } from '../protocol/prepare.js';
import { KV_BLOCK_SIZE, type ModelRunner } from '../runtime/types.js';
import type { AdapterEntry, AdapterRegistry } from './adapters.js';
import type { ModelOptions } from './model-options.js';
import { resolveModel } from './resolve-model.js';
import { ServingEngine } from './serving-engine.js';


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
  /** Prompt text to ids off the event loop when it is long. */
  private readonly encoder: OffloadedEncoder;

  private constructor(
    readonly modelDir: string,
    readonly servedModelName: string,
    readonly spec: ModelSpec,
    readonly tokenizer: Tokenizer,
    readonly chatTemplate: ChatTemplate,
    /** Where every request on this model is submitted, tracked and aborted. */
    readonly serving: ServingEngine,
    readonly maxModelLen: number,
    readonly samplingDefaults: SamplingDefaults,
  ) {
    this.encoder = new OffloadedEncoder(tokenizer, modelDir);
  }

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
    const serving = await ServingEngine.start({ modelDir }, engineTokenizer(tokenizer), options);
    const { runner, engine } = serving;
    const kvCapacity = runner.numKvBlocks * KV_BLOCK_SIZE;
    const maxModelLen = engine.config.maxModelLen;
    log(
      `loaded ${spec.hfArchitecture} from ${modelDir} on ${runner.device}${options.tensorParallelSize > 1 ? ` (${options.tensorParallelSize} GPUs)` : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `KV cache: ${runner.numKvBlocks} blocks of ${KV_BLOCK_SIZE} tokens (${kvCapacity} tokens); max context ${maxModelLen}`,
    );
    const host = new ModelHost(
      modelDir,
      options.servedModelName ?? options.model ?? (source === 'demo' && modelType ? modelType.name : basename(modelDir)),
      spec,
      tokenizer,
      chatTemplate,
      serving,
      maxModelLen,
      options.useGenerationConfig ? loadSamplingDefaults(modelDir) : {},
    );
    for (const { name, path } of options.loraModules) {
      serving.adapters.load(name, path);
      log(`loaded LoRA adapter '${name}' from ${path}`);
    }
    return host;
  }

  get runner(): ModelRunner {
    return this.serving.runner;
  }

  /** For stats; requests go through `serving`, which tracks them (an adapter's unload aborts them). */
  get engine(): LLMEngine {
    return this.serving.engine;
  }

  get adapters(): AdapterRegistry {
    return this.serving.adapters;
  }

  promptContext(): PromptContext {
    return {
      tokenizer: this.tokenizer,
      encode: this.encoder.encode,
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

  /** Aborts every request in flight, waits for the engine to settle, frees the model. */
  close(): Promise<void> {
    return this.serving.close();
  }

  /** Frees the model at once (after the server or batch has settled its requests). */
  dispose(): void {
    this.encoder.dispose();
    this.serving.dispose();
  }
}
