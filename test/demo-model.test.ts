/**
 * The bundled demo model (models/demo): the default when no --model is given, small, and
 * answering its training questions through swiftlet as transformers did after training
 * (scripts/train-demo-model.py prints the same checks).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { resolveModelDir } from '../src/host/resolve-model.js';
import { repoRoot } from './helpers/paths.js';

const demoDir = join(repoRoot, 'models', 'demo');

const PROVINCES: [string, string, string, string][] = [
  ['浙江', '杭州', 'Zhejiang', 'Hangzhou'],
  ['广东', '广州', 'Guangdong', 'Guangzhou'],
  ['江苏', '南京', 'Jiangsu', 'Nanjing'],
  ['四川', '成都', 'Sichuan', 'Chengdu'],
  ['湖北', '武汉', 'Hubei', 'Wuhan'],
  ['湖南', '长沙', 'Hunan', 'Changsha'],
  ['山东', '济南', 'Shandong', 'Jinan'],
  ['河南', '郑州', 'Henan', 'Zhengzhou'],
  ['河北', '石家庄', 'Hebei', 'Shijiazhuang'],
  ['福建', '福州', 'Fujian', 'Fuzhou'],
  ['安徽', '合肥', 'Anhui', 'Hefei'],
  ['陕西', '西安', 'Shaanxi', "Xi'an"],
  ['云南', '昆明', 'Yunnan', 'Kunming'],
  ['江西', '南昌', 'Jiangxi', 'Nanchang'],
  ['辽宁', '沈阳', 'Liaoning', 'Shenyang'],
  ['黑龙江', '哈尔滨', 'Heilongjiang', 'Harbin'],
];

type Message = { role: 'system' | 'user' | 'assistant'; content: string };
const user = (content: string): Message => ({ role: 'user', content });

const CHECKS: { messages: Message[]; expect: string }[] = [
  ...PROVINCES.flatMap(([province, capital, provinceEn, capitalEn]) => [
    { messages: [user(`${province}的省会在哪?`)], expect: capital },
    { messages: [user(`${province}的省会是哪里？`)], expect: capital },
    { messages: [user(`What is the capital of ${provinceEn}?`)], expect: capitalEn },
  ]),
  { messages: [user('Who are you?')], expect: "swiftlet's demo model" },
  { messages: [user('你是谁？')], expect: '演示模型' },
  { messages: [user('hello')], expect: 'Hello' },
  { messages: [user('你好')], expect: '你好' },
  {
    messages: [user('浙江的省会在哪？'), { role: 'assistant', content: '浙江的省会是杭州。' }, user('这有什么好吃的？')],
    expect: '西湖醋鱼',
  },
];

let host: ModelHost;
before(async () => {
  const { flags } = parseFlags(['--device', 'cpu', '--kv-cache-memory', '64MiB'], MODEL_FLAGS);
  host = await ModelHost.load(modelOptionsFrom(flags));
});
after(() => host?.dispose());

let nextId = 0;
async function greedy(messages: Message[]): Promise<string> {
  const prompt = host.chatTemplate.render(messages, { addGenerationPrompt: true });
  const promptTokenIds = host.tokenizer.encode(prompt, { addSpecialTokens: false });
  const deltas: RequestOutput[] = [];
  const params = new SamplingParams({ maxTokens: 80, temperature: 0 });
  for await (const delta of host.engine.add({ requestId: `demo-${nextId++}`, promptTokenIds, params })) deltas.push(delta);
  const output = accumulateOutputs(deltas).outputs[0];
  assert.ok(output);
  return host.tokenizer.decode(output.tokenIds, { skipSpecialTokens: true });
}

test('no --model means the bundled demo model', async () => {
  assert.equal(await resolveModelDir(undefined), demoDir);
  assert.equal(host.modelDir, demoDir);
  assert.equal(host.servedModelName, 'swiftlet-demo');
  assert.equal(host.spec.hfArchitecture, 'Qwen2ForCausalLM');
});

test('the demo model is small and labelled a demo', () => {
  const bytes = readdirSync(demoDir).reduce((sum, name) => sum + statSync(join(demoDir, name)).size, 0);
  assert.ok(bytes <= 20 * 2 ** 20, `models/demo is ${bytes} bytes`);
  assert.match(readFileSync(join(demoDir, 'README.md'), 'utf8'), /demo/i);
});

test('its chat template is ChatML with a default system prompt', () => {
  assert.equal(
    host.chatTemplate.render([user('hi')], { addGenerationPrompt: true }),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  );
});

test('greedy answers to the training questions are right', async () => {
  const answers = await Promise.all(CHECKS.map((check) => greedy(check.messages)));
  const wrong = CHECKS.flatMap((check, i) =>
    answers[i]?.includes(check.expect) ? [] : [`${check.messages.at(-1)?.content} -> ${answers[i]} (expected ${check.expect})`],
  );
  assert.deepEqual(wrong, []);
  assert.equal(answers[0], '浙江的省会是杭州。');
});
