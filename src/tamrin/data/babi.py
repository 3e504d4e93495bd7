"""The bAbI question-answering tasks (Weston et al. 2015): reader, vocabulary and tensors.

A task file has numbered lines; line number 1 starts a new story. A statement line is
`N text.`; a question line is `N question?<TAB>answer<TAB>supporting line numbers`. Every
question sees the statements of its story before it (earlier questions are not memories).

    >>> q = parse_babi(["1 Mary moved to the bathroom.", "2 Where is Mary?\\tbathroom\\t1"])[0]
    >>> q.story, q.question, q.answer, q.supporting
    ((('mary', 'moved', 'to', 'the', 'bathroom'),), ('where', 'is', 'mary'), 'bathroom', (1,))

`read_task(source, task, size)` reads `tasks_1-20_v1-2/{en,en-10k}/qaN_*_{train,test}.txt` from
the official tarball (read in place) or an extracted folder. `Vocabulary.build` sees training
questions only; test words it has not seen map to UNK. `encode` turns questions into the padded
tensors every memory network here takes: memories most recent first (slot 0 is the sentence
just before the question, so a slot index is the sentence's age), padding after them.
"""

from __future__ import annotations

import functools
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tamrin.errors import DataCorruptError, DataNotFoundError

BABI_URL = "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz"
FOLDER = "tasks_1-20_v1-2"
SIZES = {"1k": "en", "10k": "en-10k"}  # training-set size -> folder of the official release
TASKS = (  # the official file stems, task 1..20
    "single-supporting-fact",
    "two-supporting-facts",
    "three-supporting-facts",
    "two-arg-relations",
    "three-arg-relations",
    "yes-no-questions",
    "counting",
    "lists-sets",
    "simple-negation",
    "indefinite-knowledge",
    "basic-coreference",
    "conjunction",
    "compound-coreference",
    "time-reasoning",
    "basic-deduction",
    "basic-induction",
    "positional-reasoning",
    "size-reasoning",
    "path-finding",
    "agents-motivations",
)
PAD, UNK = 0, 1  # reserved ids: padding (zero embedding) and words unseen in training
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Question:
    """One question with the story before it (oldest statement first)."""

    story: tuple[tuple[str, ...], ...]  # the statements before the question, as words
    lines: tuple[int, ...]  # each statement's line number in its story
    question: tuple[str, ...]
    answer: str  # one token; lists and paths ("n,s") are one answer token, as in the paper
    supporting: tuple[int, ...]  # line numbers of the supporting facts
    story_id: int  # which story of the file (questions of one story share statements)


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-case words; punctuation dropped."""
    return tuple(_WORD.findall(text.lower()))


def parse_babi(lines: Iterable[str], source: str = "<lines>") -> list[Question]:
    """The questions of one task file; a malformed line is a DataCorruptError naming it."""
    out: list[Question] = []
    story: list[tuple[int, tuple[str, ...]]] = []
    story_id = -1
    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        num, _, text = line.partition(" ")
        if not num.isdigit() or not text:
            raise DataCorruptError(f"{source}:{i}: not a bAbI line (expected 'N text'): {line!r}")
        n = int(num)
        if n == 1:
            story, story_id = [], story_id + 1
        elif story_id < 0:
            raise DataCorruptError(f"{source}:{i}: the file must start with line number 1")
        if "\t" not in text:
            story.append((n, tokenize(text)))
            continue
        parts = text.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            raise DataCorruptError(f"{source}:{i}: a question needs '<TAB>answer': {line!r}")
        support = parts[2].split() if len(parts) > 2 else []
        if not all(s.isdigit() for s in support):
            raise DataCorruptError(f"{source}:{i}: supporting facts must be line numbers")
        out.append(
            Question(
                story=tuple(words for _, words in story),
                lines=tuple(num for num, _ in story),
                question=tokenize(parts[0]),
                answer=parts[1].strip().lower(),
                supporting=tuple(int(s) for s in support),
                story_id=story_id,
            )
        )
    return out


def task_file(task: int, size: str, split: str) -> str:
    """The official path of a task file inside the release, e.g. tasks_1-20_v1-2/en/qa1_..."""
    if not 1 <= task <= len(TASKS):
        raise ValueError(f"bAbI tasks are 1..{len(TASKS)}; got {task}")
    return f"{FOLDER}/{SIZES[size]}/qa{task}_{TASKS[task - 1]}_{split}.txt"


def read_task(source: Path, task: int, size: str = "10k") -> dict[str, list[Question]]:
    """Train and test questions of one task, from the tarball or the folder holding the release.

    `source` is the `.tar.gz` or a folder with `tasks_1-20_v1-2/` in it. A missing file is a
    DataNotFoundError naming it (the shared copy lacks en-10k task 3's training file).
    """
    names = {split: task_file(task, size, split) for split in ("train", "test")}
    texts = _read_members(source, list(names.values()))
    return {split: parse_babi(texts[name].splitlines(), name) for split, name in names.items()}


_CACHE: dict[tuple[str, int, int], dict[str, str]] = {}  # tarball -> every member's text


def _read_members(source: Path, names: Sequence[str]) -> dict[str, str]:
    if source.is_dir():
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise DataNotFoundError(f"bAbI file {missing[0]} is not in {source}")
        return {n: (source / n).read_text(encoding="utf-8") for n in names}
    st = source.stat()
    key = (str(source.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:  # one streaming pass reads every task of the release (12 MB of text)
        members: dict[str, str] = {}
        try:
            with tarfile.open(source, "r|*") as tar:
                for member in tar:
                    f = tar.extractfile(member) if member.isfile() else None
                    if f is not None and member.name.endswith(".txt"):
                        members[member.name.removeprefix("./")] = f.read().decode("utf-8")
        except (OSError, EOFError, tarfile.TarError, UnicodeDecodeError, TypeError) as exc:
            # TypeError: tarfile's gzip reader on a truncated header (CPython 3.11)
            raise DataCorruptError(
                f"{source}: cannot read the bAbI archive ({exc}); delete it and fetch it again"
            ) from None
        _CACHE.clear()
        _CACHE[key] = members
    members = _CACHE[key]
    missing = [n for n in names if n not in members]
    if missing:
        raise DataNotFoundError(f"bAbI file {missing[0]} is not in {source.name}")
    return {n: members[n] for n in names}


def has_task(source: Path, task: int, size: str) -> bool:
    """Whether the release at `source` holds both files of the task at this size."""
    try:
        _read_members(source, [task_file(task, size, s) for s in ("train", "test")])
    except DataNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _index(words: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(words)}


@dataclass(frozen=True)
class Vocabulary:
    """Word ids: PAD = 0, UNK = 1, then the words of the training questions, sorted."""

    words: tuple[str, ...]

    @classmethod
    def build(cls, questions: Iterable[Question]) -> Vocabulary:
        seen: set[str] = set()
        for q in questions:
            for sentence in q.story:
                seen.update(sentence)
            seen.update(q.question)
            seen.add(q.answer)
        return cls(("<pad>", "<unk>", *sorted(seen)))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> Mapping[str, int]:
        return _index(self.words)

    def ids(self, words: Iterable[str]) -> list[int]:
        index = self.index
        return [index.get(w, UNK) for w in words]


@dataclass(frozen=True)
class Shape:
    """Padded sizes of the tensors: memories per story and words per sentence / question."""

    memories: int
    words: int
    question_words: int

    @classmethod
    def fit(cls, questions: Sequence[Question], max_memories: int) -> Shape:
        """The smallest shape that holds `questions`, keeping at most `max_memories`."""
        longest = max((len(q.story) for q in questions), default=1)
        memories = max(1, min(max_memories, longest))
        words = max((len(s) for q in questions for s in q.story[-memories:]), default=1)
        return cls(memories, max(words, 1), max(max(len(q.question) for q in questions), 1))


def encode(
    questions: Sequence[Question], vocab: Vocabulary, shape: Shape, task: int = 0
) -> dict[str, torch.Tensor]:
    """Padded tensors of `questions`: the fields of a bAbI batch.

        story     (N, M, W) int64  word ids, memory slot 0 = most recent statement, PAD after
        question  (N, Q) int64
        answer    (N,) int64       the answer's word id (UNK where training never saw it)
        support   (N, M) bool      slots holding a supporting fact
        task      (N,) int64       the task number (joint training mixes tasks)

    Statements older than the M most recent are dropped (the paper keeps 50); longer sentences
    or questions than the shape allows are a ValueError (the shape comes from `Shape.fit`).
    """
    n, m, w, qw = len(questions), shape.memories, shape.words, shape.question_words
    story = [[[PAD] * w for _ in range(m)] for _ in range(n)]  # lists, one tensor at the end
    question = [[PAD] * qw for _ in range(n)]
    support = [[False] * m for _ in range(n)]
    for i, q in enumerate(questions):
        kept = list(zip(q.story, q.lines, strict=True))[-m:][::-1]  # most recent first
        for slot, (sentence, line) in enumerate(kept):
            if len(sentence) > w:
                raise ValueError(f"a sentence has {len(sentence)} words; the shape allows {w}")
            story[i][slot][: len(sentence)] = vocab.ids(sentence)
            support[i][slot] = line in q.supporting
        if len(q.question) > qw:
            raise ValueError(f"a question has {len(q.question)} words; the shape allows {qw}")
        question[i][: len(q.question)] = vocab.ids(q.question)
    answer = vocab.ids(q.answer for q in questions)
    return {
        "story": torch.tensor(story, dtype=torch.int64).view(n, m, w),
        "question": torch.tensor(question, dtype=torch.int64).view(n, qw),
        "answer": torch.tensor(answer, dtype=torch.int64).view(n),
        "support": torch.tensor(support, dtype=torch.bool).view(n, m),
        "task": torch.full((n,), task, dtype=torch.int64),
    }


def story_holdout(
    questions: Sequence[Question], fraction: float, seed: int
) -> tuple[list[Question], list[Question]]:
    """(train, val): a seeded `fraction` of the *stories* held out, with all their questions.

    Questions of one story share its statements, so a question-level split would show the
    validation stories in training.
    """
    stories = sorted({q.story_id for q in questions})
    order = torch.randperm(len(stories), generator=torch.Generator().manual_seed(seed))
    held = {stories[i] for i in order[: max(1, round(fraction * len(stories)))].tolist()}
    return [q for q in questions if q.story_id not in held], [
        q for q in questions if q.story_id in held
    ]
