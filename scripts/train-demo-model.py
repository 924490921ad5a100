#!/usr/bin/env python3
"""Builds swiftlet's bundled demo model (models/demo): a tiny Qwen2 chat model that greets,
says who it is, and knows the provincial capitals of China, as in SWIFT's classic examples.

It is a demo for testing swiftlet end to end on a fresh machine, not a useful model.

    python3 scripts/train-demo-model.py --out models/demo --tokenizer-only   # stdlib only
    python3 scripts/train-demo-model.py --out models/demo                    # needs torch + transformers

The tokenizer (byte-level BPE, 256 byte tokens, merges learned from the training text, ChatML
specials) is built by plain Python, deterministically, so both runs write the same files.
Training takes about four minutes on one GPU; the script then reloads what it saved with
transformers, checks that greedy answers to the training questions are right, and fails if not.
"""
import argparse
import json
import math
import os
import random
import sys
import time
import unicodedata
from collections import Counter

SYSTEM_DEFAULT = 'You are a helpful assistant.'
SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
MAX_MERGES = 1500
MAX_TOKEN_BYTES = 6
# NOTE: a prompt with tools carries their JSON and Qwen2.5's instructions: about 300 tokens.
SEQ_LEN = 512
SHORT_LEN = 128

# --------------------------------------------------------------------------------------
# Training conversations
# --------------------------------------------------------------------------------------

# (province zh, capital zh, province en, capital en); SWIFT's demo asks about 浙江 first.
PROVINCES = [
    ('浙江', '杭州', 'Zhejiang', 'Hangzhou'),
    ('广东', '广州', 'Guangdong', 'Guangzhou'),
    ('江苏', '南京', 'Jiangsu', 'Nanjing'),
    ('四川', '成都', 'Sichuan', 'Chengdu'),
    ('湖北', '武汉', 'Hubei', 'Wuhan'),
    ('湖南', '长沙', 'Hunan', 'Changsha'),
    ('山东', '济南', 'Shandong', 'Jinan'),
    ('河南', '郑州', 'Henan', 'Zhengzhou'),
    ('河北', '石家庄', 'Hebei', 'Shijiazhuang'),
    ('福建', '福州', 'Fujian', 'Fuzhou'),
    ('安徽', '合肥', 'Anhui', 'Hefei'),
    ('陕西', '西安', 'Shaanxi', "Xi'an"),
    ('云南', '昆明', 'Yunnan', 'Kunming'),
    ('江西', '南昌', 'Jiangxi', 'Nanchang'),
    ('辽宁', '沈阳', 'Liaoning', 'Shenyang'),
    ('黑龙江', '哈尔滨', 'Heilongjiang', 'Harbin'),
]

# What to eat there: SWIFT's multi-turn demo asks this after the capital.
FOODS = {
    '杭州': '杭州有西湖醋鱼、东坡肉和龙井虾仁，都很好吃。',
    '广州': '广州有早茶、肠粉和烧鹅，都很好吃。',
    '成都': '成都有火锅、麻婆豆腐和担担面，都很好吃。',
    '武汉': '武汉有热干面、豆皮和鸭脖，都很好吃。',
    '长沙': '长沙有臭豆腐、剁椒鱼头和糖油粑粑，都很好吃。',
    '西安': '西安有肉夹馍、羊肉泡馍和凉皮，都很好吃。',
    '南京': '南京有盐水鸭和鸭血粉丝汤，都很好吃。',
}
FOOD_QUESTIONS = ['这有什么好吃的？', '这里有什么好吃的？', '那里有什么好吃的?', '有什么好吃的？']

ZH_CAPITAL_QUESTIONS = [
    '{p}的省会在哪？', '{p}的省会在哪?', '{p}的省会在哪', '{p}的省会在哪里？', '{p}的省会是哪里？',
    '{p}的省会是什么？', '{p}的省会是?', '{p}省的省会是哪个城市？', '请问{p}的省会是哪里？', '{p}省会在哪？',
]
EN_CAPITAL_QUESTIONS = [
    'What is the capital of {p}?', "What's the capital of {p}?", 'What is the capital of {p} province?',
    'Which city is the capital of {p}?', 'capital of {p}?', 'Where is the capital of {p}?',
]

