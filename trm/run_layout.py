"""The files of a run directory, by name (no torch): ``trm/checkpoint.py`` writes the state and
the weights, ``trm/metrics_log.py`` the metrics, ``trm/loading.py`` reads the weights."""

CHECKPOINT = "checkpoint.pt"  # the latest resumable state
INFERENCE = "inference"  # the EMA weights and their config, loaded without pickle
WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"  # the resolved config the run trains with
METRICS = "metrics.jsonl"
WANDB_ID = "wandb_id.txt"  # the wandb run id, so that --resume continues the same wandb run
LOCK = "train.lock"  # the pid of the process training in the directory

RUN_FILES = (CONFIG, METRICS, CHECKPOINT, INFERENCE, WANDB_ID)  # what a run writes
KEPT = (CHECKPOINT, INFERENCE)  # what makes a directory hold a run: a state or a model
