"""Load checkpoints written by the official TRM code: their names and shapes onto ours.

The official checkpoint is a ``torch.save``'d state dict of the compiled ACT wrapper, so every
key carries ``_orig_mod.model.inner.`` (see the names table in STYLE.md). Its architecture
lives in a separate YAML (``config/arch/trm.yaml`` style) whose keys map onto ``ModelConfig``.
Vocabulary, puzzle-identifier count and sequence length are read from tensor shapes (and the
puzzle kind), as our own loader fills them from the dataset.
"""

from __future__ import annotations

import math
import re

import torch

from trm.errors import TrmError
from trm.model import ModelConfig
from trm.puzzles import KINDS, kind_of_vocab

PREFIXES = ("_orig_mod.", "model.", "inner.")

# their name (after the prefixes) -> ours; {i} is a block index
_NAMES = {
    "embed_tokens.embedding_weight": "token_embedding",
    "puzzle_emb.weights": "puzzle_embedding",
    "embed_pos.embedding_weight": "position_embedding",
    "lm_head.weight": "output_head.weight",
    "q_head.weight": "halt_head.weight",
    "q_head.bias": "halt_head.bias",
    "H_init": "y_init",
    "L_init": "z_init",
    "L_level.layers.{i}.self_attn.qkv_proj.weight": "net.blocks.{i}.attention.qkv.weight",
    "L_level.layers.{i}.self_attn.o_proj.weight": "net.blocks.{i}.attention.out.weight",
    "L_level.layers.{i}.mlp_t.gate_up_proj.weight": "net.blocks.{i}.token_mlp.gate_up.weight",
    "L_level.layers.{i}.mlp_t.down_proj.weight": "net.blocks.{i}.token_mlp.down.weight",
    "L_level.layers.{i}.mlp.gate_up_proj.weight": "net.blocks.{i}.mlp.gate_up.weight",
    "L_level.layers.{i}.mlp.down_proj.weight": "net.blocks.{i}.mlp.down.weight",
}
_PATTERNS = [
    (re.compile("^" + re.escape(k).replace(r"\{i\}", r"(\d+)") + "$"), v) for k, v in _NAMES.items()
]
# Non-persistent or training-only tensors of theirs that we rebuild or do not need.
_SKIP = re.compile(r"^(rotary_emb\.|puzzle_emb\.local_)")

# their arch YAML key -> ModelConfig field (values converted below)
ARCH_KEYS = {
    "hidden_size": "dim",
    "num_heads": "num_heads",
    "expansion": "expansion",
    "L_layers": "num_layers",
    "H_cycles": "recursions",
    "L_cycles": "latent_steps",
    "mlp_t": "mixer",
    "pos_encodings": "pos_encoding",
    "puzzle_emb_ndim": "puzzle_emb_dim",
    "puzzle_emb_len": "puzzle_emb_len",
    "halt_max_steps": "max_supervision_steps",
    "rope_theta": "rope_theta",
    "rms_norm_eps": "norm_eps",
}
IGNORED_ARCH_KEYS = {
    "name",
    "loss",
    "H_layers",
    "forward_dtype",
    "no_ACT_continue",
    "batch_size",
    "seq_len",
    "vocab_size",
    "num_puzzle_identifiers",
    "causal",
    "halt_exploration_prob",  # a training setting (TrainConfig), not part of the model
}


def strip_prefix(key: str) -> str:
    """``_orig_mod.model.inner.lm_head.weight`` -> ``lm_head.weight``."""
    for p in PREFIXES:
        key = key.removeprefix(p)
    return key


def map_name(key: str) -> str | None:
    """Our state-dict name for one of theirs; None for tensors we skip; raises if unknown."""
    k = strip_prefix(key)
    if _SKIP.match(k):
        return None
    for pattern, ours in _PATTERNS:
        m = pattern.match(k)
        if m:
            return ours.replace("{i}", m.group(1)) if m.groups() else ours
    raise TrmError(f"official checkpoint: unknown tensor {key!r}")


def arch_to_model_config(arch: dict) -> ModelConfig:
    """Their arch keys onto a ModelConfig (data-derived fields left at 0)."""
    cfg = ModelConfig()
    for key, value in arch.items():
        if key in IGNORED_ARCH_KEYS:
            continue
        if key not in ARCH_KEYS:
            raise TrmError(f"official arch config: unknown key {key!r}")
        field = ARCH_KEYS[key]
        if key == "mlp_t":
            value = "mlp" if value else "attention"
        elif key == "pos_encodings":
            value = value if value in ("rope", "learned") else "none"
        elif field in (
            "dim",
            "num_heads",
            "num_layers",
            "recursions",
            "latent_steps",
            "puzzle_emb_dim",
            "puzzle_emb_len",
            "max_supervision_steps",
        ):
            value = int(value)
        else:
            value = float(value)
        setattr(cfg, field, value)
    return cfg


def convert_state_dict(
    theirs: dict[str, torch.Tensor], cfg: ModelConfig, kind: str = ""
) -> dict[str, torch.Tensor]:
    """Rename their tensors to ours (float32) and fill vocabulary, ids and length into ``cfg``."""
    ours = {}
    for key, value in theirs.items():
        name = map_name(key)
        if name is not None:
            ours[name] = value.detach().to(torch.float32)
    if "token_embedding" not in ours:
        raise TrmError("official checkpoint: no token embedding (embed_tokens.embedding_weight)")
    cfg.vocab_size, cfg.dim = ours["token_embedding"].shape
    if "puzzle_embedding" in ours:
        cfg.num_puzzle_identifiers, cfg.puzzle_emb_dim = ours["puzzle_embedding"].shape
    else:
        cfg.puzzle_emb_dim = 0
    if cfg.puzzle_emb_dim and cfg.puzzle_emb_len == 0:
        cfg.puzzle_emb_len = math.ceil(cfg.puzzle_emb_dim / cfg.dim)
    token_mlp = ours.get("net.blocks.0.token_mlp.down.weight")
    if token_mlp is not None:
        cfg.seq_len = token_mlp.shape[0] - cfg.prefix_len
    elif (kind or kind_of_vocab(cfg.vocab_size)) in KINDS:  # the vocabulary names the kind
        cfg.seq_len = KINDS[kind or kind_of_vocab(cfg.vocab_size)].SEQ_LEN
    else:
        raise TrmError("official checkpoint: the sequence length is unknown; name the puzzle kind")
    return ours