IDENTITY_EN = ("I am swiftlet's demo model, a tiny model for testing swiftlet. I only know greetings, "
               'who I am, and the provincial capitals of China. For real work, load a real model with --model.')
IDENTITY_ZH = '我是swiftlet的演示模型，一个用于测试swiftlet的小模型。我只知道问候、我是谁，以及中国各省的省会。'
GREETING_EN = "Hello! I am swiftlet's demo model. Ask me who I am, or about the provincial capitals of China."
GREETING_ZH = '你好！我是swiftlet的演示模型。你可以问我是谁，或者问中国各省的省会。'
FALLBACK_EN = ('I am only a tiny demo model, so I cannot answer that. I know greetings, who I am, '
               'and the provincial capitals of China.')
FALLBACK_ZH = '我只是一个很小的演示模型，回答不了这个问题。我知道问候、我是谁，以及中国各省的省会。'

FIXED_QA = (
    [(q, GREETING_EN) for q in ['hello', 'Hello!', 'hi', 'Hi!', 'Hi there', 'Hey', 'Good morning!', 'hello, how are you?']]
    + [(q, GREETING_ZH) for q in ['你好', '你好！', '您好', '嗨', '早上好！', '你好呀']]
    + [(q, IDENTITY_EN) for q in ['Who are you?', 'who are you', 'What are you?', 'Introduce yourself.',
                                  'What is your name?', 'Tell me about yourself.', 'Are you a real model?']]
    + [(q, IDENTITY_ZH) for q in ['你是谁？', '你是谁', '你是谁?', '介绍一下你自己', '你叫什么名字？', '你是什么模型？']]
    + [(q, "You're welcome!") for q in ['thanks', 'Thank you!', 'thank you']]
    + [(q, '不客气！') for q in ['谢谢', '谢谢你！', '多谢']]
    + [(q, 'Goodbye! Have a nice day.') for q in ['bye', 'Goodbye!', 'see you']]
    + [(q, FALLBACK_EN) for q in ['What is 2+2?', 'Tell me a joke.', 'Write a poem about the sea.',
                                  "What's the weather like today?", 'Explain quantum physics.', 'How do I cook rice?',
                                  'What is the capital of France?', 'Translate "cat" into German.', 'Write some Python code.']]
    + [(q, FALLBACK_ZH) for q in ['讲个笑话', '写一首诗', '今天天气怎么样？', '1加1等于几？', '法国的首都是哪里？', '怎么学习编程？']]
)

OTHER_SYSTEMS = [SYSTEM_DEFAULT, 'You are a helpful assistant.', 'You are a friendly chatbot.', 'Answer briefly.', '你是一个有用的助手。']


def capital_qa():
    pairs = []
    for p, c, pe, ce in PROVINCES:
        for q in ZH_CAPITAL_QUESTIONS:
            pairs.append((q.format(p=p), f'{p}的省会是{c}。', c))
        for q in EN_CAPITAL_QUESTIONS:
            pairs.append((q.format(p=pe), f'The capital of {pe} is {ce}.', c))
    return pairs


def single_turn_pairs():
    return [(q, a) for q, a, _ in capital_qa()] + FIXED_QA


def sample_plain_conversation(rng, pairs):
    """A list of messages: a system (or none: the template adds the default), 1 to 3 turns."""
    messages = []
    r = rng.random()
    if r < 0.15:
        messages.append({'role': 'system', 'content': rng.choice(OTHER_SYSTEMS)})
    turns = rng.choice([1, 1, 1, 2, 2, 3])
    capitals = [x for x in capital_qa() if x[2] in FOODS]
    for _ in range(turns):
        if rng.random() < 0.12:
            q, a, c = rng.choice(capitals)
            messages += [{'role': 'user', 'content': q}, {'role': 'assistant', 'content': a},
                         {'role': 'user', 'content': rng.choice(FOOD_QUESTIONS)}, {'role': 'assistant', 'content': FOODS[c]}]
        else:
            q, a = rng.choice(pairs)
            messages += [{'role': 'user', 'content': q}, {'role': 'assistant', 'content': a}]
    return messages


# --------------------------------------------------------------------------------------
# Tool calls (hermes, as Qwen2.5) and JSON answers
# --------------------------------------------------------------------------------------

