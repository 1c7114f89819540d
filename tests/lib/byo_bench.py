#!/usr/bin/python3
"""A lab's own water-meter flow bench: a PLC served by python3-pymodbus whose register map and
behaviour differ from metrosim's everywhere, driven by metrod through a profile alone
(config/profiles/examples/plc-flow-bench.yaml).  For tests/integration/test_byo_rig.sh.

Usage: byo_bench.py [--time-scale X] [--positions N] [--meter POS=ERROR_PCT ...]
                    [--rtu PTY] [--remote-delay SECONDS] [--display-file PATH]

--display-file: what each meter's own display shows, as a person would read it, rewritten as
JSON {"POS": "m3 with 5 decimals", ...} whenever the PLC's state advances: the meters turn
whenever water flows (the diverter is after them), from a starting value of their own.

Binds 127.0.0.1 on a free port (or serves Modbus RTU on the pty PTY, 19200 8N1); once it
serves, the first line of stdout is "listening 127.0.0.1:PORT" (or "listening PTY").  Serves
until killed.  Unit id 17; requests for any other unit id get no reply at all.

Behaviour a profile has to describe:
  - Remote control: the PLC takes writes to the setpoint, the pump, the diverter and the
    command word only while coil 40 (remote enable) is on and the remote bit of the status
    word has risen, --remote-delay seconds (real, default 0.3) after the enable.  Before that
    a write is acknowledged and ignored (its read-back shows the old value).  Remote control
    stays on until coil 40 is turned off; the PLC forgets it when it restarts.
  - Totals reset: bit 0 of the command word (holding 210) zeroes the tank and every meter and
    is cleared by the PLC itself on its next scan (the bit reads 0 once the reset is done).

The map (floats and 32-bit counters low word first, "CDAB"):
  holding 200      flow.setpoint    u16, 0.001 m3/h per count
  holding 210      command word     bit 0 totals reset (self-clearing)
  coil 32          flow.run         pump on: the flow follows the setpoint (tau 0.8 s)
  coil 33          collect          diverter to the tank and gate of the meters' counters
  coil 40          remote.enable
  input 500-501    flow.actual      f32 m3/h
  input 502-503    ref.volume       f32 L, the flow's integral while collect is on
  input 504        water.temp       i16, 0.1 degC (21.5)
  input 505        water.pressure   u16, kPa (350)
  input 506        status           bit 0 fault, bit 2 collecting, bit 4 remote control on
  input 520-527    model            16 ASCII characters, bytes swapped in each register
  input 1000+4(N-1) position N's block: volume u32 CDAB (1 mL per count), status u16
                   (bit 0: a meter is there), a spare register
"""
import argparse
import asyncio
import json
import math
import os
import struct
import sys
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer

UNIT = 17
TAU_S = 0.8
MAX_FLOW = 16.0
MODEL = 'PLC-FB7 rev 2'
BLOCK = 1000
COIL_RUN, COIL_COLLECT, COIL_REMOTE = 32, 33, 40


def cdab(fmt, value):
    """The registers of a 32-bit value, low word first."""
    raw = struct.pack('>' + fmt, value)
    return [int.from_bytes(raw[2:4], 'big'), int.from_bytes(raw[0:2], 'big')]


