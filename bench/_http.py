"""The benchmarks' HTTP/1.1 client on raw asyncio streams: little enough CPU per request that the
client does not cap the server it measures."""
from __future__ import annotations


async def exchange(reader, writer, request: bytes) -> tuple[int, bool]:
    """Send a request and read the whole answer: (status, whether the server closes the connection).
    Raises ``ValueError`` on an answer without ``Content-Length``."""
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length, close = None, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if length is None:
        raise ValueError("answer without Content-Length")
    await reader.readexactly(length)
    return status, close
