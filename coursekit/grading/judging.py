"""Judging recorded outputs: the verdict of one test cell, with partial credit and messages.

Runs where the verdict counts -- in the grader's process, never next to the
student's code -- and, for visible checks only, in a student's own kernel
(quick feedback while they work).  Each case of a check is compared with the
instructor's solution on the same inputs (``expected``), or judged by the
part's own ``judge``; a case passes when it has no problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from coursekit.grading import spec
from coursekit.grading.compare import mismatches


@dataclass
class Verdict:
    """The verified result of one graded test cell."""

    check: str
    passed: bool
    problems: list = field(default_factory=list)  # one entry per failing case, or for the whole check
    n_cases: int = 0
    n_failed: int = 0
    reason: str = ""  # "" | "wrong answer" | "error" (the check could not run) | "not run" |
    # "tampering detected" | "reference" (a coursekit module the assignment does not provide)

    def fraction(self) -> float:
        """Share of the points earned: all, none, or the passing cases' share of a wrong answer."""
        if self.passed:
            return 1.0
        if self.reason == "wrong answer" and 0 < self.n_failed < self.n_cases:
            return (self.n_cases - self.n_failed) / self.n_cases
        return 0.0

    def message(self) -> str:
        if self.passed:
            return f"{self.check}: passed ({self.n_cases} case{'s' * (self.n_cases != 1)})"
        head = f"{self.check}: failed"
        if self.reason == "wrong answer" and self.n_cases > 1:
            head += f" ({self.n_failed} of {self.n_cases} cases)"
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


def case_outputs(arrays: dict, n_cases: int) -> list:
    """Arrays keyed "<case>/<name>" -> one dict of outputs per case."""
    out: list = [{} for _ in range(n_cases)]
    for key, value in arrays.items():
        index, _, name = key.partition("/")
        if index.isdigit() and int(index) < n_cases:
            out[int(index)][name] = value
    return out


def compare_case(part: spec.Part, inputs: dict, outputs: dict, expected: dict | None) -> list:
    """The problems of one case: the default comparison, then the part's own judges."""
    if part.judge is not None:
        problems = list(part.judge(inputs, outputs, expected))
    else:
        if expected is None:
            raise RuntimeError(f"part {part.name!r} has no expected outputs to compare with")
        pairs = []
        for name in part.compare:
            keys = sorted(k for k in expected if k == name or k.startswith(name + "."))
            pairs += [(_label(k), outputs.get(k), expected[k]) for k in keys]
            extra = sorted(k for k in outputs if k.startswith(name + ".") and k not in expected)
            pairs += [(_label(k), outputs[k], None) for k in extra]
        problems = _unexpected_keys(pairs) or mismatches([p for p in pairs if p[2] is not None],
                                                          part.rtol, part.atol)
    if not problems and part.extra_judge is not None:
        problems = list(part.extra_judge(inputs, outputs, expected))
    return problems


def _label(key: str) -> str:
    """'grads.W1' -> "grads['W1']" (how the student's code names it)."""
    base, _, sub = key.partition(".")
    return f"{base}[{sub!r}]" if sub else base


def _unexpected_keys(pairs: list) -> list:
    extra = [name for name, _, expected in pairs if expected is None]
    missing = [name for name, actual, expected in pairs if expected is not None and actual is None]
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected entries: {', '.join(extra)}")
    return ["; ".join(problems)] if problems else []


def judge(check: str, part: spec.Part, cases: list, recorded: dict | None, expected: list | None,
          describe=None) -> Verdict:
    """The verdict of a check from what the runner recorded.

    cases: [(description, inputs)]; recorded: ``{"arrays", "errors"}`` or
    ``{"failed"[, "tampered"]}`` or None (never reached); expected: the
    solution's outputs per case (None for a part judged without them);
    describe(index, problems) -> extra text for a failing case (the visible
    cases' reproduction snippet).
    """
    n = len(cases)
    if recorded is None:
        return Verdict(check, False, ["not checked: the notebook did not get that far"], n, n, "not run")
    if "failed" in recorded:
        reason = "tampering detected" if recorded.get("tampered") else "error"
        return Verdict(check, False, [f"not checked: {recorded['failed']}"], n, n, reason)
    errors = {e["case"]: e for e in recorded.get("errors", []) if isinstance(e, dict)
              and isinstance(e.get("case"), int)}
    outputs = case_outputs(recorded.get("arrays", {}), n)
    problems, failed, reason = [], 0, ""
    for index, (description, inputs) in enumerate(cases):
        if index in errors:  # an exception fails its case, like a wrong value
            err = errors[index]
            found = [f"{str(err.get('type', 'Error'))[:80]}: {str(err.get('message', ''))[:500]}"]
            if err.get("type") == "ModuleNotFoundError" and "coursekit." in str(err.get("message")):
                reason = "reference"  # a forbidden module: no partial credit
        else:
            found = compare_case(part, inputs, outputs[index], expected[index] if expected else None)
        if found:
            failed += 1
            text = f"case {description}: " + "; ".join(found)
            problems.append(text + (describe(index, found) if describe else ""))
    if not failed:
        return Verdict(check, True, [], n, 0, "")
    return Verdict(check, False, problems, n, failed, reason or "wrong answer")
