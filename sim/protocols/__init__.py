"""Protocols: who computes what, and when. Plain SimPy processes (parameter server, shared memory, synchronous
rounds) that decide when reads and updates happen and leave the math to sim.run.Run."""
