"""Unit tests of the grader's parts: messages, the wire format, call plans, judging,
hidden cases, the runner driven without a sandbox, submissions on disk, similarity.

Fast: no sandbox and no nbgrader run (test_grading_sandbox.py and
test_grading_e2e.py do those).
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
import unicodedata

import nbformat
import numpy as np
import pytest

from coursekit import grading
from coursekit.grading import driver, export, grader, judging, local, pipeline, protocol, similarity, source, spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# messages: the wrong array, its shape and error -- never the expected values
# ---------------------------------------------------------------------------
def test_mismatch_reports_shape_dtype_and_error_but_not_expected_values():
    expected = np.array([[123.456789, -987.654321], [55.5555, 0.0]])
    assert "wrong shape (2,), expected (2, 2)" in grading.describe_mismatch("dW", np.zeros(2), expected)
    assert "wrong dtype float32, expected float64" in grading.describe_mismatch(
        "dW", expected.astype(np.float32), expected)
    wrong = expected.copy()
    wrong[1, 0] += 1.0
    msg = grading.describe_mismatch("dW", wrong, expected)
    assert msg.startswith("dW: wrong values, max relative error")
    assert "at index (1, 0)" in msg and "1 of 4 entries wrong" in msg
    for value in ("123.45", "987.65", "55.55", "56.55"):
        assert value not in msg
    assert grading.describe_mismatch("dW", expected.copy(), expected) is None
    assert "NaN or inf" in grading.describe_mismatch("dx", np.full((2, 2), np.nan), expected)
    assert "expected a numeric array" in grading.describe_mismatch("dx", "text", expected)


def test_a_transposed_result_is_named_as_such():
    msg = grading.describe_mismatch("dW", np.zeros((3, 5)), np.zeros((5, 3)))
    assert "the transpose of what is expected" in msg


def test_the_tolerance_is_the_stated_one():
    """A relative error of 1e-5 must fail at the default rtol 1e-6 (a loosened tolerance fails this)."""
    e = np.array([1.0, 2.0, 3.0])
    assert grading.describe_mismatch("x", e * (1 + 1e-5), e) is not None
    assert grading.describe_mismatch("x", e * (1 + 1e-7), e) is None


def test_assert_gradients_names_every_wrong_gradient_and_the_right_ones():
    exp = {"dx": np.ones(3), "dW": np.ones((2, 3)), "db": np.ones(2)}
    got = {"dx": np.ones(3), "dW": np.zeros((2, 3)), "db": np.ones(3)}
    with pytest.raises(grading.GradingError) as err:
        grading.assert_gradients(got, exp)
    msg = str(err.value)
    assert "dW: wrong values" in msg and "db: wrong shape (3,), expected (2,)" in msg
    assert "(correct: dx)" in msg
    grading.assert_gradients(exp, exp)


def test_relative_errors_is_zero_for_equal_and_one_against_zero():
    assert np.array_equal(grading.relative_errors(np.array([1.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0])),
                          [0.0, 0.0, 1.0])


def test_digits_split_is_reproducible_and_disjoint():
    X1, y1, Xv1, yv1 = grading.digits_split(seed=3)
    X2, y2, _, _ = grading.digits_split(seed=3)
    assert X1.shape == (1297, 64) and Xv1.shape == (500, 64)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not (set(map(bytes, X1)) & set(map(bytes, Xv1))) or len(X1) + len(Xv1) == 1797


# ---------------------------------------------------------------------------
# the wire format: bounded, numbers only
# ---------------------------------------------------------------------------
def roundtrip(header, arrays):
    read_fd, write_fd = os.pipe()
    data = protocol.encode(header, arrays)
    os.write(write_fd, data)
    os.close(write_fd)
    try:
        return protocol.FrameReader(read_fd).read(deadline=time.monotonic() + 5)
    finally:
        os.close(read_fd)


def test_frames_carry_arrays_with_their_dtype_shape_and_layout():
    rng = np.random.default_rng(0)
    arrays = {"c": rng.standard_normal((3, 4)), "f": np.asfortranarray(rng.standard_normal((3, 4))),
              "s": rng.standard_normal((3, 8))[:, ::2], "i": np.arange(5, dtype=np.int32),
              "b": np.array([True, False]), "scalar": np.float64(2.5)}
    header, got = roundtrip({"op": "x", "seq": 1}, arrays)
    assert header["op"] == "x" and header["seq"] == 1
    for key, value in arrays.items():
        np.testing.assert_array_equal(got[key], value)
        assert got[key].dtype == np.asarray(value).dtype
    assert got["f"].flags.f_contiguous and not got["f"].flags.c_contiguous
    assert not got["s"].flags.c_contiguous and not got["s"].flags.f_contiguous


def test_frames_refuse_objects():
    with pytest.raises(TypeError, match="numbers only"):
        protocol.encode({}, {"x": np.array([object()])})


def test_a_frame_over_the_limit_is_refused_before_it_is_read():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, struct.pack(">4sIQ", b"CKG1", 10, 8 << 30))  # claims 8 GB
    reader = protocol.FrameReader(read_fd, max_blob=1 << 20)
    with pytest.raises(protocol.ProtocolError, match="over the limit"):
        reader.read(deadline=time.monotonic() + 5)
    for fd in (read_fd, write_fd):
        os.close(fd)


@pytest.mark.parametrize("damage", ["garbage", "short", "lying-size"])
def test_malformed_frames_are_protocol_errors_or_a_closed_channel(damage):
    good = protocol.encode({"op": "x", "seq": 1}, {"a": np.arange(4.0)})
    if damage == "garbage":
        data, error = b"not a frame at all" * 3, protocol.ProtocolError
    elif damage == "short":
        data, error = good[:-5], protocol.ChannelClosed
    else:  # the header declares more array bytes than the blob holds
        body = good[protocol.PREFIX.size:]
        header_len = struct.unpack(">4sIQ", good[:protocol.PREFIX.size])[1]
        header, blob = body[:header_len], body[header_len:]
        header = header.replace(b"[4]", b"[40]")
        data = struct.pack(">4sIQ", b"CKG1", len(header), len(blob)) + header + blob
        error = protocol.ProtocolError
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    with pytest.raises(error):
        protocol.FrameReader(read_fd).read(deadline=time.monotonic() + 5)
    os.close(read_fd)


# ---------------------------------------------------------------------------
# call plans, cases and judging
# ---------------------------------------------------------------------------
LINEAR = spec.Part("linear", calls=(spec.call("linear_forward", "x", "W", "b", returns=("out", "cache")),
                                    spec.call("linear_backward", "dout", "cache", returns=("dx", "dW", "db"))),
                   compare=("out", "dx", "dW", "db"))


def linear_forward(x, W, b):
    return x @ W.T + b, (x, W)


def linear_backward(dout, cache):
    x, W = cache
    return dout @ W, dout.T @ x, dout.sum(axis=0)


def linear_case(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((4, 3)), "W": rng.standard_normal((5, 3)), "b": rng.standard_normal(5),
            "dout": rng.standard_normal((4, 5))}


def test_a_call_plan_records_what_the_functions_return_and_renders_as_code():
    out = spec.run_case(LINEAR, linear_case(), {"linear_forward": linear_forward, "linear_backward": linear_backward})
    assert set(out) == {"out", "dx", "dW", "db"} and out["dW"].shape == (5, 3)
    assert LINEAR.render() == "out, cache = linear_forward(x, W, b)\ndx, dW, db = linear_backward(dout, cache)"
    assert LINEAR.functions == ("linear_forward", "linear_backward")


def test_a_wrong_return_is_named_with_the_call():
    with pytest.raises(TypeError, match=r"linear_backward\(dout, cache\) must return a tuple of 3 values"):
        spec.run_case(LINEAR, linear_case(), {"linear_forward": linear_forward,
                                               "linear_backward": lambda d, c: (1, 2)})
    arrays, errors = spec.run_cases(LINEAR, [linear_case()], {"linear_forward": linear_forward})
    assert errors and errors[0]["type"] == "NameError" and "linear_backward is not defined" in errors[0]["message"]


def test_judging_gives_partial_credit_per_case_and_counts_exceptions_as_failing_cases():
    fns = {"linear_forward": linear_forward, "linear_backward": linear_backward}
    cases = [(f"case {i}", linear_case(i)) for i in range(4)]
    expected = [spec.run_case(LINEAR, inputs, fns) for _, inputs in cases]
    bad = dict(fns, linear_backward=lambda d, c: (lambda r: (r[0], r[1], r[2] * (1 if d.shape[0] != 4 else 2)))(
        linear_backward(d, c)))
    arrays, errors = spec.run_cases(LINEAR, [c for _, c in cases[:3]], bad)
    arrays.update({f"3/{k}": v for k, v in expected[3].items()})
    errors.append({"case": 2, "type": "ZeroDivisionError", "message": "boom"})
    verdict = judging.judge("linear_hidden", LINEAR, cases, {"arrays": arrays, "errors": errors}, expected)
    assert not verdict.passed and verdict.reason == "wrong answer"
    assert verdict.n_cases == 4 and verdict.n_failed == 3  # cases 0, 1 wrong, case 2 raised
    assert verdict.fraction() == pytest.approx(0.25)
    assert "db: wrong values" in verdict.problems[0] and "ZeroDivisionError: boom" in verdict.problems[2]


def test_no_credit_without_a_record_or_for_tampering_or_forbidden_modules():
    cases = [("c", linear_case())]
    assert judging.judge("x", LINEAR, cases, None, None).fraction() == 0
    tampered = judging.judge("x", LINEAR, cases, {"failed": "forged", "tampered": True}, None)
    assert tampered.reason == "tampering detected" and tampered.fraction() == 0
    two = cases * 2
    ref = judging.judge("x", LINEAR, two, {"arrays": {}, "errors": [
        {"case": 0, "type": "ModuleNotFoundError", "message": "No module named 'coursekit.functional'"}]},
        [spec.run_case(LINEAR, linear_case(), {"linear_forward": linear_forward,
                                               "linear_backward": linear_backward})] * 2)
    assert ref.reason == "reference" and ref.fraction() == 0


# ---------------------------------------------------------------------------
# a tiny assignment on disk, graded by the runner without a sandbox
# ---------------------------------------------------------------------------
CHECKS = '''
from coursekit.grading.spec import Assignment, Case, call
T = Assignment("T1")
T.part("square", title="The square",
       calls=[call("square_forward", "x", returns=("out", "cache")),
              call("square_backward", "dout", "cache", returns="dx")],
       compare=("out", "dx"),
       visible=[Case("x (3, 2)", code="""
           rng = np.random.default_rng(0)
           x = rng.standard_normal((3, 2))
           dout = rng.standard_normal((3, 2))
           """)])
'''
SOLUTION = ("def square_forward(x):\n    return x ** 2, x\n\n\n"
            "def square_backward(dout, cache):\n    return 2 * cache * dout\n")
HIDDEN = '''# hidden tests: a 3-D input
### BEGIN HIDDEN TESTS
@grading.hidden_cases("square_hidden")
def cases():
    rng = np.random.default_rng(1)
    return [("a 3-D x", {"x": rng.standard_normal((2, 3, 4)), "dout": rng.standard_normal((2, 3, 4))})]
### END HIDDEN TESTS'''


def tiny_notebook(answer=SOLUTION, extra=()):
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom coursekit import grading"),
             nbformat.v4.new_code_cell(answer),
             nbformat.v4.new_code_cell('grading.check("square_visible")'),
             nbformat.v4.new_code_cell(HIDDEN)]
    meta = [None, {"grade": False, "solution": True, "grade_id": "square_solution", "locked": False},
            {"grade": True, "solution": False, "grade_id": "square_visible", "locked": True, "points": 1},
            {"grade": True, "solution": False, "grade_id": "square_hidden", "locked": True, "points": 2}]
    for cell, m in zip(cells, meta):
        if m:
            cell.metadata["nbgrader"] = dict(m, schema_version=3)
    nb.cells = cells[:2] + [nbformat.v4.new_code_cell(c) for c in extra] + cells[2:]
    return nb


@pytest.fixture
def tiny(tmp_path):
    folder = tmp_path / "solutions" / "T1"
    folder.mkdir(parents=True)
    (folder / "checks.py").write_text(CHECKS)
    nbformat.write(tiny_notebook(), folder / "T1.ipynb")
    src = source.find(str(tmp_path / "solutions"), "T1")
    settings = grader.Settings(cache_dir=str(tmp_path / "cache"), isolation="none", cell_timeout=3,
                               time_limit=40)
    return src, settings


def grade_tiny(tiny, nb):
    src, settings = tiny
    return grader.grade_notebook(nb, src, src.test_cells(), settings)


def test_the_solution_passes_and_the_hidden_cases_come_from_the_hidden_block(tiny):
    src, _ = tiny
    cases = src.cases(src.test_cells())
    assert [d for d, _ in cases["square_hidden"]] == ["a 3-D x"]
    assert cases["square_hidden"][0][1]["x"].shape == (2, 3, 4)
    run = grade_tiny(tiny, tiny_notebook())
    assert all(v.passed for v in run.verdicts.values()), [v.message() for v in run.verdicts.values()]
    assert run.test_outcomes == {"square_visible": "deferred", "square_hidden": "deferred"}


def test_a_wrong_backward_fails_both_checks_with_a_reproducible_visible_case(tiny):
    wrong = SOLUTION.replace("2 * cache * dout", "cache * dout")
    run = grade_tiny(tiny, tiny_notebook(wrong))
    visible, hidden = run.verdicts["square_visible"], run.verdicts["square_hidden"]
    assert not visible.passed and not hidden.passed
    message = visible.problems[0]
    assert "dx: wrong values" in message and "To reproduce this case, run:" in message
    assert "rng = np.random.default_rng(0)" in message and "dx = square_backward(dout, cache)" in message
    assert "To reproduce" not in hidden.problems[0] and "default_rng(1)" not in hidden.problems[0]
    # the snippet, run as printed beside the student's functions, reproduces the failure
    snippet = textwrap.dedent(message.split("To reproduce this case, run:\n", 1)[1])
    scope: dict = {}
    exec(wrong, scope)
    exec(snippet, scope)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2))
    dout = rng.standard_normal((3, 2))
    np.testing.assert_array_equal(scope["dx"], x * dout)
    assert grading.describe_mismatch("dx", scope["dx"], 2 * x * dout) is not None


def test_forged_answers_on_the_channel_are_tampering_and_change_nothing(tiny):
    forge = ("import sys\nfrom coursekit.grading import protocol\n"
             "for s in range(1, 40):\n"
             "    protocol.write_frame(int(sys.argv[-1]), {'op': 'check', 'seq': s, 'errors': []})")
    run = grade_tiny(tiny, tiny_notebook(extra=[forge]))
    assert run.tampering and all(v.passed for v in run.verdicts.values())
    assert any("tampering detected" in e for e in run.events)


def test_a_forged_duplicate_of_a_check_answer_zeroes_that_check(tiny):
    """A thread left by a cell answers the first check request before the real answer does.

    Requests: init (1), the four cells (2-5), the first check (6), which takes
    half a second (the student's function sleeps); the thread writes at 0.2 s.
    """
    slow = SOLUTION.replace("def square_forward(x):\n",
                            "def square_forward(x):\n    import time\n    time.sleep(0.5)\n")
    forge = textwrap.dedent("""
        import sys, threading, time
        from coursekit.grading import protocol
        def _forge():
            time.sleep(0.2)  # after the last cell: while the first check runs
            protocol.write_frame(int(sys.argv[-1]), {"op": "check", "seq": 6, "errors": []})
        threading.Thread(target=_forge, daemon=True).start()
        """)
    run = grade_tiny(tiny, tiny_notebook(slow, extra=[forge]))
    assert run.tampering
    verdict = run.verdicts["square_visible"]
    assert not verdict.passed and verdict.reason == "tampering detected", verdict.message()


def test_a_cell_that_kills_its_process_costs_only_itself(tiny):
    run = grade_tiny(tiny, tiny_notebook(extra=["import os\nos._exit(3)", "survivor = 1"]))
    assert all(v.passed for v in run.verdicts.values())
    assert any("ended the runner's process" in e for e in run.events)
    assert run.cells[3]["error"] is None  # the cell after the crash ran


def test_a_loop_that_swallows_interrupts_is_stopped_and_later_parts_graded(tiny):
    loop = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
    started = time.monotonic()
    run = grade_tiny(tiny, tiny_notebook(extra=[loop]))
    assert all(v.passed for v in run.verdicts.values())
    assert any("could not be interrupted" in e for e in run.events)
    assert time.monotonic() - started < 20


def test_output_printed_during_a_check_is_not_recorded(tiny):
    leaky = SOLUTION.replace("    return 2 * cache * dout",
                             "    print('LEAK', cache.tolist())\n    return 2 * cache * dout")
    run = grade_tiny(tiny, tiny_notebook(leaky))
    assert all(v.passed for v in run.verdicts.values())
    assert not any("LEAK" in (r.get("stdout") or "") for r in run.cells.values())


def test_a_hidden_block_refuses_to_run_in_a_students_kernel(tmp_path):
    """Run where nbgrader would run a student's notebook (no source marker): the process ends, loudly."""
    code = ("import numpy as np\nfrom coursekit import grading\n"
            "@grading.hidden_cases('square_hidden')\ndef cases():\n    return []\nprint('graded anyway')")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 86 and "graded anyway" not in out.stdout
    assert "use the course configuration" in out.stderr.replace("\n", " ") or "course's grader" in out.stderr


# ---------------------------------------------------------------------------
# submissions on disk
# ---------------------------------------------------------------------------
def test_every_file_name_gets_its_own_safe_id():
    names = [unicodedata.normalize("NFC", "Zoë"), unicodedata.normalize("NFD", "Zoë"), "x" * 240,
             "a b\U0001F600", "alice", "../etc", "-"]
    taken: set = set()
    ids = []
    for name in names:
        ids.append(pipeline.student_id(name, taken))
        taken.add(ids[-1])
    assert len(set(ids)) == len(ids) and ids[4] == "alice"
    for sid in ids:
        assert sid and len(sid) <= pipeline.ID_LENGTH + 17 and "/" not in sid and not sid.startswith(".")
        assert sid == sid.encode("ascii", "ignore").decode()


def test_links_are_refused_and_timestamps_validated(tmp_path):
    sub = tmp_path / "sub"
    good = nbformat.v4.new_notebook()
    for student, stamp in (("ann", "2026-11-01 10:00:00"), ("bob", "yesterday"), ("cid", "2300-01-01 00:00:00")):
        (sub / student / "T1").mkdir(parents=True)
        nbformat.write(good, sub / student / "T1" / "T1.ipynb")
        (sub / student / "T1" / "timestamp.txt").write_text(stamp)
    (sub / "dan" / "T1").mkdir(parents=True)
    os.symlink(sub / "ann" / "T1" / "T1.ipynb", sub / "dan" / "T1" / "T1.ipynb")
    os.symlink(sub / "ann", sub / "eve")
    found = {s.student: s for s in pipeline.find_submissions(str(sub), "T1")}
    assert found["ann"].timestamp.startswith("2026-11-01") and not found["ann"].notes
    assert not found["bob"].timestamp and "not a time" in found["bob"].notes[0]
    assert not found["cid"].timestamp and "impossible time" in found["cid"].notes[0]
    assert not found["dan"].path and "symbolic link" in found["dan"].notes[0]
    assert not found["eve"].path and "symbolic link" in found["eve"].notes[0]
    with pytest.raises(OSError):
        pipeline.read_bounded(str(sub / "dan" / "T1" / "T1.ipynb"), 1000)


def test_unusable_files_are_graded_as_blank_with_a_reason():
    release = tiny_notebook("# YOUR CODE HERE\nraise NotImplementedError()")
    other = nbformat.v4.new_notebook()
    other.cells = [nbformat.v4.new_code_cell("x")]
    other.cells[0].metadata["nbgrader"] = {"grade_id": "elsewhere"}
    known = {"T1": pipeline._grade_ids(release), "T2": {"elsewhere"}}
    assert "invalid notebook" in pipeline.inspect_submission(b"\x00{", release, "T1", known)[1][0]
    assert "notebook of assignment T2" in pipeline.inspect_submission(
        nbformat.writes(other).encode(), release, "T1", known)[1][0]
    text, notes = pipeline.inspect_submission(nbformat.writes(tiny_notebook()).encode(), release, "T1", known)
    assert not notes and "square_forward" in text


# ---------------------------------------------------------------------------
# similarity and reasons
# ---------------------------------------------------------------------------
def test_similarity_flags_pasted_library_code_and_copies_but_not_independent_work():
    import inspect

    from coursekit import functional

    pasted = inspect.getsource(functional.linear_forward) + inspect.getsource(functional.linear_backward)
    own_a = SOLUTION
    own_b = ("def square_forward(values):\n    result = values * values\n    return result, values\n\n\n"
             "def square_backward(upstream, saved):\n    local = saved + saved\n    return local * upstream\n")
    best, _ = similarity.compare({"ann": pasted, "bob": own_a, "cid": own_b}, "", similarity.reference_files(("data",)))
    assert similarity.flag(best.get("ann")).startswith("review:") and "coursekit/functional.py" in best["ann"][1]
    assert similarity.flag(best.get("cid")) == ""


def test_reasons_name_the_cell_and_what_happened():
    result = {"notes": ["renamed notebook 'x.ipynb' graded as T1.ipynb"], "report": {
        "isolation": "user", "cell_names": {"5": "relu_solution"},
        "events": ["cell 5: ran longer than 3 s and could not be interrupted"],
        "cell_errors": [{"cell": 7, "error": "ModuleNotFoundError: No module named 'coursekit.functional'"}],
        "parts": {"relu_visible": {"passed": False, "problems": []}}}}
    text = "; ".join(export.reasons(result))
    assert "cell 5 (relu_solution): ran longer than 3 s" in text
    assert "uses coursekit's reference implementation (coursekit.functional" in text
    assert text.startswith("renamed notebook") and "failed checks: relu_visible" in text


def test_every_assignment_checks_file_imports_no_reference_module():
    for name in source.names(os.path.join(ROOT, "solutions")):
        path = os.path.join(ROOT, "solutions", name, "checks.py")
        imported = driver.sandbox.coursekit_imports(path)
        assert imported <= {"grading"}, f"{name}/checks.py imports coursekit.{imported - {'grading'}}"


def test_the_expected_outputs_file_belongs_to_its_checks(tmp_path, tiny):
    src, settings = tiny
    outputs = grader.expected_outputs(src, settings)
    path = str(tmp_path / "visible_expected.npz")
    local.write_expected(path, {"square_visible": outputs["square_visible"]}, "abc")
    read = local.read_expected(path)
    assert read["digest"] == "abc" and set(read["checks"]) == {"square_visible"}
    np.testing.assert_array_equal(read["checks"]["square_visible"][0]["dx"], outputs["square_visible"][0]["dx"])
