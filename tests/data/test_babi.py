"""The bAbI reader on a hand-written task file: story resets, several questions per story,
supporting facts; the vocabulary from training only; memories most recent first; the tarball and
the extracted folder read alike; missing and malformed files are clear errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch

from tamrin.data import babi
from tamrin.errors import DataCorruptError, DataNotFoundError

MINI = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 Sandra travelled to the office.
2 Where is Sandra? \toffice\t1
3 Sandra journeyed to the kitchen.
4 Mary went to the kitchen.
5 Where is Sandra? \tkitchen\t3
"""


def test_stories_reset_at_line_one_and_questions_see_only_earlier_statements() -> None:
    qs = babi.parse_babi(MINI.splitlines(), "mini")
    assert len(qs) == 4
    assert [q.story_id for q in qs] == [0, 0, 1, 1]
    first, second, third, fourth = qs
    assert first.story == (
        ("mary", "moved", "to", "the", "bathroom"),
        ("john", "went", "to", "the", "hallway"),
    )
    assert first.question == ("where", "is", "mary") and first.answer == "bathroom"
    assert first.supporting == (1,) and first.lines == (1, 2)
    assert len(second.story) == 4 and second.lines == (
        1,
        2,
        4,
        5,
    )  # question lines are not memories
    assert second.supporting == (4,)
    assert third.story == (("sandra", "travelled", "to", "the", "office"),)  # the story reset
    assert fourth.lines == (1, 3, 4) and fourth.answer == "kitchen"


def test_encode_puts_the_most_recent_sentence_first_and_marks_supporting_facts() -> None:
    qs = babi.parse_babi(MINI.splitlines())
    vocab = babi.Vocabulary.build(qs)
    shape = babi.Shape.fit(qs, max_memories=3)
    assert shape == babi.Shape(memories=3, words=6, question_words=3)
    t = babi.encode(qs, vocab, shape, task=1)
    assert t["story"].shape == (4, 3, 6) and t["question"].shape == (4, 3)
    words = vocab.words
    second = t["story"][1]  # 4 statements, the 3 most recent kept, newest in slot 0
    assert [words[i] for i in second[0] if i] == ["sandra", "moved", "to", "the", "garden"]
    assert [words[i] for i in second[2] if i] == ["john", "went", "to", "the", "hallway"]
    assert t["support"][1].tolist() == [False, True, False]  # line 4 is slot 1
    assert t["support"][3].tolist() == [False, True, False]  # line 3 of the second story
    third = t["story"][2]
    assert (third[1:] == babi.PAD).all()  # one statement: the other slots are padding
    assert [words[i] for i in t["answer"]] == ["bathroom", "hallway", "office", "kitchen"]
    assert (t["task"] == 1).all()


def test_vocabulary_comes_from_training_only_and_unknown_words_map_to_unk() -> None:
    train = babi.parse_babi(MINI.splitlines()[:6])
    test = babi.parse_babi(["1 Bill went to the cellar.", "2 Where is Bill?\tcellar\t1"])
    vocab = babi.Vocabulary.build(train)
    assert "bill" not in vocab.words and "cellar" not in vocab.words
    assert vocab.words[:2] == ("<pad>", "<unk>")
    t = babi.encode(test, vocab, babi.Shape.fit(test, 50))
    assert t["story"][0, 0, 0] == babi.UNK and t["answer"][0] == babi.UNK
    assert t["story"][0, 0, 1] == vocab.index["went"]


def test_shape_refuses_sentences_longer_than_it_allows() -> None:
    qs = babi.parse_babi(MINI.splitlines())
    with pytest.raises(ValueError, match="a sentence has 5 words; the shape allows 4"):
        babi.encode(qs, babi.Vocabulary.build(qs), babi.Shape(3, 4, 3))


def test_story_holdout_keeps_every_question_of_a_story_together() -> None:
    qs = [_restory(q, i) for i in range(10) for q in babi.parse_babi(MINI.splitlines())]
    train, val = babi.story_holdout(qs, 0.2, seed=0)
    assert {q.story_id for q in train}.isdisjoint({q.story_id for q in val})
    assert len({q.story_id for q in val}) == 4  # 20 % of 20 stories
    assert babi.story_holdout(qs, 0.2, seed=0) == (train, val)
    assert babi.story_holdout(qs, 0.2, seed=1) != (train, val)


def _restory(q: babi.Question, copy: int) -> babi.Question:
    from dataclasses import replace

    return replace(q, story_id=q.story_id + 2 * copy)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("Mary moved to the bathroom.", "not a bAbI line"),
        ("2 Mary moved.", "must start with line number 1"),
        ("1 Where is Mary?\t\t1", "needs '<TAB>answer'"),
        ("1 Where is Mary?\tbathroom\tone", "supporting facts must be line numbers"),
    ],
)
def test_malformed_lines_are_errors_naming_the_line(line: str, why: str) -> None:
    with pytest.raises(DataCorruptError, match=f"mini:1: .*{why}"):
        babi.parse_babi([line], "mini")


def _release(tmp_path: Path, tasks: dict[str, str]) -> Path:
    path = tmp_path / "tasks_1-20_v1-2.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in tasks.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tarball_and_extracted_folder_read_alike(tmp_path: Path) -> None:
    files = {babi.task_file(1, "10k", s): MINI for s in ("train", "test")}
    tarball = _release(tmp_path, files)
    folder = tmp_path / "extracted"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    a, b = babi.read_task(tarball, 1, "10k"), babi.read_task(folder, 1, "10k")
    assert a == b and len(a["train"]) == 4
    assert babi.has_task(tarball, 1, "10k") and not babi.has_task(tarball, 1, "1k")


def test_a_missing_task_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    tarball = _release(tmp_path, {babi.task_file(3, "10k", "test"): MINI})
    with pytest.raises(DataNotFoundError, match=r"en-10k/qa3_three-supporting-facts_train.txt"):
        babi.read_task(tarball, 3, "10k")
    with pytest.raises(DataNotFoundError, match="is not in"):
        babi.read_task(tmp_path, 3, "10k")


def test_a_damaged_tarball_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks_1-20_v1-2.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataCorruptError, match="cannot read the bAbI archive"):
        babi.read_task(path, 1, "10k")


def test_unknown_task_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match=r"bAbI tasks are 1\.\.20; got 21"):
        babi.task_file(21, "10k", "train")


def test_encode_is_int64_everywhere() -> None:
    qs = babi.parse_babi(MINI.splitlines())
    t = babi.encode(qs, babi.Vocabulary.build(qs), babi.Shape.fit(qs, 50))
    assert all(v.dtype == (torch.bool if k == "support" else torch.int64) for k, v in t.items())
