"""nexla_sandbox: a stateful emulator of the Nexla REST API, served over real HTTP.

    from nexla_sandbox import start_sandbox
    with start_sandbox(seed="demo") as sb:
        client = NexlaClient(service_key=sb.service_key, base_url=sb.url)

See README.md in this package for the CLI, the control API and the demo seed ids.
"""

from .control import ControlClient
from .server import Sandbox, start_sandbox

__all__ = ["ControlClient", "Sandbox", "start_sandbox"]
