"""The Keras `babi_memnn` example (HW13's model, softmax match), faithfully, on Keras 3.

Runs in the Keras venv (`bench_babi.py` makes it; KERAS_BACKEND=torch) and reads task 1 (10k)
from the bAbI tarball itself. As the example: the tokenizer `re.split(r"(\\W+)", ...)` keeps
punctuation, each story is its sentences joined into one word sequence, the vocabulary comes
from train + test, sequences are pre-padded, the model is Embedding(64)/Embedding(query_maxlen)/
Embedding(64) with Dropout(0.3), dot -> softmax -> add -> permute -> concatenate -> LSTM(32) ->
Dropout(0.3) -> Dense(vocab) -> softmax, RMSprop, batch 32, 120 epochs, and it validates on the
test set every epoch. Writes JSON: per-epoch test accuracy and seconds, the final accuracy.

    KERAS_BACKEND=torch python benchmarks/babi_memnn_keras.py TARBALL OUT.json [--epochs 120]
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
import time
from functools import reduce

import keras
import numpy as np
from keras import layers

CHALLENGE = "tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_{}.txt"


def tokenize(sent: str) -> list[str]:
    return [x.strip() for x in re.split(r"(\W+)", sent) if x.strip()]


def parse_stories(lines: list[str]) -> list[tuple[list, list, str]]:
    data, story = [], []
    for line in lines:
        nid, line = line.split(" ", 1)
        if int(nid) == 1:
            story = []
        if "\t" in line:
            q, a, _ = line.split("\t")
            substory = [x for x in story if x]
            data.append((substory, tokenize(q), a))
            story.append("")
        else:
            story.append(tokenize(line))
    return data


def get_stories(text: str) -> list[tuple[list, list, str]]:
    data = parse_stories(text.splitlines())
    return [(reduce(lambda x, y: x + y, story), q, answer) for story, q, answer in data]


def vectorize(data, word_idx, story_maxlen, query_maxlen):  # type: ignore[no-untyped-def]
    inputs = [[word_idx[w] for w in story] for story, _, _ in data]
    queries = [[word_idx[w] for w in query] for _, query, _ in data]
    answers = [word_idx[answer] for _, _, answer in data]
    return (
        keras.utils.pad_sequences(inputs, maxlen=story_maxlen),
        keras.utils.pad_sequences(queries, maxlen=query_maxlen),
        np.array(answers),
    )


class Timeline(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.t0 = 0.0

    def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        logs = logs or {}
        self.rows.append(
            {
                "epoch": epoch + 1,
                "seconds": time.perf_counter() - self.t0,
                "val_accuracy": float(logs["val_accuracy"]),
                "accuracy": float(logs["accuracy"]),
            }
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("tarball")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=120)
    args = p.parse_args()
    with tarfile.open(args.tarball) as tar:
        read = {
            s: tar.extractfile(CHALLENGE.format(s)).read().decode()  # type: ignore[union-attr]
            for s in ("train", "test")
        }
    train_stories, test_stories = get_stories(read["train"]), get_stories(read["test"])
    vocab: set[str] = set()
    for story, q, answer in train_stories + test_stories:
        vocab |= set(story + q + [answer])
    vocab_list = sorted(vocab)
    vocab_size = len(vocab_list) + 1
    story_maxlen = max(len(x) for x, _, _ in train_stories + test_stories)
    query_maxlen = max(len(x) for _, x, _ in train_stories + test_stories)
    word_idx = {c: i + 1 for i, c in enumerate(vocab_list)}
    x_train, q_train, y_train = vectorize(train_stories, word_idx, story_maxlen, query_maxlen)
    x_test, q_test, y_test = vectorize(test_stories, word_idx, story_maxlen, query_maxlen)

    input_sequence = keras.Input((story_maxlen,))
    question = keras.Input((query_maxlen,))
    encoder_m = keras.Sequential([layers.Embedding(vocab_size, 64), layers.Dropout(0.3)])
    encoder_c = keras.Sequential([layers.Embedding(vocab_size, query_maxlen), layers.Dropout(0.3)])
    encoder_q = keras.Sequential([layers.Embedding(vocab_size, 64), layers.Dropout(0.3)])
    encoded_m, encoded_c = encoder_m(input_sequence), encoder_c(input_sequence)
    encoded_q = encoder_q(question)
    match = layers.Activation("softmax")(layers.dot([encoded_m, encoded_q], axes=(2, 2)))
    response = layers.Permute((2, 1))(layers.add([match, encoded_c]))
    answer = layers.concatenate([response, encoded_q])
    answer = layers.Dropout(0.3)(layers.LSTM(32)(answer))
    answer = layers.Activation("softmax")(layers.Dense(vocab_size)(answer))
    model = keras.Model([input_sequence, question], answer)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timeline = Timeline()
    start = time.perf_counter()
    model.fit(
        [x_train, q_train],
        y_train,
        batch_size=32,
        epochs=args.epochs,
        validation_data=([x_test, q_test], y_test),
        callbacks=[timeline],
        verbose=2,
    )
    result = {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "epochs": args.epochs,
        "train_s": time.perf_counter() - start,
        "final_test_accuracy": timeline.rows[-1]["val_accuracy"],
        "best_test_accuracy": max(r["val_accuracy"] for r in timeline.rows),
        "story_maxlen": story_maxlen,
        "query_maxlen": query_maxlen,
        "vocab_size": vocab_size,
        "timeline": timeline.rows,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
