"""Devices: registering and activating them, their lifecycle at the acquirer, and the anti-switching
rules the device API enforces. The one way the CLI, the console, the demo and the tests do it; the SQL is
storage's (server/storage/devices.py).

- activation.py: keys. `register_device` makes the key at once (printed for a provisioning script), or
  `register_device(..., activation=True)` leaves the device `pending` and `issue_activation_code` prints a
  12-digit one-time code that the device trades for its key (`activate`).
- lifecycle.py: in_stock -> assigned (to a merchant and store) -> installed, swaps, decommissioning, flags
  cleared, inspections; each step conditional on the state it leaves and recorded with who did it.
- anti_switching.py: `check_identity` on every signed request: cloned keys and devices moved away from their
  store are flagged, and refused until an operator clears the flag.
- inventory.py: what the console shows of them.
"""
from __future__ import annotations

from .activation import (  # noqa: F401  (re-exported: what callers use, from server.devices)
    ActivationRefused, activate, check_activation_code, hash_activation_code, issue_activation_code, register_device,
)
from .anti_switching import DeviceFlagged, check_identity, parse_place, raise_flag  # noqa: F401
from .inventory import (  # noqa: F401
    DeviceView, flags, history, inspections, list_devices, merchants, places, stores, visible_device,
)
from .lifecycle import (  # noqa: F401
    INSPECTION_RESULTS, LIFECYCLES, LifecycleRefused, add_inspection, assign, clear_flag, decommission, install,
    return_to_stock, swap,
)
