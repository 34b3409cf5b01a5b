"""Seconds per training epoch of SyGNet-py (PyPI sygnet 0.0.13) on a CSV file.

Usage: OMP_WAIT_POLICY=PASSIVE python epoch_time.py DATA.csv [--epochs 3]
           [--batch 500] [--threads 1] [--hidden 256] [--lr 0.001] [--seed 1]

The model is SyGNet's attention-free WGAN-GP ("wgan" mode, one critic update per
generator update) with two hidden layers of `--hidden` units in each network:
generator n_blocks = 2 (input layer + one linear/layer-norm block), critic
n_blocks = 1 (input layer + one linear block); dropout 0 in the generator and 0.2
in the critic. One epoch is trained first as a warm-up; then `--epochs` epochs are
timed, counting only SyGNet's training function (not its data preprocessing).
Prints one JSON object.
"""
import argparse
import json
import os
import sys
import time

if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
    sys.exit("epoch_time.py: set OMP_WAIT_POLICY=PASSIVE in the environment "
             "(otherwise idle OpenMP threads spin and distort the timing)")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import sygnet  # noqa: E402
import sygnet.interface  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    data = pd.read_csv(a.csv)
    # SyGNet one-hot encodes object columns and scales int/float ones; it cannot
    # take bool columns or mixed bool/str values, so logicals become strings.
    for col in data.columns:
        if data[col].dtype == bool or data[col].dtype == object:
            values = data[col]
            data[col] = values.astype(str).where(values.notna(), None)

    # Time SyGNet's own training function (epochs loop, data loading included).
    timings = []
    original = sygnet.interface.train

    def timed_train(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = original(*args, **kwargs)
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
        return out

    sygnet.interface.train = timed_train

    model = sygnet.SygnetModel(mode="wgan", attention=False, n_blocks=[2, 1],
                               hidden_nodes=a.hidden, dropout_p=[0.0, 0.2])
    setup = time.perf_counter()
    model.fit(data, epochs=1, batch_size=a.batch, learning_rates=a.lr)
    setup = time.perf_counter() - setup
    model.fit(data, epochs=a.epochs, batch_size=a.batch, learning_rates=a.lr)
    wall, cpu = timings[-1]
    steps_per_epoch = -(-len(data) // a.batch)
    print(json.dumps({
        "seconds_per_epoch": wall / a.epochs,
        "cpu_seconds_per_epoch": cpu / a.epochs,
        "epochs_timed": a.epochs,
        "steps_per_epoch": steps_per_epoch,
        "rows": len(data),
        "cols": data.shape[1],
        "encoded_width": model.input_size,
        "batch": a.batch,
        "threads": a.threads,
        "first_fit_seconds": setup,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
