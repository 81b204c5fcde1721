"""A transparent stdio tap for testing stdio servers.

    python -m tests.support.stdio_tap OUTFILE ERRFILE -- COMMAND [ARGS...]

Runs COMMAND, forwards our stdin to it and its stdout to ours byte-for-byte, appends each stdout
line to OUTFILE and its stderr to ERRFILE (both flushed as they arrive, so nothing is lost if the
tap is killed), and ends the child when our stdin closes (SIGTERM after a grace period) or when
we receive SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream, Process

GRACE_SECONDS = 5.0
CHUNK = 65536


async def _pump_stdin(process: Process) -> None:
    assert process.stdin is not None
    try:
        # A worker thread reads fd 0; abandoning it on cancel lets a child's early exit end the wait.
        while chunk := await anyio.to_thread.run_sync(os.read, 0, CHUNK, abandon_on_cancel=True):
            await process.stdin.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the child has gone
    await process.stdin.aclose()  # EOF: the child should now exit on its own


async def _pump_out(stream: ByteReceiveStream, sink: BinaryIO | None, record: Path, by_line: bool) -> None:
    with record.open("ab") as log:
        pending = b""
        async for chunk in stream:
            if sink is not None:
                sink.write(chunk)
                sink.flush()
            if by_line:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    log.write(line + b"\n")
            else:
                log.write(chunk)
            log.flush()
        if pending:
            log.write(pending)


async def _end_on_signal(process: Process) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            process.terminate()
            return


async def run(out_file: Path, err_file: Path, command: list[str]) -> int:
    process = await anyio.open_process(command)
    async with process, anyio.create_task_group() as outer:
        assert process.stdout is not None and process.stderr is not None
        outer.start_soon(_end_on_signal, process)
        with anyio.CancelScope() as drain:
            async with anyio.create_task_group() as pumps:
                pumps.start_soon(_pump_out, process.stdout, sys.stdout.buffer, out_file, True)
                pumps.start_soon(_pump_out, process.stderr, sys.stderr.buffer, err_file, False)
                with anyio.move_on_after(None) as feeding:
                    pumps.start_soon(_watch_exit, process, feeding)
                    await _pump_stdin(process)
                with anyio.move_on_after(GRACE_SECONDS):
                    await process.wait()
                if process.returncode is None:
                    process.terminate()
                code = await process.wait()
                drain.deadline = anyio.current_time() + GRACE_SECONDS  # the pumps end at the pipes' EOF
        outer.cancel_scope.cancel()
    return code


async def _watch_exit(process: Process, feeding: anyio.CancelScope) -> None:
    """If the child exits first, stop waiting for our stdin."""
    await process.wait()
    feeding.cancel()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    return anyio.run(run, Path(argv[0]), Path(argv[1]), argv[3:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
