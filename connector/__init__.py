"""fal-connector: fal.ai's generative models as declared, JSON-Schema-typed actions.

    from connector import Connector
    out = Connector().run("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": "…"})
"""

from connector.errors import ActionError, InvalidInputError
from connector.hookspecs import hookimpl
from connector.models import Action, ActionSpec
from connector.runner import Connector

__version__ = "0.1.0"
__all__ = ["Action", "ActionError", "ActionSpec", "Connector", "InvalidInputError", "hookimpl", "__version__"]
