"""The built-in behaviour, registered exactly like third-party plugins (all ``trylast``)."""
