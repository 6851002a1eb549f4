import sys

from connector.cli import command

sys.exit(command())
