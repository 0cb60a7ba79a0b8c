"""torch.compile on the CPU: the training step GPU users compile, kept tested in CI.

The compiled graph once corrupted the heap in forward + backward (``free(): invalid size``):
inductor's CPU code for the scatter-add backward of ``table[tokens]`` fed by the network. The
model now looks tokens up with a one-hot product (``trm.model.token_lookup``), whose backward
is a matrix product; this test compiles a small model's training step and checks it against
eager in bf16, as ``precision=auto`` trains on a CPU with bf16 matrix units.
"""

from __future__ import annotations

import pytest
import torch

from trm.batch import Batch
from trm.config import TrainConfig
from trm.model import ModelConfig
from trm.runtime import setup_runtime
from trm.training import init_state, train_step


def _losses(compile_: bool, mixer: str) -> list[float]:
    torch.manual_seed(0)
    model = ModelConfig(
        dim=32, num_heads=2, expansion=2, recursions=2, latent_steps=1, mixer=mixer,
        pos_encoding="rope" if mixer == "attention" else "none", vocab_size=11, seq_len=16,
        puzzle_emb_dim=32, num_puzzle_identifiers=4, max_supervision_steps=3,
    )  # fmt: skip
    cfg = TrainConfig(
        model=model, global_batch_size=8, device="cpu", precision="bf16", compile=compile_,
        lr_warmup_steps=0, lr=1e-3,
    )  # fmt: skip
    state = init_state(cfg, setup_runtime("cpu", "bf16"), sampler=None, steps_total=100)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(1, 11, (8, 16), generator=g, dtype=torch.int32)
    batch = Batch(x, x.clone(), torch.randint(0, 4, (8,), generator=g, dtype=torch.int32))
    losses = []
    for _ in range(3):
        state.step += 1
        loss, _ = train_step(state, batch)
        losses.append(float(loss))
    return losses


@pytest.mark.parametrize("mixer", ["mlp", "attention"])
def test_compiled_cpu_training_step_matches_eager(mixer):
    torch.set_num_threads(2)
    eager, compiled = _losses(False, mixer), _losses(True, mixer)
    assert all(torch.isfinite(torch.tensor(compiled)))
    for e, c in zip(eager, compiled):
        assert abs(e - c) <= 2e-2 * abs(e) + 1e-3, (eager, compiled)  # bf16 tolerance


def test_reduce_overhead_is_refused_on_the_cpu():
    from trm.errors import TrmError
    from trm.training import build_model

    cfg = TrainConfig(
        model=ModelConfig(dim=16, num_heads=2, vocab_size=11, seq_len=9, puzzle_emb_dim=0),
        device="cpu", compile=True, compile_mode="reduce-overhead",
    )  # fmt: skip
    with pytest.raises(TrmError, match="reduce-overhead is CUDA graphs"):
        build_model(cfg, setup_runtime("cpu", "fp32"))
