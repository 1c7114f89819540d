#!/usr/bin/python3
"""A Modbus TCP server written with python3-pymodbus (a peer not written by us), holding known
values in the layout of config/profiles/flow-bench.yaml, for test_pymodbus_interop.sh.

Usage: pymodbus_server.py PORTFILE
Binds 127.0.0.1 on a free port, writes the port to PORTFILE, serves until killed.
Also answers on stdin-less runs; writes the holding registers to PORTFILE.regs on SIGUSR1.
"""
import signal
import socket
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartTcpServer


def words_abcd(fmt, value):
    raw = struct.pack('>' + fmt, value)
    return [int.from_bytes(raw[i:i + 2], 'big') for i in range(0, len(raw), 2)]


def main():
    portfile = sys.argv[1]
    ir = [0] * 200
    ir[0:2] = words_abcd('f', 2.45)           # flow.actual
    ir[2:6] = words_abcd('d', 100.125)        # ref.volume
    ir[6:8] = words_abcd('f', 99.5)           # ref.mass
    ir[8] = struct.unpack('>H', struct.pack('>h', 2034))[0]   # water.temp 20.34
    ir[9] = 3005                              # water.pressure 300.5 kPa
    ir[10] = 0b10                             # status: collecting
    for k in range(1, 11):                    # pos[k].volume u32 CDAB, 1 mL per count
        counts = k * 1000 + 1
        hi, lo = counts >> 16, counts & 0xFFFF
        ir[100 + 2 * (k - 1)] = lo
        ir[101 + 2 * (k - 1)] = hi
    hr = [0] * 200
    store = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [0] * 100),
        co=ModbusSequentialDataBlock(0, [0] * 100),
        hr=ModbusSequentialDataBlock(0, hr),
        ir=ModbusSequentialDataBlock(0, ir),
        zero_mode=True)
    context = ModbusServerContext(slaves=store, single=True)

    def dump(_signum, _frame):
        with open(portfile + '.regs', 'w') as f:
            f.write(' '.join(str(v) for v in store.getValues(3, 0, 2)) + '\n')
            f.write(' '.join(str(int(v)) for v in store.getValues(1, 0, 3)) + '\n')
    signal.signal(signal.SIGUSR1, dump)

    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(port))
    import os
    os.rename(portfile + '.tmp', portfile)
    StartTcpServer(context=context, address=('127.0.0.1', port))


if __name__ == '__main__':
    main()
