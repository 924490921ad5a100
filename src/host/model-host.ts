/**
 * One loaded model ready to serve: spec, tokenizer, chat template and its ServingEngine
 * (runner, engine, LoRA adapters, requests in flight). Every command that loads a model
 * (run-batch, deploy, infer, app-ui, bench) builds one from the same ModelOptions, so the
 * flags mean the same everywhere.
 */
import { ChatTemplate } from '../chat/template.js';
import { builtinTemplateForTokenizer, isBuiltinTemplateName, type BuiltinTemplateName } from '../chat/builtin.js';
import { chatInputBuilder } from '../chat/chat-input.js';
import { chatStopTokenIds } from '../chat/stop-tokens.js';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { IncrementalDetokenizer } from '../engine/detokenizer.js';
import { vocabularyFromTokenizerJson } from '../engine/structured/vocabulary.js';
import type { LLMEngine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/engine-tokenizer.js';
import { loadModelSpec } from '../model/config.js';
import { poolingModeOf, type PoolingMode } from '../model/pooling-config.js';
import { ModelLoadError } from '../model/errors.js';
import { loadSamplingDefaults, type SamplingDefaults } from '../model/generation-config.js';
import type { ModelSpec } from '../model/spec.js';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.js';
import { OffloadedEncoder } from './offloaded-encoder.js';
import type { PromptContext } from '../protocol/prepare.js';
import { KV_BLOCK_SIZE, type ModelRunner } from '../runtime/types.js';
import type { AdapterEntry, AdapterRegistry } from './adapters.js';
import type { ModelOptions } from './model-options.js';
import { ReplicaSet, type ReplicaAdapters } from './replicas/replica-set.js';
import { resolveModel } from './resolve-model.js';
import type { Serving } from './serving.js';
import { ServingEngine } from './serving-engine.js';


export type Logger = (message: string) => void;

/** Structured outputs compile against tokenizer.json's vocabulary (read on the first constrained request). */
export function engineTokenizer(tokenizer: Tokenizer, modelDir: string): EngineTokenizer {
  const tokenizerJson = join(modelDir, 'tokenizer.json');
  return {
    decode: (ids, options) => tokenizer.decode(ids, options),
    createDetokenizer: (promptIds, skipSpecialTokens) => new IncrementalDetokenizer(tokenizer, promptIds, skipSpecialTokens),
    grammarVocabulary: (numLogits, stopTokenIds) =>
      existsSync(tokenizerJson) ? vocabularyFromTokenizerJson(JSON.parse(readFileSync(tokenizerJson, 'utf8')) as Record<string, unknown>, numLogits, stopTokenIds) : null,
    stopTokenIds: chatStopTokenIds(tokenizer),
  };
}

async function loadChatTemplate(
  dir: string,
  tokenizer: Tokenizer,
  choice: string | undefined,
  fallback: BuiltinTemplateName = builtinTemplateForTokenizer(tokenizer.config.tokenizer_class),
): Promise<ChatTemplate> {
  if (choice !== undefined) {
    if (isBuiltinTemplateName(choice)) return ChatTemplate.builtin(choice, tokenizer);
    return new ChatTemplate(new Map([['default', readFileSync(choice, 'utf8')]]), tokenizer, choice);
  }
  // NOTE: base models often ship no template: the registry's for a named type, else the
  // tokenizer family's (Qwen v1's code builds ChatML with a default system prompt), else ChatML,
  // which most chat fine-tunes use.
  return (await ChatTemplate.fromDir(dir, tokenizer)) ?? ChatTemplate.builtin(fallback, tokenizer);
}

function describeServing(serving: Serving, options: ModelOptions): string {
  if (serving instanceof ReplicaSet) return `as ${serving.describe()}`;
  const { runner } = serving;
  const parallel = options.tensorParallelSize > 1 ? ` (${options.tensorParallelSize} ${options.group !== undefined ? 'processes' : 'GPUs'})` : '';
  return `on ${runner.device}${parallel}; ` +
    `KV cache: ${runner.numKvBlocks} blocks of ${KV_BLOCK_SIZE} tokens (${runner.numKvBlocks * KV_BLOCK_SIZE} tokens)`;
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
    /** Where every request on this model is submitted, tracked and aborted: one engine here, or replicas. */
    readonly serving: Serving,
    readonly maxModelLen: number,
    readonly samplingDefaults: SamplingDefaults,
    /** How embeddings pool the prompt's final hidden states. */
    readonly pooling: PoolingMode,
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
    const serving = (options.dataParallelSize ?? 1) > 1
      ? await ReplicaSet.start(options, log)
      : await ServingEngine.start({ modelDir }, engineTokenizer(tokenizer, modelDir), options);
    const maxModelLen = serving instanceof ServingEngine ? serving.engine.config.maxModelLen : serving.maxModelLen;
    log(`loaded ${spec.hfArchitecture} from ${modelDir} in ${((performance.now() - started) / 1000).toFixed(1)} s ${describeServing(serving, options)}; max context ${maxModelLen}`);
    const host = new ModelHost(
      modelDir,
      options.servedModelName ?? options.model ?? (source === 'demo' && modelType ? modelType.name : basename(modelDir)),
      spec,
      tokenizer,
      chatTemplate,
      serving,
      maxModelLen,
      options.useGenerationConfig ? loadSamplingDefaults(modelDir) : {},
      poolingModeOf(modelDir, options.pooling),
    );
    // NOTE: replicas load the adapters themselves (each into its own slots).
    for (const { name, path } of options.loraModules) {
      if (serving instanceof ServingEngine) serving.adapters.load(name, path);
      log(`loaded LoRA adapter '${name}' from ${path}`);
    }
    return host;
  }

  /** The engine in this process; a host with replicas has none here (their engines live in child processes). */
  localServing(): ServingEngine {
    if (!(this.serving instanceof ServingEngine)) throw new Error('this host serves through data-parallel replicas: it has no engine in this process');
    return this.serving;
  }

  get runner(): ModelRunner {
    return this.localServing().runner;
  }

  /** For tests and bench; requests go through `serving`, which tracks them (an adapter's unload aborts them). */
  get engine(): LLMEngine {
    return this.localServing().engine;
  }

  get adapters(): AdapterRegistry | ReplicaAdapters {
    return this.serving.adapters;
  }

  promptContext(): PromptContext {
    return {
      tokenizer: this.tokenizer,
      encode: this.encoder.encode,
      chatTemplate: this.chatTemplate,
      chatInput: chatInputBuilder(this.tokenizer),
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
