"""Durable engines that run fal jobs: ``connector.integrations.temporal``, ``connector.integrations.celery``."""
