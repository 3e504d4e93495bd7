"""Tasks: the shared shape of a course exercise, between `train`/`eval` and `recipes`.

    load splits → train and select on val → score the test split once → log the evaluation

`training.train` is the one fit call every recipe makes (checkpoints, precision, progress,
history); `classification` loads image splits, builds batches and scores a classifier's test
split. Recipes compose these and add only what their exercise is about.
"""