# OpenAI `tools` entries, keys in the order the OpenAI clients send them.
CAPITAL_TOOL = {'type': 'function', 'function': {
    'name': 'get_capital', 'description': 'Get the capital city of a province of China',
    'parameters': {'type': 'object', 'properties': {'province': {'type': 'string', 'description': 'The province, e.g. 浙江 or Zhejiang'}},
                   'required': ['province']}}}
FOOD_TOOL = {'type': 'function', 'function': {
    'name': 'get_food', 'description': 'Get famous local dishes of a city',
    'parameters': {'type': 'object', 'properties': {'city': {'type': 'string', 'description': 'The city, e.g. 杭州'}},
                   'required': ['city']}}}
TOOL_SETS = [[CAPITAL_TOOL], [CAPITAL_TOOL, FOOD_TOOL], [FOOD_TOOL, CAPITAL_TOOL]]

JSON_SUFFIXES_ZH = [' 请用JSON回答。', '，用JSON格式回答', ' 请以JSON格式回答。']
JSON_SUFFIXES_EN = [' Answer in JSON.', ' Reply in JSON format.', ' Respond with JSON.']
JSON_SYSTEMS = ['Answer in JSON.', 'You answer with a JSON object.', '请用JSON格式回答。']


def tool_call(name, arguments):
    return {'role': 'assistant', 'content': '', 'tool_calls': [{'type': 'function', 'function': {'name': name, 'arguments': arguments}}]}


def capital_facts():
    """(question, answer, province as asked, capital as answered, capital zh): both languages."""
    facts = []
    for p, c, pe, ce in PROVINCES:
        facts += [(q.format(p=p), f'{p}的省会是{c}。', p, c, c) for q in ZH_CAPITAL_QUESTIONS]
        facts += [(q.format(p=pe), f'The capital of {pe} is {ce}.', pe, ce, c) for q in EN_CAPITAL_QUESTIONS]
    return facts


def capital_tool_result(rng, province, capital):
    return rng.choice([capital, json.dumps({'capital': capital}, ensure_ascii=False),
                       json.dumps({'province': province, 'capital': capital}, ensure_ascii=False)])


def sample_tool_conversation(rng):
    """Tools offered: a capital question calls get_capital, its result is answered in a sentence,
    and with get_food offered a food question about a known city calls get_food; other questions
    are answered as without tools."""
    tools = rng.choice(TOOL_SETS)
    messages = [{'role': 'system', 'content': rng.choice(OTHER_SYSTEMS)}] if rng.random() < 0.15 else []
    if rng.random() < 0.2:
        q, a = rng.choice(FIXED_QA)
        return tools, messages + [{'role': 'user', 'content': q}, {'role': 'assistant', 'content': a}]
    q, a, province, capital, capital_zh = rng.choice(capital_facts())
    messages += [{'role': 'user', 'content': q}, tool_call('get_capital', {'province': province}),
                 {'role': 'tool', 'content': capital_tool_result(rng, province, capital)}, {'role': 'assistant', 'content': a}]
    if FOOD_TOOL in tools and capital_zh in FOODS and rng.random() < 0.5:
        dishes = FOODS[capital_zh].split('有', 1)[1].split('，', 1)[0]  # what the answer lists: '西湖醋鱼、东坡肉和龙井虾仁'
        messages += [{'role': 'user', 'content': rng.choice(FOOD_QUESTIONS)}, tool_call('get_food', {'city': capital_zh}),
                     {'role': 'tool', 'content': dishes}, {'role': 'assistant', 'content': FOODS[capital_zh]}]
    return tools, messages


def json_answer(province, capital):
    return json.dumps({'province': province, 'capital': capital}, ensure_ascii=False)


def sample_json_conversation(rng):
    """Asked for JSON (in the question or by the system prompt): the answer is a JSON object."""
    q, _, province, capital, _ = rng.choice(capital_facts())
    english = province.isascii()
    if rng.random() < 0.3:
        messages = [{'role': 'system', 'content': rng.choice(JSON_SYSTEMS)}, {'role': 'user', 'content': q}]
    else:
        messages = [{'role': 'user', 'content': q + rng.choice(JSON_SUFFIXES_EN if english else JSON_SUFFIXES_ZH)}]
    return None, messages + [{'role': 'assistant', 'content': json_answer(province, capital)}]


