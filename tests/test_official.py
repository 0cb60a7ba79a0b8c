"""Official checkpoints: their state-dict names, shapes and arch YAML mapped onto ours."""

from __future__ import annotations

import pytest
import torch
from tiny_data import tiny_config

from trm.errors import TrmError
from trm.loading import load_official
from trm.model import TinyRecursiveModel
from trm.official import arch_to_model_config, map_name

torch.set_num_threads(1)

P = "_orig_mod.model.inner."


def official_state(model: TinyRecursiveModel) -> dict[str, torch.Tensor]:
    """Our weights under their key names (as the official compiled model saves them)."""
    ours_to_theirs = {
        "token_embedding": "embed_tokens.embedding_weight",
        "puzzle_embedding": "puzzle_emb.weights",
        "output_head.weight": "lm_head.weight", "halt_head.weight": "q_head.weight",
        "halt_head.bias": "q_head.bias", "y_init": "H_init", "z_init": "L_init",
    }  # fmt: skip
    out = {}
    for k, v in model.state_dict().items():
        if k in ours_to_theirs:
            name = ours_to_theirs[k]
        else:
            name = (
                k.replace("net.blocks.", "L_level.layers.")
                .replace("attention.qkv", "self_attn.qkv_proj")
                .replace("attention.out", "self_attn.o_proj")
                .replace("token_mlp.", "mlp_t.")
                .replace("gate_up.", "gate_up_proj.")
                .replace("down.", "down_proj.")
            )
        out[P + name] = v.to(torch.bfloat16) if name in ("H_init", "L_init") else v.clone()
    out[P + "rotary_emb.cos_cached"] = torch.zeros(3)
    return out


ARCH = """name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
loss:
  name: losses@ACTLossHead
  loss_type: stablemax_cross_entropy
halt_exploration_prob: 0.1
halt_max_steps: 3
H_cycles: 2
L_cycles: 2
H_layers: 0
L_layers: 2
hidden_size: 32
num_heads: 2
expansion: 2
puzzle_emb_ndim: ${.hidden_size}
pos_encodings: {pos}
forward_dtype: bfloat16
mlp_t: {mlp_t}
puzzle_emb_len: 2
no_ACT_continue: true
"""


def test_names_map():
    assert (
        map_name(P + "L_level.layers.1.self_attn.qkv_proj.weight")
        == "net.blocks.1.attention.qkv.weight"
    )
    assert (
        map_name(P + "L_level.layers.0.mlp_t.gate_up_proj.weight")
        == "net.blocks.0.token_mlp.gate_up.weight"
    )
    assert map_name(P + "q_head.bias") == "halt_head.bias"
    assert map_name(P + "puzzle_emb.local_weights") is None
    with pytest.raises(TrmError, match="unknown tensor"):
        map_name(P + "H_level.layers.0.foo")


def test_arch_keys():
    cfg = arch_to_model_config(
        {
            "hidden_size": 64,
            "H_cycles": 3,
            "L_cycles": 6,
            "mlp_t": True,
            "pos_encodings": "none",
            "halt_max_steps": 16,
            "rms_norm_eps": 1e-5,
        }
    )
    assert (cfg.dim, cfg.recursions, cfg.latent_steps, cfg.mixer, cfg.pos_encoding) == (
        64,
        3,
        6,
        "mlp",
        "none",
    )
    with pytest.raises(TrmError, match="unknown key"):
        arch_to_model_config({"hiden_size": 3})


@pytest.mark.parametrize("mlp_t", [False, True])
def test_official_checkpoint_loads_and_matches(tmp_path, mlp_t):
    torch.manual_seed(0)
    cfg = tiny_config(
        recursions=2,
        latent_steps=2,
        puzzle_emb_dim=32,
        puzzle_emb_len=2,
        num_puzzle_identifiers=3,
        max_supervision_steps=3,
        mixer="mlp" if mlp_t else "attention",
        pos_encoding="none" if mlp_t else "rope",
    )
    ours = TinyRecursiveModel(cfg).eval()
    with torch.no_grad():
        ours.puzzle_embedding.normal_()
        ours.y_init.copy_(ours.y_init.to(torch.bfloat16).float())
        ours.z_init.copy_(ours.z_init.to(torch.bfloat16).float())
    torch.save(official_state(ours), tmp_path / "step_100")
    arch = tmp_path / "trm.yaml"
    arch.write_text(
        ARCH.replace("{pos}", "none" if mlp_t else "rope").replace("{mlp_t}", str(mlp_t).lower())
    )
    loaded, tcfg = load_official(tmp_path / "step_100", arch, "sudoku")
    assert (
        tcfg.model.seq_len == 81
        and tcfg.model.num_puzzle_identifiers == 3
        and tcfg.kind == "sudoku"
    )
    x = torch.randint(1, 11, (2, 81))
    ids = torch.tensor([1, 2])
    y, z = ours.initial_state(2)
    a = ours(x, ours.puzzle_rows(ids), y, z)
    b = loaded(x, loaded.puzzle_rows(ids), *loaded.initial_state(2))
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.q_halt, b.q_halt)


def test_official_errors(tmp_path):
    arch = tmp_path / "trm.yaml"
    arch.write_text(ARCH.replace("{pos}", "rope").replace("{mlp_t}", "false"))
    with pytest.raises(TrmError, match="no such checkpoint"):
        load_official(tmp_path / "missing", arch, "sudoku")
    (tmp_path / "bad").write_bytes(b"not a checkpoint")
    with pytest.raises(TrmError, match="corrupted"):
        load_official(tmp_path / "bad", arch, "sudoku")
    torch.manual_seed(0)
    cfg = tiny_config(
        recursions=3,
        latent_steps=6,
        puzzle_emb_dim=32,
        puzzle_emb_len=2,
        max_supervision_steps=16,
        num_layers=1,
    )
    torch.save(official_state(TinyRecursiveModel(cfg)), tmp_path / "one_layer")
    with pytest.raises(TrmError, match="missing tensors"):
        load_official(tmp_path / "one_layer", arch, "sudoku")


def test_hugging_face_repo_loads_from_the_local_cache(tmp_path, monkeypatch):
    """`trm.load("owner/name")` imports an official checkpoint from the hub cache, offline."""
    import trm

    torch.manual_seed(0)
    cfg = tiny_config(recursions=2, latent_steps=2, puzzle_emb_dim=32, puzzle_emb_len=2)
    ours = TinyRecursiveModel(cfg).eval()
    # The hub cache layout: models--owner--name/{refs/main, snapshots/<commit>/<files>}.
    repo = tmp_path / "hub" / "models--someone--trm-sudoku"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    torch.save(official_state(ours), snap / "step_100")
    arch = ARCH.replace("{pos}", "rope").replace("{mlp_t}", "false")
    (snap / "all_config.yaml").write_text(
        "arch:\n" + "".join(f"  {line}\n" for line in arch.splitlines())
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    solver = trm.load("someone/trm-sudoku", device="cpu")
    assert solver.kind == "sudoku" and solver.model.cfg.seq_len == 81
    assert torch.equal(solver.model.token_embedding, ours.token_embedding)
    with pytest.raises(TrmError, match="cannot reach huggingface.co"):
        trm.load("someone/not-cached", device="cpu")
