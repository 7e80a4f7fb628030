import sys

from exporter.cli import entry

sys.exit(entry())