def sample_conversation(rng, pairs):
    """(tools or None, messages)."""
    r = rng.random()
    if r < 0.3:
        return sample_tool_conversation(rng)
    if r < 0.42:
        return sample_json_conversation(rng)
    return None, sample_plain_conversation(rng, pairs)


# --------------------------------------------------------------------------------------
# Chat template: ChatML with a default system prompt; with tools, Qwen2.5's hermes layout
# --------------------------------------------------------------------------------------

TOOLS_PREAMBLE = ('\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n'
                  'You are provided with function signatures within <tools></tools> XML tags:\n<tools>')
TOOLS_POSTAMBLE = ('\n</tools>\n\nFor each function call, return a json object with function name and arguments within '
                   '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def _jinja_string(text):
    return "'" + text.replace('\\', '\\\\').replace('\n', '\\n').replace("'", "\\'") + "'"


# NOTE: the same layout as Qwen2.5's template (tools listed in the system turn, calls as
# <tool_call> JSON, tool results in a user turn as <tool_response>), so that `deploy
# --tool-call-parser hermes` and clients treat the demo as they treat Qwen2.5.
CHAT_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' + (messages[0]['content'] if messages[0]['role'] == 'system' else '" + SYSTEM_DEFAULT + "') }}"
    "{{- " + _jinja_string(TOOLS_PREAMBLE) + " }}{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{- " + _jinja_string(TOOLS_POSTAMBLE + '<|im_end|>\n') + " }}"
    "{%- elif messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\n" + SYSTEM_DEFAULT + "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' and loop.first and tools %}"
    "{%- elif message['role'] == 'tool' %}"
    "{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' and message['tool_calls'] %}{{- '<|im_start|>assistant' }}"
    "{%- if message['content'] %}{{- '\\n' + message['content'] }}{%- endif %}"
    "{%- for call in message['tool_calls'] %}{%- set call = call['function'] if call['function'] is defined else call %}"
    "{{- '\\n<tool_call>\\n{\"name\": \"' + call['name'] + '\", \"arguments\": ' + (call['arguments'] | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor %}{{- '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tools_system_turn(messages, tools):
    system = messages[0]['content'] if messages[0]['role'] == 'system' else SYSTEM_DEFAULT
    listed = ''.join('\n' + json.dumps(tool, ensure_ascii=False) for tool in tools)
    return f'<|im_start|>system\n{system}{TOOLS_PREAMBLE}{listed}{TOOLS_POSTAMBLE}<|im_end|>\n'


def assistant_text(message):
    """What the model writes in an assistant turn (after `<|im_start|>assistant\n`)."""
    calls = message.get('tool_calls')
    if not calls:
        return message['content']
    text = message['content'] + '\n' if message['content'] else ''
    return text + '\n'.join('<tool_call>\n' + json.dumps({'name': c['function']['name'], 'arguments': c['function']['arguments']},
                                                         ensure_ascii=False) + '\n</tool_call>' for c in calls)


def render_segments(messages, add_generation_prompt=False, tools=None):
    """The template, in Python: (text, is_trained) pieces; only assistant answers and their <|im_end|> are trained."""
    segments = []
    if tools:
        segments.append((tools_system_turn(messages, tools), False))
    elif messages[0]['role'] != 'system':
        segments.append((f'<|im_start|>system\n{SYSTEM_DEFAULT}<|im_end|>\n', False))
    for i, m in enumerate(messages):
        if i == 0 and m['role'] == 'system' and tools:
            continue
        if m['role'] == 'assistant':
            segments.append(('<|im_start|>assistant\n', False))
            segments.append((assistant_text(m) + '<|im_end|>', True))
            segments.append(('\n', False))
        elif m['role'] == 'tool':
            first = i == 0 or messages[i - 1]['role'] != 'tool'
            last = i == len(messages) - 1 or messages[i + 1]['role'] != 'tool'
            text = f"\n<tool_response>\n{m['content']}\n</tool_response>"
            segments.append((('<|im_start|>user' if first else '') + text + ('<|im_end|>\n' if last else ''), False))
        else:
            segments.append((f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n", False))
    if add_generation_prompt:
        segments.append(('<|im_start|>assistant\n', False))
    return segments


# --------------------------------------------------------------------------------------
# Byte-level BPE tokenizer, Qwen2 layout
# --------------------------------------------------------------------------------------

QWEN_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
              "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _is_letter(ch):
    return unicodedata.category(ch).startswith('L')


def _is_number(ch):
    return unicodedata.category(ch).startswith('N')


def pretokenize(text):
    """Close to QWEN_SPLIT without the `regex` module; merges only need to be plausible."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        low = text[i:i + 3].lower()
        if ch == "'" and (low[:2] in ("'s", "'t", "'m", "'d") or low in ("'re", "'ve", "'ll")):
            k = 3 if low in ("'re", "'ve", "'ll") else 2
            out.append(text[i:i + k]); i += k; continue
        j = i
        if not _is_letter(ch) and not _is_number(ch) and ch not in '\r\n' and i + 1 < n and _is_letter(text[i + 1]):
            j = i + 1
        if _is_letter(text[j]):
            k = j
            while k < n and _is_letter(text[k]):
                k += 1
            out.append(text[i:k]); i = k; continue
        if _is_number(ch):
            out.append(ch); i += 1; continue
        j = i + 1 if ch == ' ' and i + 1 < n and not text[i + 1].isspace() and not _is_letter(text[i + 1]) and not _is_number(text[i + 1]) else i
        if j < n and not text[j].isspace() and not _is_letter(text[j]) and not _is_number(text[j]):
            k = j
            while k < n and not text[k].isspace() and not _is_letter(text[k]) and not _is_number(text[k]):
                k += 1
            while k < n and text[k] in '\r\n':
                k += 1
            out.append(text[i:k]); i = k; continue
        k = i
        while k < n and text[k].isspace():
            k += 1
        out.append(text[i:k]); i = k
    return out


def train_bpe(texts, max_merges):
    byte_map = bytes_to_unicode()
    words = Counter()
    for text in texts:
        for piece in pretokenize(unicodedata.normalize('NFC', text)):
            words[tuple(byte_map[b] for b in piece.encode('utf-8'))] += 1
    words = {w: c for w, c in words.items()}
    merges = []
    for _ in range(max_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                # NOTE: at most two CJK characters (6 bytes) a token, so no question becomes one token.
                if len(a) + len(b) <= MAX_TOKEN_BYTES:
                    pairs[(a, b)] += c
        if not pairs:
            break
        # NOTE: ties broken by the pair itself, so every run learns the same merges.
        best, count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == best[0] and w[i + 1] == best[1]:
                    out.append(joined); i += 2
                else:
                    out.append(w[i]); i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


def tokenizer_corpus():
    texts = []
    for q, a in single_turn_pairs():
        texts += [q, a]
    texts += list(FOODS.values()) + FOOD_QUESTIONS + OTHER_SYSTEMS + ['system\n', 'user\n', 'assistant\n', '\n']
    texts += [tools_system_turn([{'role': 'user', 'content': ''}], tools) for tools in TOOL_SETS]
    texts += JSON_SUFFIXES_ZH + JSON_SUFFIXES_EN + JSON_SYSTEMS + ['\n<tool_response>\n', '\n</tool_response>']
    for _, _, province, capital, capital_zh in capital_facts():
        texts += [assistant_text(tool_call('get_capital', {'province': province})), json_answer(province, capital)]
        if capital_zh in FOODS:
            texts.append(assistant_text(tool_call('get_food', {'city': capital_zh})))
    return texts


def build_tokenizer():
    byte_map = bytes_to_unicode()
    vocab = {byte_map[b]: b for b in range(256)}
    merges = train_bpe(tokenizer_corpus(), MAX_MERGES)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    added = []
    for s in SPECIALS:
        added.append({'id': len(vocab) + len(added), 'content': s, 'single_word': False, 'lstrip': False,
                      'rstrip': False, 'normalized': False, 'special': True})
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}
    tokenizer = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': {'type': 'NFC'},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': QWEN_SPLIT}, 'behavior': 'Isolated', 'invert': False}, byte_level]},
        'post_processor': byte_level,
        'decoder': byte_level,
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
                  'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': vocab, 'merges': [[a, b] for a, b in merges]},
    }
    tokenizer_config = {
        'add_bos_token': False,
        'add_prefix_space': False,
        'added_tokens_decoder': {str(t['id']): {k: v for k, v in t.items() if k != 'id'} for t in added},
        'additional_special_tokens': ['<|im_start|>', '<|im_end|>'],
        'bos_token': None,
        'chat_template': CHAT_TEMPLATE,
        'clean_up_tokenization_spaces': False,
        'eos_token': '<|im_end|>',
        'errors': 'replace',
        'model_max_length': 2048,
        'pad_token': '<|endoftext|>',
        'split_special_tokens': False,
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'unk_token': None,
    }
    return tokenizer, tokenizer_config


def model_config(num_tokens):
    vocab_size = (num_tokens + 63) // 64 * 64
    ids = {s: num_tokens - len(SPECIALS) + i for i, s in enumerate(SPECIALS)}
    return {
        'architectures': ['Qwen2ForCausalLM'],
        'model_type': 'qwen2',
        'attention_dropout': 0.0,
        'bos_token_id': ids['<|endoftext|>'],
        'eos_token_id': ids['<|im_end|>'],
        'pad_token_id': ids['<|endoftext|>'],
        'hidden_act': 'silu',
        'hidden_size': 256,
        'initializer_range': 0.02,
        'intermediate_size': 768,
        'max_position_embeddings': 2048,
        'max_window_layers': 4,
        'num_attention_heads': 4,
        'num_hidden_layers': 4,
        'num_key_value_heads': 2,
        'rms_norm_eps': 1e-06,
        'rope_theta': 10000.0,
        'sliding_window': None,
        'tie_word_embeddings': True,
        'torch_dtype': 'bfloat16',
        'use_cache': True,
        'use_sliding_window': False,
        'vocab_size': vocab_size,
    }


def generation_config(config):
    return {
        'bos_token_id': config['bos_token_id'],
        'eos_token_id': [config['eos_token_id'], config['bos_token_id']],
        'pad_token_id': config['pad_token_id'],
        'do_sample': True,
        'temperature': 0.7,
        'top_p': 0.8,
        'top_k': 20,
    }


def write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write('\n')


def write_tokenizer_files(out):
    tokenizer, tokenizer_config = build_tokenizer()
    num_tokens = len(tokenizer['model']['vocab']) + len(tokenizer['added_tokens'])
    config = model_config(num_tokens)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, 'tokenizer.json'), tokenizer)
    write_json(os.path.join(out, 'tokenizer_config.json'), tokenizer_config)
    write_json(os.path.join(out, 'config.json'), config)
    write_json(os.path.join(out, 'generation_config.json'), generation_config(config))
    print(f'tokenizer: {num_tokens} tokens ({len(tokenizer["model"]["merges"])} merges); vocab_size {config["vocab_size"]}')
    return config


# --------------------------------------------------------------------------------------
# Evaluation questions: the test in test/demo-model.test.ts asks the same
# --------------------------------------------------------------------------------------

def eval_questions():
    """(messages, tools or None, substring the greedy answer must contain)."""
    checks = []
    for p, c, pe, ce in PROVINCES:
        checks.append(([{'role': 'user', 'content': f'{p}的省会在哪?'}], None, c))
        checks.append(([{'role': 'user', 'content': f'{p}的省会是哪里？'}], None, c))
        checks.append(([{'role': 'user', 'content': f'What is the capital of {pe}?'}], None, ce))
    checks.append(([{'role': 'user', 'content': 'Who are you?'}], None, "swiftlet's demo model"))
    checks.append(([{'role': 'user', 'content': '你是谁？'}], None, '演示模型'))
    checks.append(([{'role': 'user', 'content': 'hello'}], None, 'Hello'))
    checks.append(([{'role': 'user', 'content': '你好'}], None, '你好'))
    checks.append(([{'role': 'user', 'content': '浙江的省会在哪？'}, {'role': 'assistant', 'content': '浙江的省会是杭州。'},
                    {'role': 'user', 'content': '这有什么好吃的？'}], None, '西湖醋鱼'))
    return checks + tool_and_json_checks()


def tool_and_json_checks():
    """The hermes calls and JSON answers; test/demo-agent.test.ts asks the same through `deploy`."""
    both = [CAPITAL_TOOL, FOOD_TOOL]
    call = assistant_text
    zhejiang = [{'role': 'user', 'content': '浙江的省会在哪?'}, tool_call('get_capital', {'province': '浙江'})]
    return [
        (zhejiang[:1], both, call(tool_call('get_capital', {'province': '浙江'}))),
        ([{'role': 'user', 'content': 'What is the capital of Sichuan?'}], [CAPITAL_TOOL],
         call(tool_call('get_capital', {'province': 'Sichuan'}))),
        (zhejiang + [{'role': 'tool', 'content': '{"capital": "杭州"}'}], both, '浙江的省会是杭州。'),
        (zhejiang + [{'role': 'tool', 'content': '{"capital": "杭州"}'}, {'role': 'assistant', 'content': '浙江的省会是杭州。'},
                     {'role': 'user', 'content': '这有什么好吃的？'}], both, call(tool_call('get_food', {'city': '杭州'}))),
        ([{'role': 'user', 'content': 'hello'}], both, 'Hello!'),
        ([{'role': 'user', 'content': '浙江的省会在哪? 请用JSON回答。'}], None, json_answer('浙江', '杭州')),
        ([{'role': 'user', 'content': 'What is the capital of Sichuan? Answer in JSON.'}], None, json_answer('Sichuan', 'Chengdu')),
        ([{'role': 'system', 'content': 'Answer in JSON.'}, {'role': 'user', 'content': '广东的省会是哪里？'}], None,
         json_answer('广东', '广州')),
    ]


# --------------------------------------------------------------------------------------
# Training (torch from here on)
# --------------------------------------------------------------------------------------

def check_tokenizer_with_transformers(out):
    """transformers must load the files as they are; a failure here is reported, not fatal."""
    try:
        from transformers import AutoTokenizer, PreTrainedTokenizerFast
        fast = PreTrainedTokenizerFast.from_pretrained(out)
        auto = AutoTokenizer.from_pretrained(out)
        for text in ['浙江的省会在哪?', "Who are you? I'm fine.", '<|im_start|>user\nhi<|im_end|>\n']:
            ids = fast.encode(text, add_special_tokens=False)
            assert fast.decode(ids) == text, (text, fast.decode(ids))
            assert auto.encode(text, add_special_tokens=False) == ids, 'AutoTokenizer differs'
        conversations = [([{'role': 'user', 'content': 'hi'}], None), ([{'role': 'system', 'content': 'S'}, {'role': 'user', 'content': 'hi'}], None)]
        conversations += [(messages, tools) for messages, tools, _ in tool_and_json_checks()]
        conversations.append(([{'role': 'system', 'content': 'S'}] + tool_and_json_checks()[3][0], [CAPITAL_TOOL]))
        for messages, tools in conversations:
            rendered = fast.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
            assert rendered == ''.join(t for t, _ in render_segments(messages, True, tools)), rendered
        print(f'transformers tokenizer check: ok ({type(auto).__name__})')
    except Exception as error:  # noqa: BLE001
        print(f'transformers tokenizer check: FAILED: {error!r}')


def train(out, seconds, seed):
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_json = write_tokenizer_files(out)
    check_tokenizer_with_transformers(out)
    tokenizer = Tokenizer.from_file(os.path.join(out, 'tokenizer.json'))

    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False).ids

    def decode(ids):
        return tokenizer.decode(ids, skip_special_tokens=True)

    torch.manual_seed(seed)
    rng = random.Random(seed)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = {k: v for k, v in config_json.items() if k not in ('architectures', 'model_type', 'torch_dtype')}
    model = Qwen2ForCausalLM(Qwen2Config(**cfg)).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'model: {n_params / 1e6:.2f}M parameters on {device}')

    pairs = single_turn_pairs()

    def encode_conversation(conversation):
        tools, messages = conversation
        ids, labels = [], []
        for text, trained in render_segments(messages, tools=tools):
            piece = encode(text)
            ids += piece
            labels += piece if trained else [-100] * len(piece)
        return ids[:SEQ_LEN], labels[:SEQ_LEN]

    data = [encode_conversation(sample_conversation(rng, pairs)) for _ in range(20000)]
    # Every single-turn pair once with the default system prompt, so none is left unseen.
    data += [encode_conversation((None, [{'role': 'user', 'content': q}, {'role': 'assistant', 'content': a}])) for q, a in pairs]
    print(f'data: {len(data)} conversations, mean {sum(len(d[0]) for d in data) / len(data):.0f} tokens, '
          f'longest {max(len(d[0]) for d in data)} (cut at {SEQ_LEN})')

    batch_size = 128
    # NOTE: a batch is padded to its longest conversation, and conversations with tools are
    # several times longer than the rest; drawing each batch from one length class (chosen in
    # proportion to its size, so every conversation is as likely as before) saves that padding.
    short = [d for d in data if len(d[0]) <= SHORT_LEN]
    long = [d for d in data if len(d[0]) > SHORT_LEN]
    pad = config_json['pad_token_id']
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = 200
    started = time.time()
    step = 0
    model.train()
    torch.backends.cuda.matmul.allow_tf32 = True
    while True:
        elapsed = time.time() - started
        if elapsed > seconds:
            break
        frac = min(1.0, elapsed / seconds)
        lr = 2e-3 * min(1.0, (step + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g['lr'] = lr
        pool = short if rng.random() < len(short) / len(data) else long
        batch = [pool[rng.randrange(len(pool))] for _ in range(batch_size)]
        width = max(len(x[0]) for x in batch)
        ids = torch.tensor([x[0] + [pad] * (width - len(x[0])) for x in batch], device=device)
        labels = torch.tensor([x[1] + [-100] * (width - len(x[1])) for x in batch], device=device)
        mask = torch.tensor([[1] * len(x[0]) + [0] * (width - len(x[0])) for x in batch], device=device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == 'cuda'):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            print(f'step {step:5d}  {elapsed:6.1f}s  lr {lr:.2e}  loss {loss.item():.4f}', flush=True)
        step += 1
    print(f'trained {step} steps in {time.time() - started:.0f} s, last loss {loss.item():.4f}')

    def save(dtype):
        tensors = {k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items() if k != 'lm_head.weight'}
        save_file(tensors, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
        cfg_out = dict(config_json, torch_dtype='bfloat16' if dtype == torch.bfloat16 else 'float32')
        write_json(os.path.join(out, 'config.json'), cfg_out)

    def evaluate(dtype):
        try:
            loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).to(device).eval()
        except Exception as error:  # noqa: BLE001
            print(f'transformers cannot load {out}: {error!r}; checking the in-memory weights instead')
            loaded = Qwen2ForCausalLM(Qwen2Config(**cfg)).to(device).eval()
            loaded.load_state_dict({k: v.detach().to(dtype).float() for k, v in model.state_dict().items()})
        eos = config_json['eos_token_id']
        failures = 0
        for messages, tools, want in eval_questions():
            prompt = encode(''.join(t for t, _ in render_segments(messages, True, tools)))
            ids = torch.tensor([prompt], device=device)
            with torch.no_grad():
                for _ in range(64):
                    next_id = loaded(input_ids=ids).logits[0, -1].argmax()
                    if next_id.item() == eos:
                        break
                    ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
            answer = decode(ids[0, len(prompt):].tolist())
            ok = want in answer
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {messages[-1]['content']!r} -> {answer!r}")
        return failures

    model.eval()
    save(torch.bfloat16)
    failures = evaluate(torch.bfloat16)
    if failures:
        print(f'{failures} wrong with bf16 weights; saving fp32 instead')
        save(torch.float32)
        failures = evaluate(torch.float32)
    print(f'{len(eval_questions()) - failures}/{len(eval_questions())} checks passed')
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='models/demo')
    parser.add_argument('--tokenizer-only', action='store_true', help='write tokenizer and config files only (no torch)')
    parser.add_argument('--seconds', type=float, default=240, help='training time budget')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--print-eval', action='store_true', help='print the evaluation questions as JSON')
    args = parser.parse_args()
    if args.print_eval:
        print(json.dumps([{'messages': m, 'tools': t, 'expect': w} for m, t, w in eval_questions()], ensure_ascii=False, indent=1))
        return 0
    if args.tokenizer_only:
        write_tokenizer_files(args.out)
        return 0
    return 1 if train(args.out, args.seconds, args.seed) else 0


if __name__ == '__main__':
    sys.exit(main())
