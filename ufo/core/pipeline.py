"""Pipeline text, as `ufo run` takes it: ``read path=scan/ ! calculate expression='x*2' ! write path=out.tif``.

``[a ..., b ...] ! task`` feeds several branches into one task's inputs, in order;
``a ! [b ..., c ...]`` feeds one stream into several branches. Values may be quoted; lists
are comma separated (``shape=512,512``); quantities carry units (``angle=90deg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import registry
from .api import Graph
from .errors import PipelineSyntaxError, UsageError
from .task import Kind
from .ufocompat import apply, resolve

if TYPE_CHECKING:
    from .task import Stream

_DELIMITERS = "![],"

#: Most tasks one pipeline may hold, and most '[' one may nest in another. Graphs are walked
#: recursively; without a bound a 2000-stage pipeline ends in a RecursionError traceback.
MAX_TASKS = 256
MAX_NESTING = 16


@dataclass(frozen=True)
class Token:
    kind: str  # 'word', '!', '[', ']', ','
    text: str
    pos: int


def _error(text: str, pos: int, message: str) -> PipelineSyntaxError:
    return PipelineSyntaxError(f"{message}\n  {text}\n  {' ' * pos}^")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n, depth = 0, len(text), 0
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "![],":
            depth += c == "["
            depth -= c == "]"
            tokens.append(Token(c, c, i))
            i += 1
            continue
        start, chars, quoted_end = i, [], False
        while i < n and not text[i].isspace() and text[i] not in "![]":
            if text[i] in "\"'":
                quote = text[i]
                close = text.find(quote, i + 1)
                if close < 0:
                    raise _error(text, i, f"unterminated {quote} quote")
                chars.append(text[i + 1: close])
                i = close + 1
                quoted_end = True
                continue
            if text[i] == "\\" and i + 1 < n:
                chars.append(text[i + 1])
                i += 2
                continue
            chars.append(text[i])
            quoted_end = False
            i += 1
        word = "".join(chars)
        if depth > 0 and "," in word and "=" not in word and not quoted_end:  # [a,b]: two branches (it was
            at = start  # a task named 'a,b'); a value's commas (shape=64,64) stay in it
            for k, part in enumerate(word.split(",")):
                if k:
                    tokens.append(Token(",", ",", at - 1))
                if part:
                    tokens.append(Token("word", part, at))
                at += len(part) + 1
        elif depth > 0 and word.endswith(",") and not quoted_end:
            tokens.append(Token("word", word[:-1], start))
            tokens.append(Token(",", ",", i - 1))
        else:
            tokens.append(Token("word", word, start))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.tasks = 0
        self.nesting = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, token: Token | None, message: str) -> PipelineSyntaxError:
        return _error(self.text, token.pos if token else len(self.text), message)

    def pipeline(self, inputs: list[Stream]) -> list[Stream]:
        streams = self.stage(inputs)
        while (token := self.peek()) is not None and token.kind == "!":
            self.take()
            if self.peek() is None or self.peek().kind in "!],":  # type: ignore[union-attr]
                raise self.fail(self.peek(), "expected a task after '!'")
            streams = self.stage(streams)
        return streams

    def stage(self, inputs: list[Stream]) -> list[Stream]:
        token = self.peek()
        if token is None:
            raise self.fail(None, "expected a task")
        if token.kind == "[":
            self.take()
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise self.fail(token, f"brackets are nested more than {MAX_NESTING} deep")
            branches: list[Stream] = []
            while True:
                if self.peek() is None:
                    raise self.fail(token, "this '[' is never closed")
                branches.extend(self.pipeline(inputs))
                closing = self.peek()
                if closing is None:
                    raise self.fail(token, "this '[' is never closed")
                self.take()
                if closing.kind == "]":
                    self.nesting -= 1
                    return branches
                if closing.kind != ",":
                    raise self.fail(closing, "expected ',' or ']'")
        if token.kind != "word":
            raise self.fail(token, f"expected a task name, got '{token.text}'")
        self.take()
        self.tasks += 1
        if self.tasks > MAX_TASKS:
            raise self.fail(token, f"a pipeline holds at most {MAX_TASKS} tasks; split the work into several runs")
        if "=" in token.text:
            raise self.fail(token, f"expected a task name, got '{token.text}' (a property needs a task before it)")
        try:
            cls = registry.get(token.text)
        except UsageError as exc:
            raise self.fail(token, str(exc)) from exc
        props: dict[str, str] = {}
        replicas = 1
        while (word := self.peek()) is not None and word.kind == "word":
            self.take()
            key, eq, value = word.text.partition("=")
            if not eq or not key:
                raise self.fail(word, f"expected key=value for task '{cls.name}', got '{word.text}' (missing '!'?)")
            if key.replace("-", "_") in {k.replace("-", "_") for k in props}:  # the last one was taken, silently
                raise self.fail(word, f"'{key}' is given twice to task '{cls.name}'; keep one")
            try:
                if key == "replicas":
                    replicas = int(value)
                    continue
                if not getattr(cls, "extra_properties", False) or key.replace("-", "_") in cls.properties():
                    for attribute, val in resolve(cls, key, value).items():  # UFO's names too (ufocompat)
                        cls.properties()[attribute].convert(val, cls.name)
            except UsageError as exc:
                raise self.fail(word, str(exc)) from exc
            except ValueError as err:
                raise self.fail(word, f"replicas must be an integer, got '{value}'") from err
            props[key] = value
        try:
            task = cls(replicas=replicas, **props)
            if task.kind is Kind.SOURCE:
                if inputs:
                    raise UsageError(f"task '{cls.name}' is a source and cannot follow '!'")
                return [task()]
            if not inputs:
                raise UsageError(f"task '{cls.name}' needs an input; put a source before it (e.g. read path=...)")
            return [task(*inputs)]
        except UsageError as exc:
            raise self.fail(token, str(exc)) from exc
        except (TypeError, ValueError) as exc:  # a task's own __init__ refusing an argument
            raise self.fail(token, f"task '{cls.name}': {exc}") from exc


def parse(text: str) -> Graph:
    """Parse pipeline text into a graph; errors point at the offending place."""
    if not text.strip():
        raise PipelineSyntaxError("the pipeline is empty; e.g. 'dummy-data number=10 ! write path=out/frame-%05i.tif'")
    parser = _Parser(text)
    streams = parser.pipeline([])
    if parser.peek() is not None:
        raise parser.fail(parser.peek(), f"unexpected '{parser.peek().text}'")  # type: ignore[union-attr]
    graph = Graph(streams)
    apply(graph.nodes)  # a UFO user's text gets UFO's semantics where a spelling means otherwise here
    return graph
