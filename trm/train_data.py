"""What a training run reads: the dataset's facts copied into the config, the step count, the
splits and the sampler (with the curriculum when the recipe asks for one)."""

from __future__ import annotations

from pathlib import Path

from trm.config import CurriculumOrder, TrainConfig
from trm.data import Curriculum, PuzzleDataset, TrainSampler
from trm.errors import TrmError
from trm.puzzles import KINDS, kind_of_vocab


def fill_from_data(cfg: TrainConfig, data: PuzzleDataset) -> None:
    """Copy vocabulary, sequence length and identifier count from the dataset into the config;
    the kind is inferred from the vocabulary, and a ``kind`` given that does not match it is
    refused (a Sudoku model of Maze data would train, then fail at every evaluation)."""
    meta = data.metadata
    cfg.model.vocab_size = int(meta["vocab_size"])
    cfg.model.seq_len = int(meta["seq_len"])
    cfg.model.num_puzzle_identifiers = int(meta["num_puzzle_identifiers"])
    found = kind_of_vocab(cfg.model.vocab_size)
    if cfg.kind and KINDS[cfg.kind].VOCAB_SIZE != cfg.model.vocab_size:
        raise TrmError(
            f"{data.root}: kind={cfg.kind} needs a vocabulary of {KINDS[cfg.kind].VOCAB_SIZE} "
            f"tokens, but this dataset has {cfg.model.vocab_size} ({found or 'no known kind'}"
            f"{' puzzles' if found else ''}); drop kind= to take it from the dataset"
        )
    cfg.kind = cfg.kind or found
    if cfg.curriculum != CurriculumOrder.none and not cfg.kind:
        raise TrmError(f"{data.root}: curriculum={cfg.curriculum} needs a known puzzle kind")


def total_steps(cfg: TrainConfig, data: PuzzleDataset) -> int:
    """Optimiser steps of the run: ``max_steps``, or epochs x examples per epoch / B (SPEC §7.3)."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    meta = data.metadata
    return int(
        cfg.epochs * meta["total_groups"] * meta["mean_puzzle_examples"] / cfg.global_batch_size
    )


def load_data(cfg: TrainConfig) -> tuple[PuzzleDataset, PuzzleDataset | None]:
    """The train and (when built) test splits, checked, with the config filled from them."""
    train_data = PuzzleDataset(cfg.data_path, "train")
    has_test = (Path(cfg.data_path) / "test").is_dir()
    test_data = PuzzleDataset(cfg.data_path, "test") if has_test else None
    for key in ("vocab_size", "seq_len") if test_data else ():
        if test_data.metadata[key] != train_data.metadata[key]:
            raise TrmError(
                f"{test_data.root / 'test' / 'dataset.json'}: {key} {test_data.metadata[key]} "
                f"differs from the train split's {train_data.metadata[key]}"
            )
    fill_from_data(cfg, train_data)
    return train_data, test_data


def make_sampler(
    cfg: TrainConfig, data: PuzzleDataset, steps_total: int, rank: int = 0, world_size: int = 1
) -> TrainSampler:
    """This rank's training sampler, with the curriculum the recipe asks for."""
    B = cfg.global_batch_size
    sampler = TrainSampler(data, B, cfg.eval_interval, cfg.seed, rank, world_size)
    if cfg.curriculum != CurriculumOrder.none:
        sampler.curriculum = Curriculum.by_difficulty(
            data,
            KINDS[cfg.kind].difficulty,
            cfg.curriculum == CurriculumOrder.hard_first,
            cfg.curriculum_start,
            cfg.curriculum_until,
            steps_total,
        )
    elif sampler.batches_per_pass() == 0:
        raise TrmError(
            f"{cfg.data_path}: fewer examples per pass than one global batch "
            f"({cfg.global_batch_size}); lower global_batch_size or raise eval_interval"
        )
    return sampler
