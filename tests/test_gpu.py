"""GPU paths: compiled bf16 against eager float32, no host sync, memory. Skip without CUDA.

The CPU compile check is marked slow (compilation takes a minute on a small CPU).
"""

from __future__ import annotations

import pytest
import torch

from trm.act import initial_carry, supervision_step
from trm.batch import Batch
from trm.model import ModelConfig, TinyRecursiveModel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def case(device: str, mixer: str = "mlp", seq_len: int = 81, b: int = 64):
    torch.manual_seed(0)
    cfg = ModelConfig(
        mixer=mixer,
        pos_encoding="none" if mixer == "mlp" else "rope",
        vocab_size=11,
        seq_len=seq_len,
        latent_steps=2,
        recursions=2,
    )
    model = TinyRecursiveModel(cfg).to(device)
    x = torch.randint(1, 11, (b, seq_len), dtype=torch.int32, device=device)
    return model, Batch(x, (x % 9 + 2).int(), torch.zeros(b, dtype=torch.int32, device=device))


def run_two_steps(model, fwd, batch, dtype, autocast):
    carry = initial_carry(model, batch, dtype)
    for _ in range(2):
        with autocast():
            result = supervision_step(fwd, carry, batch, training=False)
            carry = result.carry
    return result.loss.float(), result.out.logits.float()


def compare(device: str, mixer: str, seq_len: int, rtol: float):
    from contextlib import nullcontext
    from functools import partial

    model, batch = case(device, mixer, seq_len)
    ref_loss, ref_logits = run_two_steps(model, model, batch, torch.float32, nullcontext)
    compiled = torch.compile(model, dynamic=False)
    if device == "cuda":
        autocast, dtype = partial(torch.autocast, "cuda", dtype=torch.bfloat16), torch.bfloat16
    else:
        autocast, dtype = nullcontext, torch.float32
    loss, logits = run_two_steps(model, compiled, batch, dtype, autocast)
    assert torch.allclose(loss, ref_loss, rtol=rtol), (loss, ref_loss)
    agree = (logits.argmax(-1) == ref_logits.argmax(-1)).float().mean().item()
    assert agree > 0.95, agree
    assert (logits - ref_logits).abs().mean() < rtol * ref_logits.abs().mean() * 10


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("mixer,seq_len", [("mlp", 81), ("attention", 900)])
def test_compiled_bf16_matches_eager_float32(mixer, seq_len):
    compare("cuda", mixer, seq_len, rtol=5e-2)


@pytest.mark.slow
def test_compiled_cpu_matches_eager():
    compare("cpu", "mlp", 81, rtol=1e-4)


@pytest.mark.gpu
@cuda
def test_train_step_runs_without_host_sync():
    """After warm-up, a training step issues no device-to-host synchronisation."""
    from trm.config import TrainConfig
    from trm.runtime import setup_runtime
    from trm.training import init_state, train_step

    cfg = TrainConfig(
        model=ModelConfig(mixer="mlp", pos_encoding="none", vocab_size=11, seq_len=81),
        device="cuda",
        compile=False,
    )
    rt = setup_runtime("cuda", "bf16")
    state = init_state(cfg, rt, sampler=None, steps_total=100)
    _, batch = case("cuda")
    for _ in range(2):
        state.step += 1
        train_step(state, batch)
    torch.cuda.set_sync_debug_mode("error")
    try:
        state.step += 1
        train_step(state, batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
