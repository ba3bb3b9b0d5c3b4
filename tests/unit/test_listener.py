"""The server's listener: every waiting connection is let in when it wakes (listener.py)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from visiongate.listener import AcceptingServer, GatewayLoop

BURST = 64


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    with asyncio.Runner(loop_factory=GatewayLoop) as runner:
        return runner.run(main())


class Echo(asyncio.Protocol):
    made: list[Echo]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def protocol_factory() -> tuple[list[Echo], Callable[[], Echo]]:
    made: list[Echo] = []

    def build() -> Echo:
        protocol = Echo()
        protocol.made = made
        return protocol

    return made, build


def listening(backlog: int = 128) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


async def echo_server(backlog: int) -> tuple[list[Echo], asyncio.AbstractServer, int]:
    """An echo server on the running loop's ``create_server`` with a socket handed in:
    the protocols it made so far, the server, and its port."""
    made, build = protocol_factory()
    sock = listening(backlog)
    server = await asyncio.get_running_loop().create_server(build, sock=sock, backlog=backlog)
    return made, server, sock.getsockname()[1]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


async def turns_until(done: Callable[[], bool], limit: int = 1000) -> int:
    """How many turns of the event loop pass before ``done()`` holds."""
    turns = 0
    while not done() and turns < limit:
        await asyncio.sleep(0)  # exactly one turn: the task is resumed in the next one
        turns += 1
    return turns


def test_a_burst_of_waiting_connections_is_let_in_within_a_few_turns() -> None:
    """uvloop's own listener takes one connection per turn (64 turns for this burst)."""

    async def main() -> tuple[int, int, type]:
        made, server, port = await echo_server(128)
        # The kernel completes each handshake and queues it; the loop has not run yet.
        clients = [connect(port) for _ in range(BURST)]
        turns = await turns_until(lambda: len(made) == BURST)
        count = len(made)
        server.close()
        for client in clients:
            client.close()
        return turns, count, type(server)

    turns, count, kind = run(main)
    assert kind is AcceptingServer
    assert count == BURST
    assert turns <= 4  # accept all, set each up, connection_made


def test_accepted_connections_carry_data_with_nodelay() -> None:
    async def main() -> tuple[list[bytes], list[int]]:
        loop = asyncio.get_running_loop()
        made, server, port = await echo_server(16)
        clients = [connect(port) for _ in range(3)]
        await turns_until(lambda: len(made) == 3)
        answers = []
        for index, client in enumerate(clients):
            client.sendall(b"ping %d" % index)
            answers.append(await loop.run_in_executor(None, client.recv, 64))
        nodelay = [
            p.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            for p in made
        ]
        server.close()
        for client in clients:
            client.close()
        return answers, nodelay

    answers, nodelay = run(main)
    assert answers == [b"ping 0", b"ping 1", b"ping 2"]
    assert all(nodelay)


def test_close_stops_accepting_and_keeps_the_connections_made() -> None:
    async def main() -> tuple[bool, bool, bytes]:
        loop = asyncio.get_running_loop()
        made, server, port = await echo_server(16)
        client = connect(port)
        await turns_until(lambda: len(made) == 1)
        server.close()
        await server.wait_closed()
        refused = False
        try:
            connect(port).close()
        except ConnectionRefusedError:
            refused = True
        client.sendall(b"still here")
        answer = await loop.run_in_executor(None, client.recv, 64)
        client.close()
        return server.is_serving(), refused, answer

    serving, refused, answer = run(main)
    assert not serving
    assert refused
    assert answer == b"still here"


class OutOfDescriptors(socket.socket):
    """A listening socket whose first accept fails as if the process had no fd left."""

    failures = 1

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_running_out_of_descriptors_pauses_accepting_then_resumes() -> None:
    async def main() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        made, build = protocol_factory()
        sock = OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        server = AcceptingServer(loop, build, sock, batch=16, pause_s=0.05)
        client = connect(sock.getsockname()[1])
        await turns_until(lambda: sock.failures == 0)
        paused = not server.is_serving()
        for _ in range(200):  # bounded: the pause is 50 ms
            if made:
                break
            await asyncio.sleep(0.01)
        server.close()
        client.close()
        return paused, len(made)

    paused, count = run(main)
    assert paused
    assert count == 1  # the connection that waited is let in after the pause


@pytest.mark.parametrize("how", ["host and port", "unix socket"])
def test_other_servers_are_uvloops_own(how: str, tmp_path: Any) -> None:
    async def main() -> tuple[type, bytes]:
        loop = asyncio.get_running_loop()
        _, build = protocol_factory()
        if how == "host and port":
            server = await loop.create_server(build, host="127.0.0.1", port=0)
            address = server.sockets[0].getsockname()
            family = socket.AF_INET
        else:
            address = str(tmp_path / "s.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(address)
            server = await loop.create_server(build, sock=listener)
            family = socket.AF_UNIX
        client = socket.socket(family, socket.SOCK_STREAM)
        client.settimeout(5)
        client.connect(address)
        client.sendall(b"hello")
        answer = await loop.run_in_executor(None, client.recv, 64)
        client.close()
        server.close()
        return type(server), answer

    kind, answer = run(main)
    assert kind is not AcceptingServer
    assert answer == b"hello"
