"""Byte-level BPE tokenizer trained on the user's own unlabelled text.

Byte-level means no input is ever out of vocabulary (any UTF-8 text tokenizes), which is what
BLOOM's own tokenizer does; the special tokens and their ids follow BLOOM's layout so a model
built here loads and serves exactly like a `bigscience/bloom-*` checkpoint.

Three kinds (`TokenizerKind`); the normaliser and pre-tokenizer are saved in tokenizer.json, so
every engine that loads the model applies them:

- `lowercase` (the default, for the English bases) lowercases after NFKC: letter case is the
  cheapest way for a model trained on several datasets to tell them apart (reviews_mr is all
  lowercase and has no neutral class), and a learned "lowercase means never neutral" shortcut
  flips predictions on a user's own text.
- `multilingual` keeps case (NFKC only): lowercasing destroys information in other languages
  (German marks every noun with a capital: "Sie" vs "sie", "Essen" vs "essen"). CJK ideographs,
  kana and hangul are split off one character each before the byte-level step: Chinese has no
  spaces, so without it a whole clause would be one pre-token and BPE would spend the vocabulary
  on arbitrary clause fragments. Isolated, each frequent character becomes one token (its three
  UTF-8 bytes merged) and a rare one stays as bytes.
- `cased` applies no normaliser at all: the raw bytes, as a foreign checkpoint's tokenizer would.
"""

from collections.abc import Iterable
from enum import StrEnum

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]  # ids 0..3, as in BLOOM


class TokenizerKind(StrEnum):
    LOWERCASE = "lowercase"
    MULTILINGUAL = "multilingual"
    CASED = "cased"


# One pre-token per character of these scripts: CJK ideographs (unified, extension A, compatibility,
# extensions B and on), hiragana, katakana (and its phonetic extension), hangul jamo and syllables.
_CJK_RANGES = (
    ("\u3400", "\u4dbf"),
    ("\u4e00", "\u9fff"),
    ("\uf900", "\ufaff"),
    ("\U00020000", "\U0003134f"),
    ("\u3040", "\u30ff"),
    ("\u31f0", "\u31ff"),
    ("\u1100", "\u11ff"),
    ("\u3130", "\u318f"),
    ("\uac00", "\ud7af"),
)
CJK_CHARACTER = "[" + "".join(f"{low}-{high}" for low, high in _CJK_RANGES) + "]"


def _pipeline(tokenizer: Tokenizer, kind: TokenizerKind) -> None:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if kind == TokenizerKind.LOWERCASE:
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    elif kind == TokenizerKind.MULTILINGUAL:
        tokenizer.normalizer = normalizers.NFKC()
    if kind == TokenizerKind.MULTILINGUAL:
        isolate_cjk = pre_tokenizers.Split(Regex(CJK_CHARACTER), behavior="isolated")
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([isolate_cjk, byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, kind: TokenizerKind = TokenizerKind.LOWERCASE
) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    _pipeline(tokenizer, TokenizerKind(kind))
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="right",
    )
