#!/usr/bin/env python3
"""A TCP relay that adds a fixed delay to the client-to-server direction: the stand-in for
`tc qdisc add dev VETH root netem delay 20ms` where the kernel has no netem
(scripts/bench-ssh.sh). Each chunk read from the client is written to the server DELAY
later, in order; the server's replies pass at once, so every round trip costs DELAY more,
as netem on the host side of a machine's veth (packets towards the machine) would.

Usage: bench-delay-relay.py DELAY_MS LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT [...]
(repeat the last four for more relays in one process). Runs until killed.
"""

import asyncio
import sys


async def delayed_pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the server's replies still come back

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data))
            if not data:
                break
    except (ConnectionError, OSError):
        await queue.put((loop.time(), b""))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def handler(target_host, target_port, delay):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            delayed_pump(client_reader, server_writer, delay),
            pump(server_reader, client_writer),
        )

    return handle


async def main(argv):
    delay = float(argv[0]) / 1000
    specs = argv[1:]
    if not specs or len(specs) % 4:
        sys.exit(__doc__)
    servers = []
    for i in range(0, len(specs), 4):
        lhost, lport, thost, tport = specs[i : i + 4]
        servers.append(
            await asyncio.start_server(handler(thost, int(tport), delay), lhost, int(lport))
        )
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