class Plc(ModbusSlaveContext):
    def __init__(self, scale, positions, errors, remote_delay, display_file=None):
        super().__init__(di=ModbusSequentialDataBlock(0, [0] * 8),
                         co=ModbusSequentialDataBlock(0, [0] * 64),
                         hr=ModbusSequentialDataBlock(0, [0] * 256),
                         ir=ModbusSequentialDataBlock(0, [0] * (BLOCK + 4 * positions)),
                         zero_mode=True)
        self.scale = scale
        self.errors = errors
        self.positions = positions
        self.remote_delay = remote_delay
        self.remote_since = None            # real time the enable was seen
        self.t = self.now()
        self.flow = 0.0
        self.ref = 0.0
        self.indicated = [0.0] * positions
        self.run = self.collect = False
        self.setpoint = 0                   # counts of 0.001 m3/h
        self.ignored = 0                    # writes refused for want of remote control
        self.display_file = display_file
        self.display = {p: 100.0 + 7.3 * p for p in errors}   # m3 on each meter's display
        self.write_display()

    def now(self):
        return time.monotonic() * self.scale

    def remote(self):
        return self.remote_since is not None and \
            time.monotonic() - self.remote_since >= self.remote_delay

    def advance(self):
        t = self.now()
        dt, self.t = t - self.t, t
        if dt <= 0:
            return
        target = min(self.setpoint / 1000.0, MAX_FLOW) if self.run else 0.0
        decay = math.exp(-dt / TAU_S)
        area = target * dt + (self.flow - target) * TAU_S * (1 - decay)
        self.flow = target + (self.flow - target) * decay
        for p in self.display:
            self.display[p] += area / 3600 * (1 + self.errors[p] / 100)
        if area:
            self.write_display()
        if self.collect:
            litres = area / 3.6
            self.ref += litres
            for i in range(self.positions):
                if self.errors.get(i + 1) is not None:
                    self.indicated[i] += litres * (1 + self.errors[i + 1] / 100)

    def write_display(self):
        if not self.display_file:
            return
        tmp = self.display_file + '.tmp'
        with open(tmp, 'w') as f:
            json.dump({str(p): '%.5f' % (math.floor(v * 1e5) / 1e5)
                       for p, v in self.display.items()}, f)
        os.replace(tmp, self.display_file)

    def show(self):
        status = (4 if self.collect else 0) | (16 if self.remote() else 0)
        head = cdab('f', self.flow) + cdab('f', self.ref) + [215, 350, status]
        super().setValues(4, 500, head)
        name = MODEL.ljust(16, '\0').encode('ascii')
        super().setValues(4, 520, [name[i] | name[i + 1] << 8 for i in range(0, 16, 2)])
        for i, v in enumerate(self.indicated):
            count = math.floor(v * 1000 + 1e-9) % 2**32
            present = 1 if self.errors.get(i + 1) is not None else 0
            super().setValues(4, BLOCK + 4 * i, [count & 0xFFFF, count >> 16, present, 0])
        super().setValues(1, COIL_RUN, [self.run, self.collect])
        super().setValues(3, 200, [self.setpoint])

    def getValues(self, fc_as_hex, address, count=1):
        self.advance()
        self.show()
        return super().getValues(fc_as_hex, address, count)

    def setValues(self, fc_as_hex, address, values):
        self.advance()
        kind = self.decode(fc_as_hex)
        if kind == 'c':
            for k, v in enumerate(values):
                if address + k == COIL_REMOTE:
                    if v and self.remote_since is None:
                        self.remote_since = time.monotonic()
                    elif not v:
                        self.remote_since = None
            super().setValues(fc_as_hex, COIL_REMOTE, [self.remote_since is not None])
        touches = (kind == 'c' and any(a in (COIL_RUN, COIL_COLLECT)
                                       for a in range(address, address + len(values)))) \
            or kind == 'h'
        if touches and not self.remote():
            self.ignored += 1
            print(f'ignored write {kind} {address} {list(values)}: no remote control',
                  file=sys.stderr, flush=True)
            return
        for k, v in enumerate(values):
            a = address + k
            if kind == 'c' and a == COIL_RUN:
                self.run = bool(v)
            elif kind == 'c' and a == COIL_COLLECT:
                self.collect = bool(v)
            elif kind == 'h' and a == 200:
                self.setpoint = int(v)
            elif kind == 'h' and a == 210 and int(v) & 1:
                # the reset happens in this scan; the bit is cleared by the PLC
                self.ref = 0.0
                self.indicated = [0.0] * self.positions
        # holding 210 always reads 0 again: the command has been taken
        super().setValues(3, 210, [0])


async def serve(plc, rtu):
    ctx = ModbusServerContext(slaves={UNIT: plc}, single=False)
    if rtu:
        server = ModbusSerialServer(ctx, framer=ModbusRtuFramer, port=rtu, baudrate=19200,
                                    bytesize=8, parity='N', stopbits=1,
                                    ignore_missing_slaves=True)
        task = asyncio.create_task(server.start())
        for _ in range(100):
            if server.transport is not None:
                break
            await asyncio.sleep(0.05)
        print(f'listening {rtu}', flush=True)
        await task
        await asyncio.Event().wait()
        return
    server = ModbusTcpServer(ctx, address=('127.0.0.1', 0), ignore_missing_slaves=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(f'listening 127.0.0.1:{port}', flush=True)
    await task


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--time-scale', type=float, default=1.0)
    ap.add_argument('--positions', type=int, default=6)
    ap.add_argument('--meter', action='append', default=[], metavar='POS=ERROR_PCT')
    ap.add_argument('--rtu', metavar='PTY')
    ap.add_argument('--remote-delay', type=float, default=0.3, metavar='SECONDS')
    ap.add_argument('--display-file', metavar='PATH')
    a = ap.parse_args()
    errors = {}
    for m in a.meter:
        pos, err = m.split('=')
        if not 1 <= int(pos) <= a.positions:
            sys.exit(f'--meter {m}: no position {pos}')
        errors[int(pos)] = float(err)
    asyncio.run(serve(Plc(a.time_scale, a.positions, errors, a.remote_delay, a.display_file),
                      a.rtu))


if __name__ == '__main__':
    main()
