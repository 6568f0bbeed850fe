"""Fixtures shared by test modules (defined in their own modules, named here for pytest)."""
import pytest

from class_grading import graded_class

__all__ = ["graded_class"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Fail loudly if `--dist loadgroup` does not group: the suite would run its costliest setups twice."""
    if not getattr(config.option, "loadgroup", False):  # set on pytest-xdist workers under loadgroup
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist's --dist loadgroup did not group {len(lost)} tests (e.g. {lost[0]}): with this "
            "pytest the book would be built and the sample class graded once per worker. pytest 9.2 breaks it "
            "(pytest-xdist issue #1386); pyproject.toml pins pytest<9.2.")
