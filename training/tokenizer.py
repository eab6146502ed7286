"""Byte-level BPE tokenizer trained on the user's own unlabelled text.

Byte-level means no input is ever out of vocabulary (any UTF-8 text tokenizes), which is what
BLOOM's own tokenizer does; the special tokens and their ids follow BLOOM's layout so a model
built here loads and serves exactly like a `bigscience/bloom-*` checkpoint.

The tokenizer lowercases (after NFKC): letter case is the cheapest way for a model trained on
several datasets to tell them apart (reviews_mr is all lowercase and has no neutral class), and a
learned "lowercase means never neutral" shortcut flips predictions on a user's own text. The
normaliser is saved in tokenizer.json, so every engine that loads the model applies it.
"""

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]  # ids 0..3, as in BLOOM


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, lowercase: bool = True
) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    if lowercase:
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
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
