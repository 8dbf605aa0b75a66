#!/usr/bin/env python3
"""Create a tiny, deterministic, randomly initialised Llama model for tests.

The model is a real Hugging Face checkpoint (safetensors, bf16) with a byte-level BPE
tokenizer trained here on an embedded corpus, a chat template and a generation config, so
vLLM (offline ``vllm.LLM`` and the OpenAI-compatible server) loads it like any other model.
Nothing is downloaded.

Usage: python hack/make-tiny-model.py [--out DIR]

Default output: ``$DATAFOUNDRY_CACHE/models/tiny-llama-<hash>/`` where ``DATAFOUNDRY_CACHE``
defaults to ``~/.cache/datafoundry`` and ``<hash>`` is a short hash of this script's content,
so editing the script yields a new model directory. Building happens in a temporary directory
that is renamed into place once complete (a marker file is written last); an existing complete
directory is reused. The model directory is printed on stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import model_cache

SEED = 20240601
VOCAB_SIZE = 4096
HIDDEN_SIZE = 256
NUM_HEADS = 4
NUM_KV_HEADS = 4
NUM_LAYERS = 2
INTERMEDIATE_SIZE = 512
MAX_POSITIONS = 2048

BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL_TOKENS = [BOS, EOS, PAD, *ROLE_TOKENS]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# Small embedded corpus: prose about the project's domain, JSON and a little code, so the
# BPE learns merges for words, punctuation, digits and JSON syntax.
CORPUS_TEXT = """
Data Foundry is a Kubernetes operator that turns a declarative job into a training dataset.
Users apply a manifest with kubectl, and the operator generates, filters and publishes records.
The generator runs a language model with vLLM and writes parts to object storage in shards.
Filters remove duplicates, short answers, personal data and contaminated evaluation examples.
A controller reconciles the desired state with the observed state and reports conditions.
The status shows the phase, the progress, the number of accepted and rejected records.
Question: What is the capital of France? Answer: The capital of France is Paris.
Question: How many days are in a week? Answer: There are seven days in a week.
Question: Why is the sky blue? Answer: Sunlight is scattered by the molecules of the air.
Instruction: Summarize the following paragraph in one sentence.
Instruction: Translate the sentence into German. Response: Das ist ein kleiner Test.
Instruction: Write a short poem about the sea. Response: Waves of silver, wind and salt.
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 42 100 256 1024 2048 3.14 2.718 -1 1e-5.
Dates: 2024-01-01, 2025-12-31, 12:30:45, Monday, Tuesday, Wednesday, Thursday, Friday.
{"name": "alice", "age": 31, "tags": ["admin", "user"], "active": true, "score": 9.5}
{"question": "What is two plus two?", "answer": "Four.", "language": "en", "id": 7}
{"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
[1, 2, 3], {"a": null}, {"b": false}, {"c": [{"d": "e"}]}, "key": "value", "items": []
def reconcile(job: dict[str, object]) -> None:
    for shard in range(job["shards"]):
        print(f"shard {shard} of {job['name']} is ready")
class Record:
    text: str
    score: float
if x > 0 and y < 10 or not z: return x + y * z - 1 / 2 % 3
apiVersion: datafoundry.io/v1alpha1
kind: DataFoundryJob
metadata: {name: demo, namespace: default}
spec: {target: {records: 1000}, generator: {model: tiny, shards: 4}}
Bonjour le monde. Hola mundo. Hallo Welt. Ciao mondo. Olá mundo. Witaj świecie.
"""

WORDS_TEXT = (
    "the a an of to in and or is are was were be been has have had do does did not no yes "
    "data model record records dataset training generate generator filter filters publish "
    "operator kubernetes cluster node pod pods job jobs shard shards storage bucket object "
    "question answer instruction response user assistant system prompt token tokens text "
    "language english french german spanish domain task quality score judge duplicate "
    "quick brown fox lazy dog cat bird tree river mountain city country world people time "
    "year day week month hour minute second first last next new old good bad small large "
    "one two three four five six seven eight nine ten hundred thousand million number "
    "what why how when where which who whose whom this that these those there here then "
    "write read run start stop create delete update list watch apply patch get set make "
    "because however therefore although while during before after above below between "
    "json schema string integer boolean array null true false value key field type name"
)
WORDS = WORDS_TEXT.split()


def script_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def default_out() -> Path:
    cache = os.environ.get("DATAFOUNDRY_CACHE") or str(Path.home() / ".cache" / "datafoundry")
    return Path(cache).expanduser() / "models" / f"tiny-llama-{script_hash()}"


def corpus() -> list[str]:
    """Embedded text plus seeded synthetic sentences (enough distinct words for the merges)."""
    rng = random.Random(SEED)
    lines = [line for line in CORPUS_TEXT.splitlines() if line.strip()]
    # Pronounceable pseudo-words widen the vocabulary beyond the embedded word list.
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words = WORDS + ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(1500)]
    for _ in range(6000):
        n = rng.randint(4, 14)
        sentence = " ".join(rng.choice(words) for _ in range(n))
        lines.append(sentence.capitalize() + rng.choice([".", "?", "!", ",", ":"]))
        lines.append(
            f'{{"{rng.choice(words)}": {rng.randint(0, 9999)}, "{rng.choice(words)}": '
            f'"{rng.choice(words)} {rng.choice(words)}"}}'
        )
    return lines


def build_tokenizer(out: Path) -> dict[str, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    ids: dict[str, int] = {}
    for token in SPECIAL_TOKENS:
        token_id = tok.token_to_id(token)
        assert token_id is not None, token
        ids[token] = token_id
    # Prepend BOS for plain (non-chat) prompts; the chat template adds BOS itself and vLLM
    # renders chat prompts without special tokens.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, ids[BOS])]
    )
    tok.save(str(out / "tokenizer.json"))

    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": None,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MAX_POSITIONS,
        "padding_side": "left",
        "chat_template": CHAT_TEMPLATE,
        "additional_special_tokens": ROLE_TOKENS,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    special_map = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "additional_special_tokens": ROLE_TOKENS}
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")
    ids["vocab_size"] = tok.get_vocab_size(with_added_tokens=True)
    return ids


def build_model(out: Path, ids: dict[str, int]) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    vocab = ids["vocab_size"]
    vocab = (vocab + 63) // 64 * 64  # pad the embedding like real checkpoints do
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=INTERMEDIATE_SIZE,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(str(out), safe_serialization=True)
    GenerationConfig(bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD]).save_pretrained(str(out))
    # Newer transformers write the dtype as `dtype` only; keep `torch_dtype` for older readers.
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["torch_dtype"] = "bfloat16"
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def verify(out: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    cfg = AutoConfig.from_pretrained(str(out))
    assert len(tok) <= cfg.vocab_size, (len(tok), cfg.vocab_size)
    text = 'Hello world! {"a": 1}'
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert isinstance(chat, str), chat
    assert chat.endswith("<|assistant|>\n"), chat


def make(out: Path) -> Path:
    def build_into(tmp: Path) -> None:
        build_model(tmp, build_tokenizer(tmp))
        verify(tmp)

    return model_cache.build(out, build_into, {"script_sha256_12": script_hash(), "seed": SEED})


if __name__ == "__main__":
    raise SystemExit(model_cache.main(__doc__, default_out, make))
