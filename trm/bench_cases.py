"""The model shapes ``trm bench`` times: plain dicts (no torch), so the parser can list them."""

SMALL_ATT_MAZE = dict(
    dim=64,
    num_heads=4,
    expansion=2,
    recursions=2,
    latent_steps=2,
    mixer="attention",
    pos_encoding="rope",
    puzzle_emb_dim=64,
    puzzle_emb_len=1,
    max_supervision_steps=8,
    vocab_size=6,
    seq_len=900,
)

# name -> (model config, batch on CPU, batch on CUDA). CPU runs the first two by default.
TRAIN_CASES = {
    "sudoku-mlp-paper": (
        dict(mixer="mlp", pos_encoding="none", vocab_size=11, seq_len=81),
        32,
        768,
    ),
    # The paper's TRM-Att on Sudoku (configs/sudoku_att.yaml's model: dim 512, 8 heads of 64)
    "sudoku-att-paper": (dict(vocab_size=11, seq_len=81), 32, 768),
    "small-mlp": (
        dict(
            dim=128,
            num_heads=4,
            recursions=2,
            latent_steps=3,
            mixer="mlp",
            pos_encoding="none",
            puzzle_emb_dim=128,
            puzzle_emb_len=1,
            max_supervision_steps=8,
            vocab_size=11,
            seq_len=81,
        ),
        64,
        768,
    ),
    # configs/model/small_att.yaml on 30x30 mazes (the shipped maze model): head_dim 16 ...
    "small-att-maze": (SMALL_ATT_MAZE, 16, 768),
    # ... and the same parameters with one head of 64 (head count changes no weight shape)
    "small-att-maze-1head": ({**SMALL_ATT_MAZE, "num_heads": 1}, 16, 768),
    # configs/model/small_conv.yaml: local mixing instead of attention (not in the paper)
    "small-conv-maze": (
        {
            **SMALL_ATT_MAZE,
            **dict(num_heads=1, mixer="conv", pos_encoding="none"),
            **dict(puzzle_emb_dim=0, puzzle_emb_len=0),
        },
        16,
        768,
    ),
    # The ARC-AGI-1 recipe's model with its full puzzle-embedding table, per-GPU batch 192.
    "arc-att-paper": (
        dict(vocab_size=12, seq_len=900, latent_steps=4, num_puzzle_identifiers=876_406),
        4,
        192,
    ),
}
CPU_DEFAULT = ["sudoku-mlp-paper", "small-mlp"]
