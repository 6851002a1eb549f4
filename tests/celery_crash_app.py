"""The Celery app that test_celery_integration's crash test runs as a real worker process:
``celery -A celery_crash_app worker``, with CELERY_BROKER_URL, FAL_* and the broker transport
options (JSON in CELERY_BROKER_TRANSPORT_OPTIONS) from the environment.
"""

from __future__ import annotations

import json
import os

from connector.integrations.celery import FalTasks
from connector.integrations.celery_testing import celery_app

app = celery_app(os.environ["CELERY_BROKER_URL"])
app.conf.broker_transport_options = json.loads(os.environ["CELERY_BROKER_TRANSPORT_OPTIONS"])
fal = FalTasks(app, poll_interval=0.3)
