#!/usr/bin/python3
"""A water-meter flow bench served by python3-pymodbus: a device not written with metrod's code
(no metrosim, no codec of ours), with the register map of config/profiles/flow-bench.yaml.
For tests/integration/test_plausibility.sh.

Usage: pymodbus_bench.py [--time-scale X] [--positions N] [--meter POS=ERROR_PCT ...]
                         [--late-collect SECONDS]

--late-collect: a write that turns collect on takes effect at once but its reply leaves SECONDS
(real) later, as a slow or congested line would deliver it (the whole device waits meanwhile).

Binds 127.0.0.1 on a free port; once it accepts connections the first line of stdout is
"listening 127.0.0.1:PORT".  Serves until killed.

The device (words high first, "ABCD", except the meter counters, low word first):
  holding 0-1   flow.setpoint   f32 m3/h
  coil 0        flow.run        pump on: the flow follows the setpoint (first-order lag, tau 1 s)
  coil 1        collect         diverter into the tank and pulse gate of the meters
  coil 2        totals.reset    rising edge: the tank and every meter count to 0
  input 0-1     flow.actual     f32 m3/h
  input 2-5     ref.volume      f64 L, the flow's integral while collect is on
  input 6-7     ref.mass        f32 kg (the volume at 0.99820 kg/L, water at 20 degC)
  input 8       water.temp      i16, 0.01 degC (20.00)
  input 9       water.pressure  u16, 0.1 kPa (300.0)
  input 10      status          bit 0 setpoint out of range (0..10 m3/h), bit 1 collecting
  input 20-27   model           16 ASCII characters
  input 100+2(N-1)  pos[N].volume  u32 low word first, 1 mL per count: the volume through the
                meter while collect is on, times (1 + error/100); whole counts are shown
Positions without --meter are empty (their count stays 0).

Time: the bench's clock is the monotonic clock times --time-scale, and its state is brought up
to date whenever a request reads or writes it, integrating the flow exactly over the interval,
so the answer does not depend on how often it is asked.
"""
import argparse
import asyncio
import math
import struct
import sys
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusTcpServer

TAU_S = 1.0          # the pump's response, seconds of bench time
MAX_FLOW = 10.0      # m3/h
DENSITY = 0.99820    # kg/L at 20 degC
MODEL = 'PyBench WM-6'


def words(fmt, value):
    """The registers of a value packed big-endian (ABCD)."""
    raw = struct.pack('>' + fmt, value)
    return [int.from_bytes(raw[i:i + 2], 'big') for i in range(0, len(raw), 2)]


class Bench(ModbusSlaveContext):
    def __init__(self, scale, positions, errors, late_collect=0.0):
        super().__init__(di=ModbusSequentialDataBlock(0, [0] * 16),
                         co=ModbusSequentialDataBlock(0, [0] * 16),
                         hr=ModbusSequentialDataBlock(0, [0] * 16),
                         ir=ModbusSequentialDataBlock(0, [0] * (100 + 2 * positions)),
                         zero_mode=True)
        self.scale = scale
        self.errors = errors                 # position -> error %, or None: empty
        self.positions = positions
        self.t = self.now()
        self.flow = 0.0                      # m3/h
        self.ref = 0.0                       # L
        self.indicated = [0.0] * positions   # L, per position
        self.coils = [False, False, False]   # flow.run, collect, totals.reset
        self.late_collect = late_collect     # s (real) the reply to collect on is held

    def now(self):
        return time.monotonic() * self.scale

    def setpoint(self):
        sp = struct.unpack('>f', struct.pack('>HH', *super().getValues(3, 0, 2)))[0]
        return sp if math.isfinite(sp) else None

    def advance(self):
        """Bring the flow and the volumes to the present instant."""
        t = self.now()
        dt, self.t = t - self.t, t
        if dt <= 0:
            return
        sp = self.setpoint()
        target = min(max(sp, 0.0), MAX_FLOW) if self.coils[0] and sp is not None else 0.0
        decay = math.exp(-dt / TAU_S)
        # the integral of target + (flow - target) e^(-s/tau) over the interval, m3/h x s
        area = target * dt + (self.flow - target) * TAU_S * (1 - decay)
        self.flow = target + (self.flow - target) * decay
        if self.coils[1]:
            litres = area / 3.6
            self.ref += litres
            for i in range(self.positions):
                if self.errors.get(i + 1) is not None:
                    self.indicated[i] += litres * (1 + self.errors[i + 1] / 100)

    def show(self):
        """Write the state into the input registers."""
        sp = self.setpoint()
        status = (1 if self.coils[0] and (sp is None or not 0 <= sp <= MAX_FLOW) else 0) \
            | (2 if self.coils[1] else 0)
        ir = (words('f', self.flow) + words('d', self.ref) + words('f', self.ref * DENSITY)
              + [2000, 3000, status] + [0] * 9
              + [int.from_bytes(MODEL.ljust(16, '\0')[i:i + 2].encode('ascii'), 'big')
                 for i in range(0, 16, 2)])
        ir += [0] * (100 - len(ir))
        for v in self.indicated:
            count = math.floor(v * 1000) % 2**32
            ir += [count & 0xFFFF, count >> 16]          # low word first
        super().setValues(4, 0, ir)

    def getValues(self, fc_as_hex, address, count=1):
        self.advance()
        self.show()
        return super().getValues(fc_as_hex, address, count)

    def setValues(self, fc_as_hex, address, values):
        self.advance()
        super().setValues(fc_as_hex, address, values)
        if self.decode(fc_as_hex) != 'c':
            return
        coils = [bool(v) for v in super().getValues(1, 0, 3)]
        if coils[2] and not self.coils[2]:
            self.ref = 0.0
            self.indicated = [0.0] * self.positions
        collect_on = coils[1] and not self.coils[1]
        self.coils = coils
        if collect_on and self.late_collect > 0:
            time.sleep(self.late_collect)    # the reply is held; the diverter has moved


async def serve(bench):
    server = ModbusTcpServer(ModbusServerContext(slaves=bench, single=True),
                             address=('127.0.0.1', 0))
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
    ap.add_argument('--late-collect', type=float, default=0.0, metavar='SECONDS')
    a = ap.parse_args()
    errors = {}
    for m in a.meter:
        pos, err = m.split('=')
        if not 1 <= int(pos) <= a.positions:
            sys.exit(f'--meter {m}: no position {pos}')
        errors[int(pos)] = float(err)
    asyncio.run(serve(Bench(a.time_scale, a.positions, errors, a.late_collect)))


if __name__ == '__main__':
    main()
