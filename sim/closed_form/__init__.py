"""Closed-form schedules: the SimPy engine's runs computed without its event loop, bit for bit, where no worker
ever waits (con: AsySG-con without a bound or server time)."""
