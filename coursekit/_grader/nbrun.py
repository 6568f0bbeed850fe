"""Execute a notebook inside the sandbox (client and kernel both in it), for feedback.

``python -I -m coursekit._grader.nbrun IN OUT CELL_TIMEOUT MAX_OUTPUT_BYTES``

The executed notebook gives the student their outputs and in-notebook test
messages in the feedback; it does not decide the grade (the verifier does).
A cell that runs past ``CELL_TIMEOUT`` or a kernel that dies stops the run:
that cell gets an error output saying so and the later cells are left
unexecuted.  Outputs beyond ``MAX_OUTPUT_BYTES`` per cell are dropped with a
note, so a cell printing gigabytes cannot exhaust memory or disk.
"""
from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError


def _error_output(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class LimitedClient(NotebookClient):
    """A NotebookClient that stops storing a cell's outputs past a byte budget."""

    max_output_bytes = 1_000_000

    def output(self, outs, msg, display_id, cell_index):
        used = self.__dict__.setdefault("_bytes_used", {})
        used[cell_index] = used.get(cell_index, 0) + len(str(msg.get("content", "")))
        if used[cell_index] <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        noted = self.__dict__.setdefault("_truncated", set())
        if cell_index not in noted:
            noted.add(cell_index)
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[output truncated: more than {self.max_output_bytes} bytes]\n"))
        return None


def main(argv=None) -> int:
    src, dst, cell_timeout, max_bytes = (argv or sys.argv[1:])[:4]
    nb = nbformat.read(src, as_version=4)
    client = LimitedClient(nb, timeout=float(cell_timeout), allow_errors=True,
                           kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": "."}})
    client.max_output_bytes = int(max_bytes)
    status = "ok"
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    cell.outputs.append(_error_output(
                        "TimeoutError", f"this cell ran longer than {cell_timeout} s and was stopped"))
                    status = "cell time limit"
                    break
                except DeadKernelError:
                    cell.outputs.append(_error_output(
                        "DeadKernelError", "the kernel died while running this cell"))
                    status = "kernel died"
                    break
    except Exception as exc:  # noqa: BLE001 - whatever happened, save what we have
        status = f"execution error: {type(exc).__name__}: {exc}"[:300]
    nb.metadata["coursekit_run"] = {"status": status}
    nbformat.write(nb, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
